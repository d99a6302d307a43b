"""Columns the hourly schema check blocked, per model and hour (no Dagster).

A schema problem in one feature must not blind monitoring of the others: ingestion records
which columns of an hour are broken (``*``: the whole record shape), and the hourly SQL models
that describe columns leave exactly those (hour, column) rows out (yml ``blocked_by_schema``).
Drift then reports a blocked column as "blocked", not as "no data" or "no drift".
"""

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from modelmon_dagster.warehouse import TableSchema, Warehouse, quote

if TYPE_CHECKING:  # the SQL runner imports this module
    from modelmon_dagster.sql.project import SqlModel

ALL_COLUMNS = "*"
BLOCKED_COLUMNS = TableSchema(
    "hourly_blocked_columns",
    (
        ("model_name", "VARCHAR"),
        ("hour_start", "TIMESTAMP"),
        ("column_name", "VARCHAR"),  # a monitored column, or * for every column
        ("reason", "VARCHAR"),
    ),
)


def write_blocked(
    warehouse: Warehouse,
    model_name: str,
    start: dt.datetime,
    end: dt.datetime,
    blocked: dict[dt.datetime, dict[str, str]],
) -> int:
    """Replace the blocked columns of ``model_name``'s hours in ``[start, end)``."""
    rows = [
        {"model_name": model_name, "hour_start": hour, "column_name": column, "reason": reason}
        for hour, columns in sorted(blocked.items())
        for column, reason in sorted(columns.items())
    ]
    frame = pd.DataFrame(rows, columns=BLOCKED_COLUMNS.column_names)
    return warehouse.replace_rows(
        BLOCKED_COLUMNS,
        "model_name = :m AND hour_start >= :s AND hour_start < :e",
        {"m": model_name, "s": start, "e": end},
        rows=pa.Table.from_pandas(frame, preserve_index=False),
    )


def blocked_in(
    warehouse: Warehouse, model_name: str, start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, dict[str, str]]:
    """``hour -> {column: reason}`` for the blocked columns of hours in ``[start, end)``."""
    if not warehouse.table_exists(BLOCKED_COLUMNS.name):
        return {}
    frame = warehouse.query_df(
        "SELECT hour_start, column_name, reason FROM hourly_blocked_columns "
        "WHERE model_name = :m AND hour_start >= :s AND hour_start < :e",
        {"m": model_name, "s": start, "e": end},
    )
    out: dict[dt.datetime, dict[str, str]] = {}
    for row in frame.itertuples():
        out.setdefault(pd.Timestamp(row.hour_start).to_pydatetime(), {})[row.column_name] = (
            row.reason
        )
    return out


def blocked_rows_cleanup(sql_model: "SqlModel") -> str | None:
    """``DELETE`` of the window's rows that describe a blocked column (None if not blockable).

    Runs after the model's insert in the same transaction, with the runner's bound
    ``:model_name``, ``:window_start`` and ``:window_end``.
    """
    if not sql_model.blocked_by_schema:
        return None
    table, time_col = quote(sql_model.name), quote(sql_model.time_column)
    named = " OR ".join(f"b.column_name = t.{quote(c)}" for c in sql_model.blocked_by_schema)
    return (
        f"DELETE FROM {table} AS t WHERE t.model_name = :model_name "
        f"AND t.{time_col} >= :window_start AND t.{time_col} < :window_end "
        f"AND EXISTS (SELECT 1 FROM {quote(BLOCKED_COLUMNS.name)} AS b "
        f"WHERE b.model_name = t.model_name AND b.hour_start = t.{time_col} "
        f"AND (b.column_name = '{ALL_COLUMNS}' OR {named}))"
    )
