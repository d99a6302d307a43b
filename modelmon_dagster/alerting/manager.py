"""The alert manager: signals in, alert state and queued notifications out, then delivery.

Three calls, each a few lines in a Dagster step::

    manager = AlertManager(warehouse, monitoring_config)
    processed = manager.process(signals, now)       # alerts + grouped notifications queued
    delivered = manager.flush(now)                  # try what is queued and due
    manager.daily_digest(day, now)                  # after the day: queue each route's digest

Delivery guarantee: **at least once, with a stable notification id** in every message (the
text's last line; JSON/XML/form targets also get a ``notification_id`` field) that receivers
can deduplicate on. A notification is queued in the same transaction as the alert change that
caused it, so no decision is lost; it leaves the queue only when a delivery succeeded, and
that success is recorded (status, time, attempts) in one transaction. It can arrive twice only
if the process dies between the receiver's answer and that commit, or if the receiver
processed a request it then failed to acknowledge (an error or a timeout): both are then sent
again with the same id. Concurrent flushers claim whole routes (under an advisory lock on
PostgreSQL) with a lease of ``DeliveryPolicy.lease``, so two flushers never send the same
notification at the same time; a flusher that dies, or outlives its lease while still sending,
leaves its routes to the next flusher, which may repeat what it had sent but not recorded.
"""

import datetime as dt
import logging
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelmon_dagster.alerting import decide, store
from modelmon_dagster.alerting.config import DIGEST, AlertingConfig
from modelmon_dagster.alerting.delivery import send
from modelmon_dagster.alerting.messages import DigestLine, render_alerts, render_digest
from modelmon_dagster.alerting.reports import DeliveryReport, DigestReport, ProcessReport
from modelmon_dagster.alerting.signals import FIRING, NOT_JUDGED, Signal, naive_utc
from modelmon_dagster.warehouse import Warehouse

if TYPE_CHECKING:
    from modelmon_dagster.config import MonitoringConfig

log = logging.getLogger(__name__)
NO_TARGET = "no target configured"


def _alerting_by_model(models_config: Any) -> dict[str, AlertingConfig]:
    if isinstance(models_config, Mapping):
        return dict(models_config)
    models = getattr(models_config, "models", models_config)
    return {m.name: m.alerting for m in models}


class AlertManager:
    """Alerts of every monitored model, kept in the warehouse, routed through an outbox.

    Parameters
    ----------
    warehouse : Warehouse
        Where ``alerts``, ``alert_observations`` and ``alert_outbox`` live.
    models_config : MonitoringConfig, iterable of ModelConfig, or mapping name → AlertingConfig
        Each model's ``alerting`` config; a model missing from it gets the defaults.
    environ : mapping, optional
        Where route variables are looked up at delivery (default: ``os.environ`` at that
        time). Values are used to send and are never logged, stored or returned.
    policy : DeliveryPolicy, optional
        Retry backoff, claim lease and per-send timeout.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        models_config: "MonitoringConfig | Iterable[Any] | Mapping[str, AlertingConfig]",
        *,
        environ: Mapping[str, str] | None = None,
        policy: decide.DeliveryPolicy | None = None,
    ):
        self.warehouse = warehouse
        self.configs = _alerting_by_model(models_config)
        self._environ = environ
        self.policy = policy or decide.DeliveryPolicy()
        self._tables_ready = False

    def __repr__(self) -> str:
        return f"AlertManager(models={sorted(self.configs)}, warehouse={self.warehouse.dialect})"

    def config_for(self, model_name: str) -> AlertingConfig:
        """The model's alerting config (defaults for a model the config does not list)."""
        return self.configs.get(model_name) or AlertingConfig()

    def _ensure_tables(self) -> None:
        if not self._tables_ready:
            store.ensure_tables(self.warehouse)
            self._tables_ready = True

    # -- signals -----------------------------------------------------------------------------
    def process(self, signals: Iterable[Signal], now: dt.datetime) -> ProcessReport:
        """Apply signals to the alerts and queue the pass's grouped notifications.

        All models' changes and notifications commit in one transaction (on PostgreSQL under a
        per-model advisory lock), so a pass is applied whole or not at all and two passes over
        the same model do not interleave. Signals are applied per key in period order.
        """
        now = naive_utc(now)
        signals = list(signals)
        by_model: dict[str, list[Signal]] = defaultdict(list)
        for signal in signals:
            by_model[signal.model_name].append(signal)
        self._ensure_tables()
        events: Counter = Counter()
        muted: Counter = Counter()
        queued: list[str] = []
        with self.warehouse.transaction() as conn:
            store.lock(conn, self.warehouse, (f"model:{m}" for m in by_model))
            for model_name in sorted(by_model):
                queued += self._process_model(
                    conn, model_name, by_model[model_name], now, events, muted
                )
        report = ProcessReport(
            signals=len(signals),
            events=dict(events),
            inhibited=muted[decide.INHIBITED],
            silenced=muted[decide.SILENCED],
            queued=tuple(queued),
        )
        log.info("alerts: %s", report.as_metadata())
        return report

    def _process_model(self, conn, model_name, signals, now, events, muted) -> list[str]:
        config = self.config_for(model_name)
        not_judged = sum(s.state == NOT_JUDGED for s in signals)
        if not_judged:
            events["not_judged"] += not_judged
        judged = sorted(
            (s for s in signals if s.state != NOT_JUDGED),
            key=lambda s: (s.period_start, s.observed_at),
        )
        latest = store.latest_alerts(conn, model_name)
        stored = store.period_observations(conn, model_name, {s.period for s in judged})
        period_state = {(o["alert_id"], o["period"]): o["state"] for o in stored}
        firing_sources = _firing_sources(stored, judged)

        touched: dict[str, decide.AlertState] = {}
        what: dict[str, str] = {}
        observations: dict[tuple[str, str], decide.Observation] = {}
        for signal in judged:
            current = latest.get(signal.key)
            is_open = current is not None and current.is_open
            how = (
                decide.disposition(signal, config, firing_sources, now)
                if signal.state == FIRING
                else (decide.NOTIFY, "")
            )
            step = decide.apply_signal(
                current if is_open else None,
                None if is_open else current,
                signal,
                how,
                period_state.get((current.alert_id, signal.period)) if is_open else None,
                now,
            )
            events[step.event] += 1
            if step.alert is None:
                continue
            if signal.state == FIRING and how[0] != decide.NOTIFY:
                muted[how[0]] += 1
            alert = step.alert
            latest[signal.key] = alert
            touched[alert.alert_id] = alert
            observations[(alert.alert_id, signal.period)] = step.observation
            period_state[(alert.alert_id, signal.period)] = signal.state
            if step.event == "resolved":
                what[alert.alert_id] = decide.RESOLVED
            elif signal.state == FIRING:
                what[alert.alert_id] = "firing"

        items, told = decide.plan_notifications(
            [(touched[a], w) for a, w in what.items()], config, now
        )
        touched |= {a.alert_id: a for a in told}
        by_route: dict[str, list[decide.Item]] = defaultdict(list)
        for item in items:
            by_route[item.route].append(item)
        notifications = [
            render_alerts(model_name, route, route_items, now)
            for route, route_items in sorted(by_route.items())
        ]
        store.write_alerts(conn, touched.values())
        store.write_observations(conn, observations.values(), now)
        store.enqueue(conn, notifications)
        return [n.notification_id for n in notifications]

    # -- digest ------------------------------------------------------------------------------
    def daily_digest(self, day: dt.date, now: dt.datetime) -> DigestReport:
        """Queue one digest per digest route for ``day`` (UTC), listing its warnings.

        A digest lists, per model routed to it, the alerts with unmuted firing observations
        of the route's severities recorded by passes during ``day``, and the alerts resolved
        during ``day`` that had such observations. Build it after the day is over: an
        observation belongs to the day its pass ran, so nothing recorded later is missed (it
        goes into the next day's digest). Calling it again for the same day queues nothing
        new (the digest id is deterministic).
        """
        now = naive_utc(now)
        start = dt.datetime.combine(day, dt.time())
        end = start + dt.timedelta(days=1)
        self._ensure_tables()
        outcome: dict[str, str] = {}
        with self.warehouse.transaction() as conn:
            store.lock(conn, self.warehouse, [f"digest:{day.isoformat()}"])
            lines_by_route = self._digest_lines(conn, start, end)
            routes = {
                r.url_env for c in self.configs.values() for r in c.routes if r.delivery == DIGEST
            } | set(lines_by_route)
            for route in sorted(routes):
                nid = decide.digest_id(route, day)
                if store.in_outbox(conn, nid):
                    outcome[route] = f"already queued: {nid}"
                    continue
                notification = render_digest(route, day, lines_by_route.get(route, []), now)
                if notification is None:
                    outcome[route] = "nothing to report"
                    continue
                store.enqueue(conn, [notification])
                outcome[route] = f"queued: {nid}"
        report = DigestReport(day=day, routes=outcome)
        log.info("alert digest: %s", report.as_metadata())
        return report

    def _digest_lines(self, conn, start, end) -> dict[str, list[DigestLine]]:
        firing = store.notified_firing_between(conn, start, end)
        resolved = store.resolved_between(conn, start, end)
        fired_at = store.notified_severities(conn, [a.alert_id for a in resolved])
        alerts = store.alerts_by_id(conn, {row["alert_id"] for row in firing})
        periods: dict[tuple[str, str], list[str]] = defaultdict(list)
        for row in firing:
            config = self.config_for(row["model_name"])
            for route in config.routes_for(DIGEST, row["severity"]):
                periods[(route.url_env, row["alert_id"])].append(row["period"])
        lines: dict[str, list[DigestLine]] = defaultdict(list)
        for (route, alert_id), alert_periods in periods.items():
            unique = tuple(dict.fromkeys(alert_periods))
            lines[route].append(DigestLine(alerts[alert_id], unique))
        for alert in resolved:
            for route in self.config_for(alert.model_name).routes:
                told = route.delivery == DIGEST and fired_at.get(alert.alert_id, set()) & set(
                    route.severities
                )
                if told and (route.url_env, alert.alert_id) not in periods:
                    lines[route.url_env].append(DigestLine(alert, ()))
        return lines

    # -- delivery ----------------------------------------------------------------------------
    def flush(self, now: dt.datetime, *, limit: int = 200) -> DeliveryReport:
        """Try to deliver what is queued and due, oldest first, at most ``limit`` sends.

        Per route the queue is first in, first out: a notification that is not due yet (it
        failed and waits for its backoff) or fails now holds back the later ones of its route,
        so a resolve never overtakes the alert it resolves and a receiver that is down costs
        one attempt per flush. A route whose variable is unset keeps its notifications queued
        and is reported as "no target configured".
        """
        now = naive_utc(now)
        self._ensure_tables()
        environ = os.environ if self._environ is None else self._environ
        token = uuid.uuid4().hex
        claimed = store.claim(self.warehouse, token, now, now + self.policy.lease)
        by_route: dict[str, list[dict]] = defaultdict(list)
        for row in claimed:
            by_route[row["route"]].append(row)
        flush = _Flush(token=token, now=now, budget=limit)
        try:
            for route, rows in sorted(by_route.items()):
                url = environ.get(route, "").strip()
                flush.routes[route] = (
                    self._send_route(flush, url, rows)
                    if url
                    else self._no_target(flush, route, rows)
                )
        finally:
            store.release(self.warehouse, token)
        report = DeliveryReport(
            delivered=tuple(flush.delivered),
            failed=flush.failed,
            routes=flush.routes,
            queued=store.queued_count(self.warehouse),
        )
        log.info("alert outbox: %s", report.as_metadata())
        return report

    def _no_target(self, flush: "_Flush", route: str, rows: list[dict]) -> str:
        reason = f"{NO_TARGET} ({route} is not set)"
        for row in rows:
            store.finish(
                self.warehouse,
                row["notification_id"],
                flush.token,
                now=flush.now,
                delivered=False,
                attempted=False,
                error=reason,
            )
        return NO_TARGET

    def _send_route(self, flush: "_Flush", url: str, rows: list[dict]) -> str:
        for row in rows:
            if row["next_attempt_at"] > flush.now:
                return f"waiting until {row['next_attempt_at']:%Y-%m-%d %H:%M:%S}"
            if flush.budget <= 0:
                return "waiting: this flush reached its send limit"
            flush.budget -= 1
            nid = row["notification_id"]
            result = send(
                url,
                title=row["title"],
                body=row["body"],
                notify_type=row["notify_type"],
                notification_id=nid,
                timeout=self.policy.timeout_seconds,
            )
            retry_at = (
                None if result.ok else self.policy.next_attempt(row["attempts"] + 1, flush.now)
            )
            store.finish(
                self.warehouse,
                nid,
                flush.token,
                now=flush.now,
                delivered=result.ok,
                attempted=True,
                error=result.error or None,
                next_attempt_at=retry_at,
            )
            if result.ok:
                flush.delivered.append(nid)
                continue
            flush.failed[nid] = result.error
            return f"failing: {result.error}"
        return "ok"


@dataclass
class _Flush:
    """What one flush has done so far."""

    token: str
    now: dt.datetime
    budget: int
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)


def _firing_sources(stored: list[dict], judged: list[Signal]) -> dict[str, frozenset[str]]:
    """Period → names firing in it: stored observations, overridden by this pass's signals."""
    state = {(o["period"], o["name"], o["dimension"]): o["state"] for o in stored}
    for signal in judged:  # in period and observation order: the last word wins
        state[(signal.period, signal.name, signal.dimension)] = signal.state
    out: dict[str, set[str]] = defaultdict(set)
    for (period, name, _), value in state.items():
        if value == FIRING:
            out[period].add(name)
    return {p: frozenset(n) for p, n in out.items()}
