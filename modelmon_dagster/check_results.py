"""Every check evaluation, per model, check and partition, kept in the warehouse (no Dagster).

Dagster shows check results per asset; people, alerts and dashboards need them per partition,
including the ones Dagster does not record (backfills log only failures and recoveries, see
``defs/checks.py``) and the ones that could not judge. ``check_results`` holds the latest
evaluation of each (model, asset, check, partition): rerunning a partition replaces its rows.
"""

import datetime as dt
import json
import math
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.warehouse import TableSchema, Warehouse

CHECK_RESULTS = TableSchema(
    "check_results",
    (
        ("model_name", "VARCHAR"),
        ("asset_name", "VARCHAR"),
        ("check_name", "VARCHAR"),
        ("grain", "VARCHAR"),  # hourly or daily
        ("partition_key", "VARCHAR"),
        ("period_start", "TIMESTAMP"),
        ("status", "VARCHAR"),  # passed, failed or not_judged
        ("severity", "VARCHAR"),
        ("description", "VARCHAR"),
        ("metadata", "VARCHAR"),  # JSON
        ("run_id", "VARCHAR"),
        ("evaluated_at", "TIMESTAMP"),
    ),
)
PERIOD_LENGTH = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1)}


@dataclass(frozen=True)
class CheckEvaluation:
    """One check's outcome on one partition, as stored in ``check_results``."""

    model_name: str
    asset_name: str
    grain: str
    partition_key: str
    period_start: dt.datetime
    outcome: CheckOutcome
    run_id: str | None
    evaluated_at: dt.datetime

    @property
    def check_name(self) -> str:
        """The check's name (e.g. ``feature_drift``)."""
        return self.outcome.name

    @property
    def period_end(self) -> dt.datetime:
        """The end of the partition judged (its start plus an hour or a day)."""
        return self.period_start + PERIOD_LENGTH[self.grain]

    def row(self) -> dict:
        """The table row of this evaluation."""
        return {
            "model_name": self.model_name,
            "asset_name": self.asset_name,
            "check_name": self.outcome.name,
            "grain": self.grain,
            "partition_key": self.partition_key,
            "period_start": self.period_start,
            "status": self.outcome.status,
            "severity": self.outcome.severity,
            "description": self.outcome.description,
            "metadata": json.dumps(_jsonable(self.outcome.metadata), sort_keys=True),
            "run_id": self.run_id,
            "evaluated_at": self.evaluated_at,
        }


def _jsonable(value):
    """Metadata as strict JSON: NaN and infinities become null, unknown objects strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


def _where(model_name: str, grain: str, checks: list[tuple[str, str]], start, end):
    pairs = " OR ".join(f"(asset_name = :a{i} AND check_name = :c{i})" for i in range(len(checks)))
    params = {"m": model_name, "g": grain, "s": start, "e": end}
    for i, (asset, check) in enumerate(checks):
        params |= {f"a{i}": asset, f"c{i}": check}
    where = (
        f"model_name = :m AND grain = :g AND period_start >= :s AND period_start < :e AND ({pairs})"
    )
    return where, params


def previous_statuses(
    warehouse: Warehouse,
    model_name: str,
    grain: str,
    checks: list[tuple[str, str]],
    start: dt.datetime,
    end: dt.datetime,
) -> dict[tuple[str, str, str], str]:
    """``(asset, check, partition_key) -> status`` recorded so far for a window."""
    if not checks or not warehouse.table_exists(CHECK_RESULTS.name):
        return {}
    where, params = _where(model_name, grain, checks, start, end)
    frame = warehouse.query_df(
        "SELECT asset_name, check_name, partition_key, status FROM check_results WHERE " + where,
        params,
    )
    return {(r.asset_name, r.check_name, r.partition_key): r.status for r in frame.itertuples()}


def record_evaluations(
    warehouse: Warehouse,
    model_name: str,
    grain: str,
    checks: list[tuple[str, str]],
    start: dt.datetime,
    end: dt.datetime,
    evaluations: list[CheckEvaluation],
) -> int:
    """Replace the window's rows of ``checks`` (``(asset, check)`` pairs) by ``evaluations``."""
    if not checks:
        return 0
    where, params = _where(model_name, grain, checks, start, end)
    frame = pd.DataFrame([e.row() for e in evaluations], columns=CHECK_RESULTS.column_names)
    return warehouse.replace_rows(
        CHECK_RESULTS,
        where,
        params,
        rows=pa.Table.from_pandas(frame, preserve_index=False),
    )


def latest_results(
    warehouse: Warehouse,
    model_name: str | None = None,
    since: dt.datetime | None = None,
    statuses: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Stored evaluations (optionally one model's, from ``since``, with some statuses)."""
    if not warehouse.table_exists(CHECK_RESULTS.name):
        return pd.DataFrame(columns=CHECK_RESULTS.column_names)
    clauses, params = [], {}
    if model_name is not None:
        clauses.append("model_name = :m")
        params["m"] = model_name
    if since is not None:
        clauses.append("period_start >= :since")
        params["since"] = since
    if statuses:
        names = [f":st{i}" for i in range(len(statuses))]
        clauses.append(f"status IN ({', '.join(names)})")
        params |= {f"st{i}": s for i, s in enumerate(statuses)}
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return warehouse.query_df(
        f"SELECT * FROM check_results{where} ORDER BY period_start, model_name, check_name",
        params,
    )
