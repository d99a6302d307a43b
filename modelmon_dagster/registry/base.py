"""The model registry's interface and the one state machine both backends share.

A backend stores three things per model: versions (with a mutable status), aliases
(``champion``, ``challenger``) and an append-only list of events. Everything a registry *does*
(register, promote, reject, roll back) is decided here, once, as a :class:`Change`; a backend
only reads its state and writes a change (the primitives of :class:`Registry`). No Dagster, no
SQL here.
"""

import datetime as dt
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
VERSION_NAME = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


class VersionStatus(StrEnum):
    """Where a version stands."""

    CANDIDATE = "candidate"  # registered, not (yet) serving
    CHAMPION = "champion"  # serving now (holds the champion alias)
    RETIRED = "retired"  # served before, replaced by a promotion or a rollback
    REJECTED = "rejected"  # lost its champion/challenger evaluation; kept with the reason


class EventKind(StrEnum):
    """What happened to a version."""

    REGISTERED = "registered"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"  # the version was re-activated by a rollback
    RETIRED = "retired"  # the version stopped serving (the event names its successor)
    CHALLENGER_SET = "challenger_set"
    ANNOTATED = "annotated"  # evaluation metrics or baseline id added


class RegistryError(RuntimeError):
    """A registry operation is not allowed in the current state (the message says why)."""


class VersionNotFoundError(KeyError):
    """No such model version in the registry."""


@dataclass(frozen=True)
class Trigger:
    """Who or what asked for a registry change, and why.

    Attributes
    ----------
    actor : str
        ``sensor:<name>``, ``job:<name>``, ``user:<login>``, ``demo``, ...
    reason : str
        Free text, shown in the history.
    check, asset, partition, severity, rule : str, optional
        The failing check that caused it (``performance``, ``daily_performance``,
        ``2026-11-21``, ``ERROR``) and the policy rule that mapped it to the action.
    run_id : str, optional
        The Dagster run that made the change.
    """

    actor: str
    reason: str = ""
    check: str | None = None
    asset: str | None = None
    partition: str | None = None
    severity: str | None = None
    rule: str | None = None
    run_id: str | None = None

    def with_reason(self, reason: str) -> "Trigger":
        """The same trigger with another reason."""
        return replace(self, reason=reason)

    def because(self, decision: str) -> "Trigger":
        """The trigger with a decision as its reason, the original reason kept after it."""
        return self.with_reason(f"{decision}; trigger: {self.reason}" if self.reason else decision)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open time window ``[start, end)`` (naive UTC)."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model.

    ``training_metrics`` and ``evaluation_metrics`` are JSON-compatible mappings (numbers,
    strings, nested mappings); ``baseline_id`` names the baseline built for the version, if any.
    """

    model_name: str
    version: str
    status: VersionStatus
    artifact_uri: str
    created_at: dt.datetime
    created_by: str
    trainer: str | None = None
    training_window: TimeWindow | None = None
    holdout_window: TimeWindow | None = None
    training_metrics: Mapping[str, Any] = field(default_factory=dict)
    evaluation_metrics: Mapping[str, Any] = field(default_factory=dict)
    baseline_id: str | None = None
    status_reason: str = ""


@dataclass(frozen=True)
class RegistryEvent:
    """One entry of a model's append-only history.

    ``at`` is when the change takes effect (the caller's clock: a simulated hour in the demo);
    ``recorded_at`` is the wall clock when it was written. ``seq`` orders a model's events.
    """

    model_name: str
    seq: int
    kind: EventKind
    version: str
    at: dt.datetime
    trigger: Trigger
    from_version: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    recorded_at: dt.datetime | None = None


@dataclass(frozen=True)
class Change:
    """What one registry operation writes, atomically where the backend can.

    Attributes
    ----------
    new_version : ModelVersion, optional
        A version to add.
    statuses : mapping
        ``version -> (status, reason)`` updates.
    annotations : mapping
        ``version -> {"evaluation_metrics": ..., "baseline_id": ...}`` updates.
    aliases : mapping
        ``alias -> version`` (None removes the alias).
    events : sequence of RegistryEvent
        Appended in order (their ``seq`` is assigned by the backend).
    """

    new_version: ModelVersion | None = None
    statuses: Mapping[str, tuple[VersionStatus, str]] = field(default_factory=dict)
    annotations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    aliases: Mapping[str, str | None] = field(default_factory=dict)
    events: Sequence[RegistryEvent] = ()


def next_version_name(existing: Sequence[str]) -> str:
    """``v<n+1>`` where ``n`` is the largest ``v<int>`` among ``existing`` (``v1`` if none)."""
    numbers = [int(m.group(1)) for v in existing if (m := re.fullmatch(r"v(\d+)", v))]
    return f"v{max(numbers, default=0) + 1}"


def to_json(value: Mapping[str, Any] | None) -> str:
    """Compact, key-sorted JSON (NaN and inf become null: JSON has neither)."""
    return json.dumps(_finite(dict(value or {})), sort_keys=True, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class Registry(ABC):
    """The registry interface: what the retrain and rollback jobs, sensors and servers use.

    Subclasses (the backends) implement four storage primitives; the operations and their
    rules (what may be promoted, rejected or rolled back, which events are written) live here,
    once.
    """

    # -- storage primitives (what a backend implements) ------------------------------------
    @abstractmethod
    def _read_versions(self, model_name: str) -> list[ModelVersion]:
        """Every version of the model, oldest first."""

    @abstractmethod
    def _read_aliases(self, model_name: str) -> dict[str, str]:
        """``alias -> version``."""

    @abstractmethod
    def _read_events(self, model_name: str) -> list[RegistryEvent]:
        """The history, oldest first."""

    @abstractmethod
    def _write(self, model_name: str, change: Change) -> None:
        """Apply a change (new version, statuses, annotations, aliases, then events)."""

    # -- reads -----------------------------------------------------------------------------
    def versions(self, model_name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        return self._read_versions(model_name)

    def get(self, model_name: str, version: str) -> ModelVersion:
        """One version; :class:`VersionNotFoundError` if unknown."""
        for v in self._read_versions(model_name):
            if v.version == version:
                return v
        raise VersionNotFoundError(f"{model_name}: no registered version {version!r}")

    def alias(self, model_name: str, alias: str) -> ModelVersion | None:
        """The version holding ``alias``, if any."""
        name = self._read_aliases(model_name).get(alias)
        return None if name is None else self.get(model_name, name)

    def champion(self, model_name: str) -> ModelVersion | None:
        """The version serving now, if any."""
        return self.alias(model_name, CHAMPION)

    def history(self, model_name: str) -> list[RegistryEvent]:
        """Every event of a model, oldest first."""
        return self._read_events(model_name)

    # -- operations --------------------------------------------------------------------------
    def register(
        self,
        model_name: str,
        artifact_uri: str,
        trigger: Trigger,
        at: dt.datetime,
        *,
        version: str | None = None,
        trainer: str | None = None,
        training_window: TimeWindow | None = None,
        holdout_window: TimeWindow | None = None,
        training_metrics: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Add a version as a candidate (named ``v<n+1>`` unless ``version`` is given)."""
        existing = [v.version for v in self._read_versions(model_name)]
        name = version or next_version_name(existing)
        if not VERSION_NAME.match(name):
            raise RegistryError(f"{model_name}: {name!r} is not a valid version name")
        if name in existing:
            raise RegistryError(f"{model_name}: version {name!r} is already registered")
        new = ModelVersion(
            model_name=model_name,
            version=name,
            status=VersionStatus.CANDIDATE,
            artifact_uri=artifact_uri,
            created_at=at,
            created_by=trigger.actor,
            trainer=trainer,
            training_window=training_window,
            holdout_window=holdout_window,
            training_metrics=dict(training_metrics or {}),
        )
        event = self._event(model_name, EventKind.REGISTERED, name, at, trigger)
        self._write(model_name, Change(new_version=new, events=[event]))
        return new

    def set_challenger(
        self, model_name: str, version: str, trigger: Trigger, at: dt.datetime
    ) -> None:
        """Point the ``challenger`` alias at a candidate."""
        target = self.get(model_name, version)
        if target.status is not VersionStatus.CANDIDATE:
            raise RegistryError(f"{model_name} {version}: only a candidate can be the challenger")
        event = self._event(model_name, EventKind.CHALLENGER_SET, version, at, trigger)
        self._write(model_name, Change(aliases={CHALLENGER: version}, events=[event]))

    def annotate(
        self,
        model_name: str,
        version: str,
        trigger: Trigger,
        at: dt.datetime,
        *,
        evaluation_metrics: Mapping[str, Any] | None = None,
        baseline_id: str | None = None,
    ) -> None:
        """Record evaluation metrics or the baseline id of a version."""
        self.get(model_name, version)
        values: dict[str, Any] = {}
        if evaluation_metrics is not None:
            values["evaluation_metrics"] = dict(evaluation_metrics)
        if baseline_id is not None:
            values["baseline_id"] = baseline_id
        event = self._event(
            model_name, EventKind.ANNOTATED, version, at, trigger, details=sorted(values)
        )
        self._write(model_name, Change(annotations={version: values}, events=[event]))

    def promote(self, model_name: str, version: str, trigger: Trigger, at: dt.datetime) -> None:
        """Make a candidate the champion; the previous champion is retired."""
        target = self._in_status(model_name, version, VersionStatus.CANDIDATE, "promoted")
        self._activate(model_name, target, EventKind.PROMOTED, trigger, at)

    def rollback(self, model_name: str, version: str, trigger: Trigger, at: dt.datetime) -> None:
        """Re-activate an earlier (retired) version as champion; the current one is retired."""
        target = self._in_status(model_name, version, VersionStatus.RETIRED, "rolled back to")
        self._activate(model_name, target, EventKind.ROLLED_BACK, trigger, at)

    def reject(self, model_name: str, version: str, trigger: Trigger, at: dt.datetime) -> None:
        """Mark a candidate rejected; it stays registered with the reason."""
        self._in_status(model_name, version, VersionStatus.CANDIDATE, "rejected")
        aliases = self._read_aliases(model_name)
        event = self._event(model_name, EventKind.REJECTED, version, at, trigger)
        change = Change(
            statuses={version: (VersionStatus.REJECTED, trigger.reason)},
            aliases={CHALLENGER: None} if aliases.get(CHALLENGER) == version else {},
            events=[event],
        )
        self._write(model_name, change)

    def _in_status(
        self, model_name: str, version: str, status: VersionStatus, action: str
    ) -> ModelVersion:
        target = self.get(model_name, version)
        if target.status is not status:
            raise RegistryError(
                f"{model_name} {version}: only a {status.value} version can be {action} "
                f"(it is {target.status.value})"
            )
        return target

    def _activate(
        self,
        model_name: str,
        target: ModelVersion,
        kind: EventKind,
        trigger: Trigger,
        at: dt.datetime,
    ) -> None:
        aliases = self._read_aliases(model_name)
        previous = aliases.get(CHAMPION)
        statuses = {target.version: (VersionStatus.CHAMPION, trigger.reason)}
        events = [self._event(model_name, kind, target.version, at, trigger, previous)]
        if previous is not None and previous != target.version:
            statuses[previous] = (VersionStatus.RETIRED, f"replaced by {target.version}")
            events.append(
                self._event(
                    model_name,
                    EventKind.RETIRED,
                    previous,
                    at,
                    trigger,
                    details={"successor": target.version},
                )
            )
        new_aliases: dict[str, str | None] = {CHAMPION: target.version}
        if aliases.get(CHALLENGER) == target.version:
            new_aliases[CHALLENGER] = None
        self._write(model_name, Change(statuses=statuses, aliases=new_aliases, events=events))

    @staticmethod
    def _event(
        model_name: str,
        kind: EventKind,
        version: str,
        at: dt.datetime,
        trigger: Trigger,
        from_version: str | None = None,
        details: Any = None,
    ) -> RegistryEvent:
        if isinstance(details, list):
            details = {"fields": details}
        return RegistryEvent(
            model_name=model_name,
            seq=0,  # assigned by the backend
            kind=kind,
            version=version,
            at=at,
            trigger=trigger,
            from_version=from_version,
            details=dict(details or {}),
        )
