"""The dbt_like_sql runner: parse models, render them, and replace partitions in the warehouse."""

from modelmon_dagster.sql.project import SqlModel, SqlProject, SqlProjectError
from modelmon_dagster.sql.render import RenderedSql, render_model
from modelmon_dagster.sql.runner import run_model_window

__all__ = [
    "RenderedSql",
    "SqlModel",
    "SqlProject",
    "SqlProjectError",
    "render_model",
    "run_model_window",
]
