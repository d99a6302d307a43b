"""The MLflow Model Registry as a backend (``pip install -e '.[mlflow]'``: mlflow-skinny).

Mapping (one registered model per monitored model, named ``{prefix}{model_name}``):

* a version is an MLflow model version whose ``source`` is the artifact URI; our version name
  (``v3``), status, reason, trainer, windows, metrics (JSON) and baseline id are version tags
  under ``modelmon.``;
* the aliases ``champion`` and ``challenger`` are MLflow aliases, so any MLflow-aware server can
  load ``models:/{name}@champion``;
* the append-only history is a series of registered-model tags ``modelmon.event.000001``, ...
  (one JSON event each; MLflow has no event log of its own).

MLflow writes each tag and alias separately, so an operation is not atomic here: a crash in
the middle can leave a status tag ahead of its event. Writes go in the order statuses,
annotations, aliases, events, so the history never claims a change that did not happen.
Any tracking URI works (``sqlite:///path/mlflow.db`` needs no server; ``http://host:5000``).
"""

import dataclasses
import datetime as dt
import json
from typing import Any

from modelmon_dagster.registry.base import (
    Change,
    EventKind,
    ModelVersion,
    Registry,
    RegistryEvent,
    TimeWindow,
    Trigger,
    VersionStatus,
    to_json,
)

TAG = "modelmon."
EVENT_TAG = f"{TAG}event."


def _iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _parse_ts(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


class MlflowRegistry(Registry):
    """A model registry kept in MLflow.

    Parameters
    ----------
    registry_uri : str
        MLflow registry (and tracking) URI, e.g. ``sqlite:////abs/path/mlflow.db``.
    prefix : str, default ""
        Prepended to model names (e.g. ``modelmon-``) where the MLflow registry is shared.
    """

    def __init__(self, registry_uri: str, prefix: str = ""):
        from mlflow import MlflowClient  # optional dependency, slow to import (~2 s)

        self.registry_uri = registry_uri
        self.prefix = prefix
        self.client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)

    def __repr__(self) -> str:
        return f"MlflowRegistry({self.registry_uri!r})"

    def _name(self, model_name: str) -> str:
        return f"{self.prefix}{model_name}"

    def _registered(self, model_name: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(self._name(model_name))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _mlflow_versions(self, model_name: str) -> list:
        if self._registered(model_name) is None:
            return []
        found = self.client.search_model_versions(f"name = '{self._name(model_name)}'")
        return sorted(found, key=lambda mv: int(mv.version))

    # -- reads -----------------------------------------------------------------------------
    def _read_versions(self, model_name: str) -> list[ModelVersion]:
        out = []
        for mv in self._mlflow_versions(model_name):
            tags = mv.tags or {}

            def tag(key: str, tags: dict = tags) -> str | None:
                return tags.get(f"{TAG}{key}") or None

            train = (_parse_ts(tag("train_start")), _parse_ts(tag("train_end")))
            holdout = (_parse_ts(tag("holdout_start")), _parse_ts(tag("holdout_end")))
            out.append(
                ModelVersion(
                    model_name=model_name,
                    version=tag("version") or str(mv.version),
                    status=VersionStatus(tag("status") or VersionStatus.CANDIDATE.value),
                    status_reason=tag("status_reason") or "",
                    artifact_uri=mv.source,
                    trainer=tag("trainer"),
                    training_window=TimeWindow(*train) if all(train) else None,
                    holdout_window=TimeWindow(*holdout) if all(holdout) else None,
                    training_metrics=json.loads(tag("training_metrics") or "{}"),
                    evaluation_metrics=json.loads(tag("evaluation_metrics") or "{}"),
                    baseline_id=tag("baseline_id"),
                    created_at=_parse_ts(tag("created_at")),
                    created_by=tag("created_by") or "",
                )
            )
        return out

    def _numbers(self, model_name: str) -> dict[str, str]:
        """Our version name -> MLflow version number."""
        return {
            (mv.tags or {}).get(f"{TAG}version", str(mv.version)): str(mv.version)
            for mv in self._mlflow_versions(model_name)
        }

    def _read_aliases(self, model_name: str) -> dict[str, str]:
        registered = self._registered(model_name)
        if registered is None:
            return {}
        names = {number: name for name, number in self._numbers(model_name).items()}
        return {alias: names[str(number)] for alias, number in (registered.aliases or {}).items()}

    def _read_events(self, model_name: str) -> list[RegistryEvent]:
        registered = self._registered(model_name)
        if registered is None:
            return []
        tags = registered.tags or {}
        events = []
        for key in sorted(k for k in tags if k.startswith(EVENT_TAG)):
            raw = json.loads(tags[key])
            events.append(
                RegistryEvent(
                    model_name=model_name,
                    seq=int(key.removeprefix(EVENT_TAG)),
                    kind=EventKind(raw["kind"]),
                    version=raw["version"],
                    from_version=raw.get("from_version"),
                    at=_parse_ts(raw["at"]),
                    recorded_at=_parse_ts(raw.get("recorded_at")),
                    trigger=Trigger(**raw["trigger"]),
                    details=raw.get("details") or {},
                )
            )
        return events

    # -- writes ----------------------------------------------------------------------------
    def _write(self, model_name: str, change: Change) -> None:
        name = self._name(model_name)
        if self._registered(model_name) is None:
            self.client.create_registered_model(name)
        if change.new_version is not None:
            v = change.new_version
            train, holdout = v.training_window, v.holdout_window
            tags = {
                "version": v.version,
                "status": v.status.value,
                "status_reason": v.status_reason,
                "trainer": v.trainer or "",
                "train_start": _iso(train.start if train else None),
                "train_end": _iso(train.end if train else None),
                "holdout_start": _iso(holdout.start if holdout else None),
                "holdout_end": _iso(holdout.end if holdout else None),
                "training_metrics": to_json(v.training_metrics),
                "evaluation_metrics": to_json(v.evaluation_metrics),
                "created_at": _iso(v.created_at),
                "created_by": v.created_by,
            }
            self.client.create_model_version(
                name, source=v.artifact_uri, tags={f"{TAG}{k}": str(x) for k, x in tags.items()}
            )
        numbers = self._numbers(model_name)
        for version, (status, reason) in change.statuses.items():
            self._tag(name, numbers[version], {"status": status.value, "status_reason": reason})
        for version, values in change.annotations.items():
            tags = {}
            if "evaluation_metrics" in values:
                tags["evaluation_metrics"] = to_json(values["evaluation_metrics"])
            if "baseline_id" in values:
                tags["baseline_id"] = values["baseline_id"]
            self._tag(name, numbers[version], tags)
        for alias, version in change.aliases.items():
            if version is None:
                if alias in (self.client.get_registered_model(name).aliases or {}):
                    self.client.delete_registered_model_alias(name, alias)
            else:
                self.client.set_registered_model_alias(name, alias, numbers[version])
        seq = max((e.seq for e in self._read_events(model_name)), default=0)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for offset, event in enumerate(change.events, start=1):
            payload: dict[str, Any] = {
                "kind": event.kind.value,
                "version": event.version,
                "from_version": event.from_version,
                "at": _iso(event.at),
                "recorded_at": _iso(now),
                "trigger": dataclasses.asdict(event.trigger),
                "details": dict(event.details),
            }
            self.client.set_registered_model_tag(
                name, f"{EVENT_TAG}{seq + offset:06d}", json.dumps(payload, sort_keys=True)
            )

    def _tag(self, name: str, number: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, number, f"{TAG}{key}", str(value))
