"""The rollback job as a plain function: re-activate the last version that was *healthy*.

"Healthy" is judged from evidence the caller builds from check results: one
:class:`HourHealth` per (served version, hour) saying whether the hour passed every
system-health check (schema, error rate, latency, volume, ...), failed one, or was not judged.
The previous version is not good enough by itself: it may be the one that broke last time.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelmon_dagster.baseline import BaselineMissingError, load_baseline
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.registry import ModelVersion, Registry, Trigger, VersionStatus
from modelmon_dagster.registry.serving import ACTIVATIONS, publish_serving_plan
from modelmon_dagster.remediation.settings import RollbackSettings

ROLLED_BACK, NO_HEALTHY_VERSION, NO_CHAMPION = "rolled_back", "no_healthy_version", "no_champion"


@dataclass(frozen=True)
class HourHealth:
    """System health of one served hour of one version (the evidence rollback needs).

    Attributes
    ----------
    version : str
        The model version that served the hour (an hour served by two versions gives two
        records, or one for the version that served most of it).
    hour : datetime
        Start of the hour (naive UTC).
    passed : bool or None
        True: every system-health check of the hour passed; False: at least one failed;
        None: not judged (no data, check skipped) — never counted either way.
    failed_checks : tuple of str
        Names of the failed checks, for the record.
    """

    version: str
    hour: dt.datetime
    passed: bool | None
    failed_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionHealth:
    """How a version did over its most recent judged served hours."""

    version: str
    judged_hours: int
    healthy_hours: int
    unhealthy_hours: int
    last_served: dt.datetime | None
    healthy: bool
    why: str


def assess_health(
    evidence: Sequence[HourHealth], settings: RollbackSettings, now: dt.datetime
) -> dict[str, VersionHealth]:
    """Judge each version on its most recent judged served hours before ``now``.

    A version is healthy if, among its last ``lookback_hours`` judged hours, at least
    ``min_healthy_hours`` passed and at most ``max_unhealthy_share`` failed.
    """
    by_version: dict[str, list[HourHealth]] = {}
    for record in evidence:
        if record.hour < now:
            by_version.setdefault(record.version, []).append(record)
    out = {}
    for version, records in by_version.items():
        records.sort(key=lambda r: r.hour)
        judged = [r for r in records if r.passed is not None][-settings.lookback_hours :]
        good = sum(r.passed for r in judged)
        bad = len(judged) - good
        share = bad / len(judged) if judged else 0.0
        if good < settings.min_healthy_hours:
            why = f"{good} healthy hours, fewer than {settings.min_healthy_hours}"
        elif share > settings.max_unhealthy_share:
            why = f"{bad} of its last {len(judged)} judged hours failed"
        else:
            why = f"{good} of its last {len(judged)} judged hours healthy"
        out[version] = VersionHealth(
            version=version,
            judged_hours=len(judged),
            healthy_hours=good,
            unhealthy_hours=bad,
            last_served=records[-1].hour,
            healthy=good >= settings.min_healthy_hours and share <= settings.max_unhealthy_share,
            why=why,
        )
    return out


def choose_target(
    versions: Sequence[ModelVersion],
    champion: str,
    health: dict[str, VersionHealth],
    activated_at: dict[str, dt.datetime],
) -> tuple[ModelVersion | None, str]:
    """The retired version that was healthy and served most recently, and why.

    Only retired versions (served before, replaced) qualify: candidates and rejected versions
    never served. Ties on the last served hour go to the more recently activated version.
    """
    candidates = [
        v for v in versions if v.status is VersionStatus.RETIRED and v.version != champion
    ]
    healthy = [v for v in candidates if v.version in health and health[v.version].healthy]
    if not healthy:
        judged = [
            f"{v.version}: {health[v.version].why}" for v in candidates if v.version in health
        ]
        unseen = [v.version for v in candidates if v.version not in health]
        detail = "; ".join(judged + ([f"no evidence for {', '.join(unseen)}"] if unseen else []))
        return None, f"no earlier version was healthy ({detail or 'no earlier version'})"
    best = max(
        healthy,
        key=lambda v: (health[v.version].last_served, activated_at.get(v.version, dt.datetime.min)),
    )
    h = health[best.version]
    return (
        best,
        f"{best.version} was the last healthy version ({h.why}; last served {h.last_served})",
    )


@dataclass(frozen=True)
class RollbackOutcome:
    """What a rollback did.

    ``status``: ``rolled_back``, ``no_healthy_version`` (nothing changed: escalate) or
    ``no_champion``. ``baseline_present`` says whether the re-activated version's baseline is in
    the warehouse (it is reused, never rebuilt; without it, hours bin on the default baseline).
    """

    model_name: str
    status: str
    reason: str
    from_version: str | None = None
    to_version: str | None = None
    health: dict[str, VersionHealth] = field(default_factory=dict)
    baseline_id: str | None = None
    baseline_present: bool = False


def rollback(
    warehouse,
    registry: Registry,
    model: ModelConfig,
    trigger: Trigger,
    health: Sequence[HourHealth],
    now: dt.datetime,
    *,
    data_dir: Path,
) -> RollbackOutcome:
    """Re-activate the last healthy retired version, record why, republish the serving plan.

    Rebuilds nothing: the version's artifact and baseline already exist (the baseline is
    looked up to report whether it does).
    """
    champion = registry.champion(model.name)
    if champion is None:
        return RollbackOutcome(model.name, NO_CHAMPION, "no champion to roll back from")
    assessed = assess_health(health, model.remediation.rollback, now)
    activated = {e.version: e.at for e in registry.history(model.name) if e.kind in ACTIVATIONS}
    target, why = choose_target(
        registry.versions(model.name), champion.version, assessed, activated
    )
    if target is None:
        return RollbackOutcome(
            model.name,
            NO_HEALTHY_VERSION,
            f"no rollback from {champion.version}: {why}",
            from_version=champion.version,
            health=assessed,
        )
    reason = f"rolled back from {champion.version} to {why}"
    registry.rollback(model.name, target.version, trigger.because(reason), now)
    publish_serving_plan(registry, model.name, data_dir)
    try:
        baseline_id = load_baseline(warehouse, model, target.version).baseline_id
    except BaselineMissingError:
        baseline_id = None
    return RollbackOutcome(
        model.name,
        ROLLED_BACK,
        reason,
        from_version=champion.version,
        to_version=target.version,
        health=assessed,
        baseline_id=baseline_id,
        baseline_present=baseline_id is not None,
    )
