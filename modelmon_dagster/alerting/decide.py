"""Pure decisions of the alert manager: no SQL, no network, no clock (``now`` is an argument).

- :func:`disposition` — is a firing signal notified, inhibited or silenced?
- :func:`apply_signal` — what a signal does to its alert: open, update, clear a period,
  resolve, or nothing (stale, not judged, nothing to resolve).
- :func:`plan_notifications` — which immediate routes hear about which alerts in this pass
  (new, escalated, repeated, resolved), and the notification state the alerts keep.

Periods are compared by their start: an observation about an earlier period than the alert's
latest never changes its current severity or resolves it, so backfills and reruns of old
partitions cannot close an incident that is still going on.
"""

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from modelmon_dagster.alerting.config import IMMEDIATE, AlertingConfig
from modelmon_dagster.alerting.signals import FIRING, NOT_JUDGED, OK, Signal, severity_rank

OPEN, RESOLVED = "open", "resolved"
NOTIFY, INHIBITED, SILENCED = "notify", "inhibited", "silenced"
# Dispositions of observations that were ok: the period was firing before, or the alert resolved.
CLEARED = "cleared"


def stable_id(*parts: object, length: int = 24) -> str:
    """A short hex digest of ``parts``: the same inputs give the same id in every process."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def alert_id(model_name: str, name: str, dimension: str, seq: int) -> str:
    """Deterministic id of the ``seq``-th alert (1, 2, ...) of a dedup key."""
    return f"{stable_id(model_name, name, dimension, length=16)}-{seq}"


@dataclass(frozen=True)
class AlertState:
    """One alert: an episode of a dedup key (model, name, dimension) from open to resolved."""

    alert_id: str
    seq: int
    model_name: str
    name: str
    dimension: str
    source: str
    status: str
    severity: str
    max_severity: str
    opened_at: dt.datetime
    first_seen: dt.datetime
    last_seen: dt.datetime
    first_period: str
    first_period_start: dt.datetime
    last_period: str
    last_period_start: dt.datetime
    firing_count: int
    suppressed_by: str
    summary: str
    details: Mapping
    last_run_id: str | None
    last_notified_at: dt.datetime | None = None
    notified_severity: str | None = None
    notified_routes: frozenset[str] = field(default_factory=frozenset)
    notify_count: int = 0
    resolved_at: dt.datetime | None = None
    resolved_period: str | None = None
    resolved_period_start: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The dedup key (model, name, dimension)."""
        return (self.model_name, self.name, self.dimension)

    @property
    def is_open(self) -> bool:
        """Whether the alert is still open."""
        return self.status == OPEN


@dataclass(frozen=True)
class Observation:
    """What one signal recorded about one period of an alert (the latest judgement wins)."""

    alert_id: str
    signal: Signal
    disposition: str  # notify | inhibited | silenced (firing); cleared | resolved (ok)
    reason: str = ""


@dataclass(frozen=True)
class Step:
    """The effect of one signal: an event name, the alert after it, and what to record."""

    event: str  # opened | updated | cleared | resolved | stale | ignored | not_judged
    alert: AlertState | None = None
    observation: Observation | None = None


def disposition(
    signal: Signal,
    config: AlertingConfig,
    firing_sources: Mapping[str, frozenset[str]],
    now: dt.datetime,
) -> tuple[str, str]:
    """Whether a firing signal is notified, inhibited or silenced, and why.

    Parameters
    ----------
    signal : Signal
        A firing signal.
    config : AlertingConfig
        Its model's alerting config.
    firing_sources : mapping
        Period → names of the model's signals firing in that period (this pass and stored).
    now : datetime
        Silences are active while ``now < until``.

    Returns
    -------
    (str, str)
        ``(NOTIFY, "")``, ``(INHIBITED, "inhibited by schema")`` or
        ``(SILENCED, "silenced until ...: comment")``. Inhibition wins over a silence: the alert
        is a consequence of another one whatever anybody silenced.
    """
    firing_here = firing_sources.get(signal.period, frozenset())
    sources = [s for s in config.inhibiting_sources(signal.name) if s in firing_here]
    if sources:
        return INHIBITED, f"inhibited by {', '.join(sorted(sources))}"
    silence = config.silence_for(signal.name, signal.dimension, now)
    if silence is not None:
        return SILENCED, f"silenced until {silence.until:%Y-%m-%d %H:%M} UTC: {silence.comment}"
    return NOTIFY, ""


def _opened(signal: Signal, previous: AlertState | None, how: tuple[str, str], now) -> AlertState:
    seq = previous.seq + 1 if previous is not None else 1
    return AlertState(
        alert_id=alert_id(signal.model_name, signal.name, signal.dimension, seq),
        seq=seq,
        model_name=signal.model_name,
        name=signal.name,
        dimension=signal.dimension,
        source=signal.source,
        status=OPEN,
        severity=signal.severity,
        max_severity=signal.severity,
        opened_at=now,
        first_seen=signal.observed_at,
        last_seen=signal.observed_at,
        first_period=signal.period,
        first_period_start=signal.period_start,
        last_period=signal.period,
        last_period_start=signal.period_start,
        firing_count=1,
        suppressed_by=how[1],
        summary=signal.summary,
        details=signal.details,
        last_run_id=signal.run_id,
        updated_at=now,
    )


def _refired(alert: AlertState, signal: Signal, how, period_state, now) -> AlertState:
    latest = signal.period_start >= alert.last_period_start
    earliest = signal.period_start < alert.first_period_start
    max_severity = max(alert.max_severity, signal.severity, key=severity_rank)
    changes = {
        "max_severity": max_severity,
        "firing_count": alert.firing_count + (period_state != FIRING),
        "first_seen": min(alert.first_seen, signal.observed_at),
        "last_seen": max(alert.last_seen, signal.observed_at),
        "updated_at": now,
    }
    if earliest:
        changes |= {"first_period": signal.period, "first_period_start": signal.period_start}
    if latest:
        # Only the newest period speaks for the alert's current state.
        changes |= {
            "severity": signal.severity,
            "last_period": signal.period,
            "last_period_start": signal.period_start,
            "suppressed_by": how[1],
            "summary": signal.summary,
            "details": signal.details,
            "last_run_id": signal.run_id,
        }
    return replace(alert, **changes)


def apply_signal(
    alert: AlertState | None,
    previous: AlertState | None,
    signal: Signal,
    how: tuple[str, str],
    period_state: str | None,
    now: dt.datetime,
) -> Step:
    """What ``signal`` does to the alert of its key.

    Parameters
    ----------
    alert : AlertState or None
        The key's open alert, if any.
    previous : AlertState or None
        The key's latest resolved alert (used when ``alert`` is None).
    signal : Signal
        The observation.
    how : (str, str)
        Its :func:`disposition` (firing signals only; ignored otherwise).
    period_state : str or None
        ``"firing"``/``"ok"`` when ``alert`` already has an observation of ``signal.period``.
    now : datetime
        The time of this processing pass.

    Notes
    -----
    - ``not_judged`` never opens, re-fires or resolves anything.
    - A firing signal about a period before the one that resolved the key's last alert is
      ``stale``: that incident is over, and a backfill does not reopen it.
    - ``ok`` resolves the open alert when it is about its latest firing period or a later one;
      about an earlier period that was firing it only clears that period (``cleared``).
    - Observing the same period twice (a rerun) does not count twice.
    """
    if signal.state == NOT_JUDGED:
        return Step("not_judged")
    if signal.state == FIRING:
        if alert is None:
            if (
                previous is not None
                and previous.resolved_period_start is not None
                and signal.period_start < previous.resolved_period_start
            ):
                return Step("stale")
            opened = _opened(signal, previous, how, now)
            return Step("opened", opened, Observation(opened.alert_id, signal, *how))
        updated = _refired(alert, signal, how, period_state, now)
        return Step("updated", updated, Observation(alert.alert_id, signal, *how))
    assert signal.state == OK
    if alert is None:
        return Step("ignored")
    count = alert.firing_count - (period_state == FIRING)
    if signal.period_start >= alert.last_period_start:
        resolved = replace(
            alert,
            status=RESOLVED,
            firing_count=count,
            resolved_at=now,
            resolved_period=signal.period,
            resolved_period_start=signal.period_start,
            updated_at=now,
        )
        return Step("resolved", resolved, Observation(alert.alert_id, signal, RESOLVED))
    if period_state == FIRING:
        cleared = replace(alert, firing_count=count, updated_at=now)
        return Step("cleared", cleared, Observation(alert.alert_id, signal, CLEARED))
    return Step("ignored")


@dataclass(frozen=True)
class Item:
    """One line of a notification: an alert and what happened to it, for one route."""

    route: str  # the route's url_env: its identity across models
    event: str  # firing | escalated | repeat | resolved
    alert: AlertState


EVENT_ORDER = ("firing", "escalated", "repeat", "resolved")


def plan_notifications(
    alerts: Iterable[tuple[AlertState, str]],
    config: AlertingConfig,
    now: dt.datetime,
) -> tuple[list[Item], list[AlertState]]:
    """Which immediate routes hear about which alerts of one model in this pass.

    Parameters
    ----------
    alerts : iterable of (AlertState, str)
        Alerts touched in this pass with what happened: ``"firing"`` (a firing signal arrived
        and the alert is open) or ``"resolved"`` (resolved in this pass).
    config : AlertingConfig
        The model's routes and repeat interval.
    now : datetime
        The time of this pass.

    Returns
    -------
    items : list of Item
        ``firing`` for a route that was never told, ``escalated`` when the severity rose above
        the one last notified, ``repeat`` when the last notification is ``repeat_interval``
        old, ``resolved`` for every route that was told about the alert.
    alerts : list of AlertState
        The alerts that got items, with their notification state updated.

    Notes
    -----
    An inhibited or silenced alert (its latest firing period was muted) gets no items, and no
    route counts as told: once the silence expires or the inhibiting check passes, its next
    firing period notifies. Digest routes are not planned here (see ``daily_digest``).
    """
    items: list[Item] = []
    updated: list[AlertState] = []
    for alert, what in alerts:
        if what == RESOLVED:
            items += [Item(route, "resolved", alert) for route in sorted(alert.notified_routes)]
            continue
        if alert.suppressed_by:
            continue
        new_items = []
        for route in config.routes_for(IMMEDIATE, alert.severity):
            if route.url_env not in alert.notified_routes:
                event = "firing"
            elif severity_rank(alert.severity) > severity_rank(alert.notified_severity or "WARN"):
                event = "escalated"
            elif now - alert.last_notified_at >= config.repeat_interval:
                event = "repeat"
            else:
                continue
            new_items.append(Item(route.url_env, event, alert))
        if new_items:
            told = replace(
                alert,
                last_notified_at=now,
                notified_severity=alert.severity,
                notified_routes=alert.notified_routes | {i.route for i in new_items},
                notify_count=alert.notify_count + 1,
            )
            items += [replace(i, alert=told) for i in new_items]
            updated.append(told)
    return items, updated


def sort_items(items: Iterable[Item]) -> list[Item]:
    """Items in reading order: new and escalated first, worst first, then by name."""
    return sorted(
        items,
        key=lambda i: (
            EVENT_ORDER.index(i.event),
            -severity_rank(i.alert.severity),
            i.alert.name,
            i.alert.dimension,
        ),
    )


def notification_id(route: str, model_name: str, items: Iterable[Item]) -> str:
    """Deterministic id of one grouped notification: the same decisions give the same id."""
    parts = sorted(f"{i.alert.alert_id}:{i.event}:{i.alert.notify_count}" for i in items)
    return stable_id("alerts", route, model_name, *parts)


def digest_id(route: str, day: dt.date) -> str:
    """Deterministic id of the daily digest of ``route`` for ``day``."""
    return stable_id("digest", route, day.isoformat())


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry schedule of the outbox and the lease a flusher holds on what it claimed."""

    first_retry: dt.timedelta = dt.timedelta(minutes=1)
    max_retry: dt.timedelta = dt.timedelta(hours=1)
    lease: dt.timedelta = dt.timedelta(minutes=10)
    timeout_seconds: float = 30.0

    def next_attempt(self, attempts: int, now: dt.datetime) -> dt.datetime:
        """When to try again after ``attempts`` failed tries: 1, 2, 4, ... minutes, capped."""
        delay = self.first_retry * (2 ** min(max(attempts - 1, 0), 20))
        return now + min(delay, self.max_retry)
