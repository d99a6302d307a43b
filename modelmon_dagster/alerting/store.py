"""Alert state in the warehouse: tables, locks, and the few statements that read and write them.

Three tables, portable across DuckDB and PostgreSQL, each with a unique index on its key:

``alerts``
    One row per alert (an episode of a dedup key (model, name, dimension) from open to
    resolved), key ``alert_id``.
``alert_observations``
    The latest judgement of each period of an alert (firing, with its disposition, or the ok
    that cleared or resolved it), key (``alert_id``, ``period``). Rerunning a partition
    replaces its row, so counts do not double.
``alert_outbox``
    Notifications waiting for delivery or delivered, key ``notification_id``. ``route`` names
    the environment variable of the target; the URL is never stored.
"""

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from modelmon_dagster.alerting.decide import AlertState, Observation, stable_id
from modelmon_dagster.alerting.messages import Notification
from modelmon_dagster.warehouse import TableSchema, Warehouse, quote

V, T, N = "VARCHAR", "TIMESTAMP", "BIGINT"

ALERTS = TableSchema(
    "alerts",
    (
        ("alert_id", V),
        ("seq", N),
        ("model_name", V),
        ("name", V),
        ("dimension", V),
        ("source", V),
        ("status", V),
        ("severity", V),
        ("max_severity", V),
        ("opened_at", T),
        ("first_seen", T),
        ("last_seen", T),
        ("first_period", V),
        ("first_period_start", T),
        ("last_period", V),
        ("last_period_start", T),
        ("firing_count", N),
        ("suppressed_by", V),
        ("summary", V),
        ("details", V),
        ("last_run_id", V),
        ("last_notified_at", T),
        ("notified_severity", V),
        ("notified_routes", V),
        ("notify_count", N),
        ("resolved_at", T),
        ("resolved_period", V),
        ("resolved_period_start", T),
        ("updated_at", T),
    ),
)

OBSERVATIONS = TableSchema(
    "alert_observations",
    (
        ("alert_id", V),
        ("model_name", V),
        ("name", V),
        ("dimension", V),
        ("period", V),
        ("period_start", T),
        ("state", V),
        ("severity", V),
        ("disposition", V),
        ("reason", V),
        ("summary", V),
        ("observed_at", T),
        ("recorded_at", T),
        ("run_id", V),
    ),
)

OUTBOX = TableSchema(
    "alert_outbox",
    (
        ("notification_id", V),
        ("route", V),
        ("kind", V),
        ("model_name", V),
        ("title", V),
        ("body", V),
        ("notify_type", V),
        ("alert_ids", V),
        ("created_at", T),
        ("status", V),
        ("attempts", N),
        ("next_attempt_at", T),
        ("last_attempt_at", T),
        ("last_error", V),
        ("delivered_at", T),
        ("claimed_by", V),
        ("claimed_until", T),
    ),
)

KEYS = {ALERTS: ("alert_id",), OBSERVATIONS: ("alert_id", "period"), OUTBOX: ("notification_id",)}
QUEUED, DELIVERED = "queued", "delivered"


def ensure_tables(warehouse: Warehouse) -> None:
    """Create the three tables and their unique keys if missing (idempotent)."""
    with warehouse.transaction() as conn:
        lock(conn, warehouse, ["tables"])  # two first-time callers must not race on DDL
        for schema, key in KEYS.items():
            warehouse.ensure_table(conn, schema)
            cols = ", ".join(quote(c) for c in key)
            conn.execute(
                sa.text(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(schema.name + '_key')} "
                    f"ON {quote(schema.name)} ({cols})"
                )
            )


def lock(conn: sa.Connection, warehouse: Warehouse, names: Iterable[str]) -> None:
    """Serialise writers of the same names until the transaction ends (PostgreSQL).

    DuckDB allows one writing process per file, so there is nothing to lock there.
    """
    if warehouse.dialect != "postgresql":
        return
    for name in sorted(set(names)):  # one order everywhere: no deadlock between two passes
        key = int(stable_id("modelmon-alerts", name, length=15), 16)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _upsert(conn: sa.Connection, schema: TableSchema, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    key = KEYS[schema]
    cols = schema.column_names
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in cols if c not in key)
    conn.execute(
        sa.text(
            f"INSERT INTO {quote(schema.name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join(':' + c for c in cols)}) "
            f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {updates}"
        ),
        list(rows),
    )


# -- alerts ----------------------------------------------------------------------------------
def _alert_row(alert: AlertState) -> dict[str, Any]:
    row = {c: getattr(alert, c) for c in ALERTS.column_names}
    row["details"] = json.dumps(alert.details, sort_keys=True, default=str)
    row["notified_routes"] = ",".join(sorted(alert.notified_routes))
    return row


def _alert_from_row(row: dict[str, Any]) -> AlertState:
    values = dict(row)
    values["details"] = json.loads(values["details"] or "{}")
    values["notified_routes"] = frozenset(
        r for r in (values["notified_routes"] or "").split(",") if r
    )
    return AlertState(**values)


def write_alerts(conn: sa.Connection, alerts: Iterable[AlertState]) -> None:
    """Insert or update alerts by id."""
    _upsert(conn, ALERTS, [_alert_row(a) for a in alerts])


def _select_alerts(conn: sa.Connection, where: str, params: dict, expanding=()) -> list[AlertState]:
    cols = ", ".join(quote(c) for c in ALERTS.column_names)
    stmt = sa.text(f"SELECT {cols} FROM alerts WHERE {where}")
    if expanding:
        stmt = stmt.bindparams(*(sa.bindparam(name, expanding=True) for name in expanding))
    return [_alert_from_row(r._mapping) for r in conn.execute(stmt, params)]


def latest_alerts(conn: sa.Connection, model_name: str) -> dict[tuple, AlertState]:
    """The newest alert of every dedup key of a model (open, or the last resolved one)."""
    alerts = _select_alerts(
        conn,
        "model_name = :model AND seq = (SELECT max(b.seq) FROM alerts b "
        "WHERE b.model_name = alerts.model_name AND b.name = alerts.name "
        "AND b.dimension = alerts.dimension)",
        {"model": model_name},
    )
    return {a.key: a for a in alerts}


def alerts_by_id(conn: sa.Connection, ids: Iterable[str]) -> dict[str, AlertState]:
    """Alerts by id."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    alerts = _select_alerts(conn, "alert_id IN :ids", {"ids": ids}, expanding=("ids",))
    return {a.alert_id: a for a in alerts}


def resolved_between(conn: sa.Connection, start: dt.datetime, end: dt.datetime) -> list[AlertState]:
    """Alerts resolved by a pass whose time lies in [start, end)."""
    return _select_alerts(
        conn,
        "status = 'resolved' AND resolved_at >= :start AND resolved_at < :end",
        {"start": start, "end": end},
    )


# -- observations ----------------------------------------------------------------------------
def write_observations(
    conn: sa.Connection, observations: Iterable[Observation], now: dt.datetime
) -> None:
    """Insert or replace the observation of each (alert, period)."""
    rows = []
    for obs in observations:
        s = obs.signal
        rows.append(
            {
                "alert_id": obs.alert_id,
                "model_name": s.model_name,
                "name": s.name,
                "dimension": s.dimension,
                "period": s.period,
                "period_start": s.period_start,
                "state": s.state,
                "severity": s.severity,
                "disposition": obs.disposition,
                "reason": obs.reason,
                "summary": s.summary,
                "observed_at": s.observed_at,
                "recorded_at": now,
                "run_id": s.run_id,
            }
        )
    _upsert(conn, OBSERVATIONS, rows)


def period_observations(
    conn: sa.Connection, model_name: str, periods: Iterable[str]
) -> list[dict[str, Any]]:
    """Stored observations of a model in the given periods, oldest judgement first."""
    periods = sorted(set(periods))
    if not periods:
        return []
    stmt = sa.text(
        "SELECT alert_id, name, dimension, period, state FROM alert_observations "
        "WHERE model_name = :model AND period IN :periods ORDER BY recorded_at"
    ).bindparams(sa.bindparam("periods", expanding=True))
    return [dict(r._mapping) for r in conn.execute(stmt, {"model": model_name, "periods": periods})]


def notified_firing_between(
    conn: sa.Connection, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Firing, not muted observations recorded in [start, end), oldest period first."""
    rows = conn.execute(
        sa.text(
            "SELECT alert_id, model_name, period, period_start, severity "
            "FROM alert_observations WHERE state = 'firing' AND disposition = 'notify' "
            "AND recorded_at >= :start AND recorded_at < :end ORDER BY period_start, period"
        ),
        {"start": start, "end": end},
    )
    return [dict(r._mapping) for r in rows]


def notified_severities(conn: sa.Connection, alert_ids: Iterable[str]) -> dict[str, set[str]]:
    """Severities at which each alert fired without being muted."""
    ids = sorted(set(alert_ids))
    if not ids:
        return {}
    stmt = sa.text(
        "SELECT DISTINCT alert_id, severity FROM alert_observations "
        "WHERE alert_id IN :ids AND state = 'firing' AND disposition = 'notify'"
    ).bindparams(sa.bindparam("ids", expanding=True))
    out: dict[str, set[str]] = {}
    for alert, severity in conn.execute(stmt, {"ids": ids}):
        out.setdefault(alert, set()).add(severity)
    return out


# -- outbox ----------------------------------------------------------------------------------
def enqueue(conn: sa.Connection, notifications: Iterable[Notification]) -> None:
    """Queue notifications; one whose id is already in the outbox is left as it is."""
    rows = [
        {
            "notification_id": n.notification_id,
            "route": n.route,
            "kind": n.kind,
            "model_name": n.model_name,
            "title": n.title,
            "body": n.body,
            "notify_type": n.notify_type,
            "alert_ids": ",".join(n.alert_ids),
            "created_at": n.created_at,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": n.created_at,
            "last_attempt_at": None,
            "last_error": None,
            "delivered_at": None,
            "claimed_by": None,
            "claimed_until": None,
        }
        for n in notifications
    ]
    if not rows:
        return
    cols = OUTBOX.column_names
    conn.execute(
        sa.text(
            f"INSERT INTO alert_outbox ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join(':' + c for c in cols)}) "
            "ON CONFLICT (notification_id) DO NOTHING"
        ),
        rows,
    )


def in_outbox(conn: sa.Connection, notification_id: str) -> bool:
    """Whether a notification with this id was ever queued."""
    return bool(
        conn.execute(
            sa.text("SELECT count(*) FROM alert_outbox WHERE notification_id = :id"),
            {"id": notification_id},
        ).scalar()
    )


def claim(
    warehouse: Warehouse, token: str, now: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Claim, for one flusher, every queued notification of each route nobody else holds.

    A route is claimed whole, so one flusher at a time sends a route's queue, oldest first: a
    resolve cannot overtake its alert through another flusher. The claim holds until
    ``until`` (a crashed flusher's routes are free again after that). On PostgreSQL the claim
    runs under a transaction-level advisory lock: a second flusher's claim starts after the
    first one committed, sees its claims, and takes only other routes.
    """
    with warehouse.transaction() as conn:
        lock(conn, warehouse, ["outbox-claim"])
        conn.execute(
            sa.text(
                "UPDATE alert_outbox SET claimed_by = :token, claimed_until = :until "
                "WHERE status = 'queued' AND route IN (SELECT route FROM alert_outbox "
                "WHERE status = 'queued' GROUP BY route "
                "HAVING count(CASE WHEN claimed_until > :now THEN 1 END) = 0)"
            ),
            {"token": token, "until": until, "now": now},
        )
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT notification_id, route, kind, title, body, notify_type, attempts, "
                "next_attempt_at FROM alert_outbox WHERE claimed_by = :token AND status = 'queued' "
                "ORDER BY created_at, notification_id"
            ),
            {"token": token},
        )
        return [dict(r._mapping) for r in rows]


def finish(
    warehouse: Warehouse,
    notification_id: str,
    token: str,
    *,
    now: dt.datetime,
    delivered: bool,
    attempted: bool,
    next_attempt_at: dt.datetime | None = None,
    error: str | None = None,
) -> None:
    """Record one outcome and release the claim, in one transaction.

    Delivered: status, delivery time and attempt count change together. Failed: the attempt is
    counted and the next one scheduled. Not attempted (no target): only the reason is kept.
    """
    with warehouse.transaction() as conn:
        conn.execute(
            sa.text(
                "UPDATE alert_outbox SET "
                "status = CASE WHEN :delivered THEN 'delivered' ELSE status END, "
                "delivered_at = CASE WHEN :delivered THEN :now ELSE delivered_at END, "
                "attempts = attempts + CASE WHEN :attempted THEN 1 ELSE 0 END, "
                "last_attempt_at = CASE WHEN :attempted THEN :now ELSE last_attempt_at END, "
                "next_attempt_at = coalesce(:next_at, next_attempt_at), "
                "last_error = :error, claimed_by = NULL, claimed_until = NULL "
                "WHERE notification_id = :id AND claimed_by = :token"
            ),
            {
                "delivered": delivered,
                "attempted": attempted,
                "now": now,
                "next_at": next_attempt_at,
                "error": error,
                "id": notification_id,
                "token": token,
            },
        )


def release(warehouse: Warehouse, token: str) -> None:
    """Give back whatever this flusher claimed and did not finish."""
    with warehouse.transaction() as conn:
        conn.execute(
            sa.text(
                "UPDATE alert_outbox SET claimed_by = NULL, claimed_until = NULL "
                "WHERE claimed_by = :token"
            ),
            {"token": token},
        )


def queued_count(warehouse: Warehouse) -> int:
    """Notifications still waiting for delivery."""
    return int(warehouse.scalar("SELECT count(*) FROM alert_outbox WHERE status = 'queued'"))
