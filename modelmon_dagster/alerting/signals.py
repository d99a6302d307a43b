"""Signals: what checks and remediation jobs tell the alert manager, one observation each.

A signal says how one thing (``name`` and ``dimension`` of a model) looked in one period (an
hourly or daily partition). The alert manager turns signals into alerts; it never sees Dagster
objects, so the integrator maps check results and job outcomes to signals in a few lines.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

FIRING, OK, NOT_JUDGED = "firing", "ok", "not_judged"
STATES = (FIRING, OK, NOT_JUDGED)
ERROR, WARN = "ERROR", "WARN"
SEVERITIES = (WARN, ERROR)  # in increasing order
SOURCES = ("check", "remediation")


def severity_rank(severity: str) -> int:
    """0 for WARN, 1 for ERROR (higher is worse)."""
    return SEVERITIES.index(severity)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as a naive UTC datetime (aware values are converted, naive ones kept)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Signal:
    """One observation of a check or remediation outcome for one period.

    Attributes
    ----------
    model_name : str
        The monitored model.
    source : str
        ``"check"`` or ``"remediation"``.
    name : str
        What was observed, e.g. ``"feature_drift"``, ``"volume"``, ``"retrain_failed"``.
    dimension : str
        ``""`` or what inside the model it is about (an asset, metric or column). Part of the
        alert's dedup key (model, name, dimension).
    period : str
        The partition key the observation is about: ``"2026-11-18-14:00"`` or ``"2026-11-18"``.
    period_start : datetime
        Start of that period, naive UTC (aware values are converted).
    state : str
        ``"firing"``, ``"ok"`` (resolves an open alert of the same key) or ``"not_judged"``
        (the check could not judge: it never opens, re-fires or resolves an alert).
    severity : str
        ``"ERROR"`` (critical) or ``"WARN"``.
    summary : str
        One human line.
    details : dict
        JSON-able details (stored as JSON; values that are not JSON are stored as strings).
    observed_at : datetime
        When the check or job ran, naive UTC.
    run_id : str or None
        The Dagster run that produced it.
    """

    model_name: str
    source: str
    name: str
    dimension: str
    period: str
    period_start: dt.datetime
    state: str
    severity: str
    summary: str
    details: dict[str, Any]
    observed_at: dt.datetime
    run_id: str | None = None

    def __post_init__(self):
        for attr, allowed in (
            ("source", SOURCES),
            ("state", STATES),
            ("severity", SEVERITIES),
        ):
            if getattr(self, attr) not in allowed:
                raise ValueError(f"Signal.{attr}: {getattr(self, attr)!r} not in {allowed}")
        for attr in ("model_name", "name", "period"):
            if not getattr(self, attr):
                raise ValueError(f"Signal.{attr} must not be empty")
        # Normalising the two timestamps is part of construction, not a later mutation.
        object.__setattr__(self, "period_start", naive_utc(self.period_start))
        object.__setattr__(self, "observed_at", naive_utc(self.observed_at))

    @property
    def key(self) -> tuple[str, str, str]:
        """The dedup key of the alert this signal belongs to: (model, name, dimension)."""
        return (self.model_name, self.name, self.dimension)


def check_signal(
    model_name: str,
    name: str,
    *,
    passed: bool | None,
    severity: str,
    period: str,
    period_start: dt.datetime,
    summary: str,
    details: dict[str, Any] | None = None,
    dimension: str = "",
    observed_at: dt.datetime | None = None,
    run_id: str | None = None,
) -> Signal:
    """The signal of a check result: failed → firing, passed → ok, ``None`` → not judged.

    ``passed=None`` is for a check that could not judge (no labels yet, no data): such a signal
    never opens, re-fires or resolves an alert.
    """
    state = NOT_JUDGED if passed is None else (OK if passed else FIRING)
    return Signal(
        model_name=model_name,
        source="check",
        name=name,
        dimension=dimension,
        period=period,
        period_start=period_start,
        state=state,
        severity=severity,
        summary=summary,
        details=dict(details or {}),
        observed_at=observed_at or naive_utc(dt.datetime.now(dt.UTC)),
        run_id=run_id,
    )
