"""The default registry: three tables in the warehouse (DuckDB or PostgreSQL).

``registry_versions`` holds one row per version (its status is updated in place),
``registry_aliases`` one row per (model, alias), and ``registry_events`` the append-only
history. Each operation is one transaction; on PostgreSQL a transaction-scoped advisory lock
serialises writers, so two jobs cannot hand out the same event number.
"""

import datetime as dt
import json
from typing import Any

import pandas as pd
import sqlalchemy as sa

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
from modelmon_dagster.warehouse import TableSchema, Warehouse, quote

VERSIONS = TableSchema(
    "registry_versions",
    (
        ("model_name", "VARCHAR"),
        ("version", "VARCHAR"),
        ("status", "VARCHAR"),
        ("status_reason", "VARCHAR"),
        ("artifact_uri", "VARCHAR"),
        ("trainer", "VARCHAR"),
        ("train_start", "TIMESTAMP"),
        ("train_end", "TIMESTAMP"),
        ("holdout_start", "TIMESTAMP"),
        ("holdout_end", "TIMESTAMP"),
        ("training_metrics", "VARCHAR"),  # JSON
        ("evaluation_metrics", "VARCHAR"),  # JSON
        ("baseline_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("created_by", "VARCHAR"),
        ("updated_at", "TIMESTAMP"),
    ),
)
ALIASES = TableSchema(
    "registry_aliases",
    (
        ("model_name", "VARCHAR"),
        ("alias", "VARCHAR"),
        ("version", "VARCHAR"),
        ("updated_at", "TIMESTAMP"),
    ),
)
EVENTS = TableSchema(
    "registry_events",
    (
        ("model_name", "VARCHAR"),
        ("seq", "BIGINT"),
        ("kind", "VARCHAR"),
        ("version", "VARCHAR"),
        ("from_version", "VARCHAR"),
        ("at", "TIMESTAMP"),  # when the change takes effect (the caller's clock)
        ("recorded_at", "TIMESTAMP"),  # wall clock of the write
        ("actor", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("trigger_check", "VARCHAR"),
        ("trigger_asset", "VARCHAR"),
        ("trigger_partition", "VARCHAR"),
        ("trigger_severity", "VARCHAR"),
        ("trigger_rule", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("details", "VARCHAR"),  # JSON
    ),
)
TABLES = (VERSIONS, ALIASES, EVENTS)


def _ts(value: Any) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def _str(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _window(start: Any, end: Any) -> TimeWindow | None:
    start, end = _ts(start), _ts(end)
    return None if start is None or end is None else TimeWindow(start, end)


def _insert(conn: sa.Connection, schema: TableSchema, row: dict) -> None:
    cols = schema.column_names
    conn.execute(
        sa.text(
            f"INSERT INTO {quote(schema.name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join(f':{c}' for c in cols)})"
        ),
        {c: row.get(c) for c in cols},
    )


class EmbeddedRegistry(Registry):
    """A model registry stored in the monitoring warehouse.

    Parameters
    ----------
    warehouse : Warehouse
        The warehouse (its tables are created on first write).
    """

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def __repr__(self) -> str:
        return f"EmbeddedRegistry({self.warehouse.url!r})"

    # -- reads -----------------------------------------------------------------------------
    def _rows(self, schema: TableSchema, model_name: str, order: str) -> pd.DataFrame:
        if not self.warehouse.table_exists(schema.name):
            return pd.DataFrame(columns=schema.column_names)
        return self.warehouse.query_df(
            f'SELECT * FROM "{schema.name}" WHERE model_name = :m ORDER BY {order}',
            {"m": model_name},
        )

    def _read_versions(self, model_name: str) -> list[ModelVersion]:
        rows = self._rows(VERSIONS, model_name, "created_at, version")
        return [
            ModelVersion(
                model_name=model_name,
                version=str(r["version"]),
                status=VersionStatus(r["status"]),
                status_reason=_str(r["status_reason"]) or "",
                artifact_uri=str(r["artifact_uri"]),
                trainer=_str(r["trainer"]),
                training_window=_window(r["train_start"], r["train_end"]),
                holdout_window=_window(r["holdout_start"], r["holdout_end"]),
                training_metrics=json.loads(_str(r["training_metrics"]) or "{}"),
                evaluation_metrics=json.loads(_str(r["evaluation_metrics"]) or "{}"),
                baseline_id=_str(r["baseline_id"]),
                created_at=_ts(r["created_at"]),
                created_by=str(r["created_by"]),
            )
            for r in rows.to_dict("records")
        ]

    def _read_aliases(self, model_name: str) -> dict[str, str]:
        rows = self._rows(ALIASES, model_name, "alias")
        return dict(zip(rows["alias"].astype(str), rows["version"].astype(str), strict=True))

    def _read_events(self, model_name: str) -> list[RegistryEvent]:
        rows = self._rows(EVENTS, model_name, "seq")
        return [
            RegistryEvent(
                model_name=model_name,
                seq=int(r["seq"]),
                kind=EventKind(r["kind"]),
                version=str(r["version"]),
                from_version=_str(r["from_version"]),
                at=_ts(r["at"]),
                recorded_at=_ts(r["recorded_at"]),
                trigger=Trigger(
                    actor=str(r["actor"]),
                    reason=_str(r["reason"]) or "",
                    check=_str(r["trigger_check"]),
                    asset=_str(r["trigger_asset"]),
                    partition=_str(r["trigger_partition"]),
                    severity=_str(r["trigger_severity"]),
                    rule=_str(r["trigger_rule"]),
                    run_id=_str(r["run_id"]),
                ),
                details=json.loads(_str(r["details"]) or "{}"),
            )
            for r in rows.to_dict("records")
        ]

    # -- writes ----------------------------------------------------------------------------
    def _write(self, model_name: str, change: Change) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.warehouse.transaction() as conn:
            for schema in TABLES:
                self.warehouse.ensure_table(conn, schema)
            if self.warehouse.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('modelmon_registry'))"))
            if change.new_version is not None:
                _insert(conn, VERSIONS, self._version_row(change.new_version, now))
            for version, (status, reason) in change.statuses.items():
                conn.execute(
                    sa.text(
                        "UPDATE registry_versions SET status = :s, status_reason = :r, "
                        "updated_at = :u WHERE model_name = :m AND version = :v"
                    ),
                    {"s": status.value, "r": reason, "u": now, "m": model_name, "v": version},
                )
            for version, values in change.annotations.items():
                updates = {"updated_at": now}
                if "evaluation_metrics" in values:
                    updates["evaluation_metrics"] = to_json(values["evaluation_metrics"])
                if "baseline_id" in values:
                    updates["baseline_id"] = values["baseline_id"]
                assignments = ", ".join(f"{quote(c)} = :{c}" for c in updates)
                conn.execute(
                    sa.text(
                        f"UPDATE registry_versions SET {assignments} "
                        "WHERE model_name = :model_name AND version = :version"
                    ),
                    updates | {"model_name": model_name, "version": version},
                )
            for alias, version in change.aliases.items():
                conn.execute(
                    sa.text("DELETE FROM registry_aliases WHERE model_name = :m AND alias = :a"),
                    {"m": model_name, "a": alias},
                )
                if version is not None:
                    _insert(
                        conn,
                        ALIASES,
                        {"model_name": model_name, "alias": alias, "version": version}
                        | {"updated_at": now},
                    )
            seq = conn.execute(
                sa.text("SELECT coalesce(max(seq), 0) FROM registry_events WHERE model_name = :m"),
                {"m": model_name},
            ).scalar()
            for offset, event in enumerate(change.events, start=1):
                _insert(conn, EVENTS, self._event_row(event, int(seq) + offset, now))

    @staticmethod
    def _version_row(v: ModelVersion, now: dt.datetime) -> dict:
        train, holdout = v.training_window, v.holdout_window
        return {
            "model_name": v.model_name,
            "version": v.version,
            "status": v.status.value,
            "status_reason": v.status_reason,
            "artifact_uri": v.artifact_uri,
            "trainer": v.trainer,
            "train_start": train.start if train else None,
            "train_end": train.end if train else None,
            "holdout_start": holdout.start if holdout else None,
            "holdout_end": holdout.end if holdout else None,
            "training_metrics": to_json(v.training_metrics),
            "evaluation_metrics": to_json(v.evaluation_metrics),
            "baseline_id": v.baseline_id,
            "created_at": v.created_at,
            "created_by": v.created_by,
            "updated_at": now,
        }

    @staticmethod
    def _event_row(e: RegistryEvent, seq: int, now: dt.datetime) -> dict:
        t = e.trigger
        return {
            "model_name": e.model_name,
            "seq": seq,
            "kind": e.kind.value,
            "version": e.version,
            "from_version": e.from_version,
            "at": e.at,
            "recorded_at": now,
            "actor": t.actor,
            "reason": t.reason,
            "trigger_check": t.check,
            "trigger_asset": t.asset,
            "trigger_partition": t.partition,
            "trigger_severity": t.severity,
            "trigger_rule": t.rule,
            "run_id": t.run_id,
            "details": to_json(e.details),
        }
