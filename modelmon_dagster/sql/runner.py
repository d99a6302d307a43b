"""Execute a rendered SQL model: replace one partition window of its table, atomically."""

import datetime as dt
import re

from modelmon_dagster.baseline import Baseline
from modelmon_dagster.blocked import BLOCKED_COLUMNS, blocked_rows_cleanup
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.sql.project import SqlModel, SqlProject
from modelmon_dagster.sql.render import render_model
from modelmon_dagster.warehouse import Warehouse, quote

# jaffle-shop shape: every model ends with `select * from final`.
FINAL_SELECT = re.compile(r"select\s+\*\s+from\s+final\s*$", re.IGNORECASE)


def run_model_window(
    warehouse: Warehouse,
    project: SqlProject,
    sql_model: SqlModel,
    model: ModelConfig,
    window_start: dt.datetime,
    window_end: dt.datetime,
    baseline: Baseline | None = None,
) -> int:
    """Replace ``sql_model``'s rows of ``model`` in ``[window_start, window_end)``.

    The delete and the insert run in one transaction: a failing query leaves the previous rows
    of the window in place, and running the same window twice leaves the same table.

    Returns
    -------
    int
        Rows written.
    """
    rendered = render_model(
        project, sql_model, model, window_start, window_end, baseline, dialect=warehouse.dialect
    )
    time_col = quote(sql_model.time_column)
    where = f"model_name = :model_name AND {time_col} >= :window_start AND {time_col} < :window_end"
    select_cols = ", ".join(quote(c) for c in sql_model.schema.column_names)
    body = rendered.sql.rstrip().rstrip(";")
    if FINAL_SELECT.search(body):
        # Keep the model's CTEs at the top level: wrapped in a subquery, DuckDB ignores
        # "AS MATERIALIZED" and recomputes shared CTEs (3x slower for the histograms).
        insert_sql = FINAL_SELECT.sub(f"select {select_cols} from final", body)
    else:
        insert_sql = f"SELECT {select_cols} FROM ({body}) AS rendered_model"
    cleanup = blocked_rows_cleanup(sql_model)
    if cleanup is not None:
        warehouse.ensure_schema(BLOCKED_COLUMNS)
    return warehouse.replace_rows(
        sql_model.schema, where, rendered.params, insert_sql=insert_sql, cleanup_sql=cleanup
    )
