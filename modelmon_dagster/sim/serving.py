"""The simulated model server: which version answers each request, and what it answers.

Versions come from a :class:`~modelmon_dagster.registry.serving.ServingPlan` (the registry's
champion over time). A span whose artifact is ``builtin:<name>`` is served by the simulated
world's own coefficients (:meth:`Process.predict`); any other artifact is a model saved by the
retrain job, loaded once and asked to predict on the features *as logged* (optional keys absent
become missing values), as a real server would. Requests before the first span are served by
the config's baseline version.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.registry.serving import ServedSpan, ServingPlan
from modelmon_dagster.sim.processes import FeatureFrame, Process
from modelmon_dagster.sim.scenarios import to_us
from modelmon_dagster.training.artifacts import BUILTIN_SCHEME, LoadedModel, load_model


class SimulatedServer:
    """Answers simulated requests with the version the plan says was serving at their time."""

    def __init__(self, process: Process, model: ModelConfig, plan: ServingPlan | None = None):
        self.process = process
        self.model = model
        self.default = ServedSpan(since=None, version=model.baseline.model_version, artifact_uri="")
        self.spans: Sequence[ServedSpan] = plan.spans if plan is not None else ()
        self._since_us = np.array([to_us(s.since) for s in self.spans], dtype=np.int64)
        self._loaded: dict[str, LoadedModel] = {}
        process.check_version(model.baseline.model_version)
        for span in self.spans:
            if span.artifact_uri.startswith(BUILTIN_SCHEME):
                process.check_version(span.artifact_uri.removeprefix(BUILTIN_SCHEME))
            else:
                self._load(span.artifact_uri)  # fail before writing anything

    def _load(self, uri: str) -> LoadedModel:
        if uri not in self._loaded:
            loaded = load_model(uri)
            if loaded.meta.get("model_name") != self.model.name:
                raise ValueError(f"{uri}: the artifact is a model of {loaded.meta['model_name']!r}")
            self._loaded[uri] = loaded
        return self._loaded[uri]

    def served_versions(self) -> tuple[str, ...]:
        """Every version this server may answer with, in plan order."""
        names = [self.default.version, *(s.version for s in self.spans)]
        return tuple(dict.fromkeys(names))

    def versions_at(self, ts_us: np.ndarray) -> np.ndarray:
        """The version that answers each request (without asking it)."""
        which = np.searchsorted(self._since_us, ts_us, side="right") - 1
        names = np.array([self.default.version, *(s.version for s in self.spans)], dtype=object)
        return names[which + 1]

    def serve(self, frame: FeatureFrame, ts_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Version and output (P(positive) or the predicted value) of each request."""
        which = np.searchsorted(self._since_us, ts_us, side="right") - 1
        versions = np.empty(ts_us.size, dtype=object)
        output = np.zeros(ts_us.size)
        for k in np.unique(which).tolist():
            rows = which == k
            span = self.default if k < 0 else self.spans[k]
            part = {name: values[rows] for name, values in frame.items()}
            versions[rows] = span.version
            output[rows] = self._output(span, part)
        return versions, output

    def _output(self, span: ServedSpan, frame: FeatureFrame) -> np.ndarray:
        if span.artifact_uri == "" or span.artifact_uri.startswith(BUILTIN_SCHEME):
            builtin = span.artifact_uri.removeprefix(BUILTIN_SCHEME) or span.version
            return self.process.predict(builtin, frame)
        names = tuple(f.name for f in self.model.features)
        logged = pd.DataFrame(self.process.feature_values(frame, names))
        predictions = self._load(span.artifact_uri).predict(logged)
        if self.model.task.is_classification:
            return predictions.score
        return np.maximum(predictions.prediction, 0.0)
