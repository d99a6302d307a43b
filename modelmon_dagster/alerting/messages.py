"""Notification texts: one grouped message per model, route and pass; one digest per route and day.

Plain text that reads well in Slack, Teams, e-mail and a JSON webhook alike. Every message
ends with its notification id, the key a receiver deduplicates on.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from modelmon_dagster.alerting.decide import (
    AlertState,
    Item,
    digest_id,
    notification_id,
    sort_items,
)
from modelmon_dagster.alerting.signals import ERROR

ALERTS, DIGEST = "alerts", "digest"


@dataclass(frozen=True)
class Notification:
    """One message waiting in (or written to) the outbox.

    ``route`` is the name of the environment variable holding the target URL, never the URL.
    """

    notification_id: str
    route: str
    kind: str  # alerts | digest
    model_name: str  # "" for a digest (it may cover several models)
    title: str
    body: str
    notify_type: str  # Apprise's: failure | warning | success | info
    alert_ids: tuple[str, ...]
    created_at: dt.datetime


def _what(alert: AlertState) -> str:
    return f"{alert.name}[{alert.dimension}]" if alert.dimension else alert.name


def _span(alert: AlertState) -> str:
    periods = "period" if alert.firing_count == 1 else "periods"
    if alert.first_period == alert.last_period:
        return f"{alert.firing_count} {periods}: {alert.first_period}"
    return f"{alert.firing_count} {periods}: {alert.first_period} … {alert.last_period}"


def item_line(item: Item) -> str:
    """One line per alert: what happened, how bad, when, and the check's own summary."""
    alert = item.alert
    if item.event == "resolved":
        return f"RESOLVED {_what(alert)}: ok at {alert.resolved_period} (fired {_span(alert)})"
    label = {"firing": "FIRING", "escalated": "ESCALATED", "repeat": "STILL FIRING"}[item.event]
    return f"{label} {alert.severity} {_what(alert)} ({_span(alert)}): {alert.summary}"


def _title(model_name: str, items: Sequence[Item]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.event] = counts.get(item.event, 0) + 1
    words = {"firing": "new", "escalated": "escalated", "repeat": "still firing"}
    parts = [f"{counts[e]} {words[e]}" for e in words if e in counts]
    if "resolved" in counts:
        parts.append(f"{counts['resolved']} resolved")
    return f"[modelmon] {model_name}: {', '.join(parts)}"


def _notify_type(items: Sequence[Item]) -> str:
    active = [i for i in items if i.event != "resolved"]
    if not active:
        return "success"
    return "failure" if any(i.alert.severity == ERROR for i in active) else "warning"


def render_alerts(
    model_name: str, route: str, items: Iterable[Item], now: dt.datetime
) -> Notification:
    """The one notification of a model's pass for one route, listing every item."""
    items = sort_items(items)
    nid = notification_id(route, model_name, items)
    body = "\n".join([*(item_line(i) for i in items), "", f"notification id: {nid}"])
    return Notification(
        notification_id=nid,
        route=route,
        kind=ALERTS,
        model_name=model_name,
        title=_title(model_name, items),
        body=body,
        notify_type=_notify_type(items),
        alert_ids=tuple(dict.fromkeys(i.alert.alert_id for i in items)),
        created_at=now,
    )


@dataclass(frozen=True)
class DigestLine:
    """One alert in a daily digest: its warnings of the day, or its resolution that day."""

    alert: AlertState
    periods: tuple[str, ...]  # firing periods recorded that day (empty for a resolution)


def _digest_line(line: DigestLine) -> str:
    alert = line.alert
    if not line.periods:
        return f"  RESOLVED {_what(alert)}: ok at {alert.resolved_period} (fired {_span(alert)})"
    periods = (
        line.periods[0]
        if len(line.periods) == 1
        else (f"{len(line.periods)} periods, {line.periods[0]} … {line.periods[-1]}")
    )
    status = "open" if alert.is_open else f"resolved at {alert.resolved_period}"
    return f"  {alert.severity} {_what(alert)} ({periods}; {status}): {alert.summary}"


def render_digest(
    route: str, day: dt.date, lines: Sequence[DigestLine], now: dt.datetime
) -> Notification | None:
    """The digest of ``route`` for ``day``: each warning and resolution by model, or None."""
    if not lines:
        return None
    nid = digest_id(route, day)
    ordered = sorted(lines, key=lambda ln: (ln.alert.model_name, not ln.periods, _what(ln.alert)))
    body, model = [], None
    for line in ordered:
        if line.alert.model_name != model:
            model = line.alert.model_name
            body.append(model)
        body.append(_digest_line(line))
    firing = sum(1 for ln in lines if ln.periods)
    resolved = len(lines) - firing
    title = f"[modelmon] daily digest {day.isoformat()}: {firing} warning(s), {resolved} resolved"
    return Notification(
        notification_id=nid,
        route=route,
        kind=DIGEST,
        model_name="",
        title=title,
        body="\n".join([*body, "", f"notification id: {nid}"]),
        notify_type="warning" if firing else "info",
        alert_ids=tuple(ln.alert.alert_id for ln in ordered),
        created_at=now,
    )
