"""Saved model versions: a folder per version with the fitted estimator and what it expects.

Layout: ``{data_dir}/models/{model}/{version}/model.joblib`` and ``model.json`` (task, features,
classes, trainer, scikit-learn version). The artifact URI recorded in the registry is the
folder's absolute path. ``builtin:<version>`` URIs name the simulator's own model versions
(:mod:`modelmon_dagster.sim.processes`); only the simulator can serve those.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelmon_dagster.config import ModelConfig, Task
from modelmon_dagster.training.data import feature_frame

BUILTIN_SCHEME = "builtin:"
MODEL_FILE = "model.joblib"
META_FILE = "model.json"


def artifact_dir(data_dir: Path, model_name: str, version: str) -> Path:
    """Where a version's artifact lives under the data folder."""
    return Path(data_dir) / "models" / model_name / version


def builtin_uri(version: str) -> str:
    """The URI of a simulator-built-in model version (e.g. the demo's ``v1``)."""
    return f"{BUILTIN_SCHEME}{version}"


@dataclass(frozen=True)
class Predictions:
    """A model's outputs for a frame of inputs.

    ``prediction``: class labels (strings) or numbers; ``score``: P(positive class) for binary
    models, the top class's probability for multiclass ones, None for regression.
    """

    prediction: np.ndarray
    score: np.ndarray | None


@dataclass(frozen=True)
class LoadedModel:
    """A saved version, ready to predict."""

    uri: str
    meta: dict[str, Any]
    estimator: Any

    @property
    def task(self) -> Task:
        """What the model predicts."""
        return Task(self.meta["task"])

    def predict(self, frame: pd.DataFrame) -> Predictions:
        """Predict for rows with the model's features (``f_<name>`` or ``<name>`` columns)."""
        X = feature_frame([tuple(f) for f in self.meta["features"]], frame)
        if self.task is Task.REGRESSION:
            return Predictions(np.asarray(self.estimator.predict(X), dtype=float), None)
        proba = np.asarray(self.estimator.predict_proba(X), dtype=float)
        classes = [str(c) for c in self.estimator.classes_]
        if self.task is Task.BINARY_CLASSIFICATION:
            positive = self.meta["positive_class"]
            negative = next(c for c in self.meta["classes"] if c != positive)
            score = proba[:, classes.index(positive)]
            return Predictions(np.where(score >= 0.5, positive, negative).astype(object), score)
        best = proba.argmax(axis=1)
        return Predictions(np.asarray(classes, dtype=object)[best], proba.max(axis=1))


def save_model(
    directory: Path, estimator: Any, model: ModelConfig, trainer: str, extra: dict | None = None
) -> str:
    """Write ``estimator`` and its description to ``directory``; return the artifact URI.

    The files are written under temporary names and renamed, so a reader never sees half a
    model. An existing artifact in ``directory`` is an error (versions are immutable).
    """
    import joblib
    import sklearn

    directory = Path(directory).resolve()
    if (directory / MODEL_FILE).exists():
        raise FileExistsError(f"{directory}: an artifact is already saved there")
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "model_name": model.name,
        "task": model.task.value,
        "features": [[f.name, f.type.value] for f in model.features],
        "classes": list(model.classes),
        "positive_class": model.positive_class,
        "trainer": trainer,
        "sklearn_version": sklearn.__version__,
    } | (extra or {})
    tmp_model, tmp_meta = directory / f".{MODEL_FILE}.tmp", directory / f".{META_FILE}.tmp"
    joblib.dump(estimator, tmp_model)
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
    os.replace(tmp_meta, directory / META_FILE)
    os.replace(tmp_model, directory / MODEL_FILE)
    return str(directory)


def load_model(uri: str) -> LoadedModel:
    """Load a saved version from its artifact URI (a folder path or ``file://`` URI).

    Raises
    ------
    ValueError
        For a ``builtin:`` URI (the simulator's own versions have no artifact).
    FileNotFoundError
        When the folder holds no saved model.
    """
    import joblib

    if uri.startswith(BUILTIN_SCHEME):
        raise ValueError(f"{uri}: a simulator-built-in version has no artifact to load")
    directory = Path(uri.removeprefix("file://"))
    if not (directory / MODEL_FILE).exists():
        raise FileNotFoundError(f"no saved model at {directory}")
    meta = json.loads((directory / META_FILE).read_text())
    return LoadedModel(uri=uri, meta=meta, estimator=joblib.load(directory / MODEL_FILE))
