"""Render a SQL model for one monitored model and one partition window.

Values never enter the SQL text: they become ``:name`` bound parameters. The only things
rendered into the text are identifiers (validated by the config loader, then quoted here) and
SQL built by this module.
"""

import datetime as dt
import functools
from dataclasses import dataclass, field

import jinja2

from modelmon_dagster.baseline import Baseline
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.latency_sql import LATENCY_BIN_SQL
from modelmon_dagster.monitored import monitored_columns
from modelmon_dagster.sql.project import SqlModel, SqlProject
from modelmon_dagster.warehouse import quote


@dataclass(frozen=True)
class RenderedSql:
    """SQL text plus its bound parameters."""

    sql: str
    params: dict = field(default_factory=dict)


class _Params:
    """Collects bound parameters under generated names."""

    def __init__(self, initial: dict):
        self.values = dict(initial)

        self._by_key: dict = {}

    def bind(self, prefix: str, value, key=None) -> str:
        """Bind ``value``; the same ``key`` returns the same parameter (no duplicates)."""
        if key is not None and key in self._by_key:
            return self._by_key[key]
        name = f"{prefix}_{len(self.values)}"
        self.values[name] = value
        placeholder = f":{name}"
        if key is not None:
            self._by_key[key] = placeholder
        return placeholder


def _bin_case(column_sql: str, edge_params: list[str], lo: int, hi: int) -> str:
    """Bin index in [lo, hi] by binary search over interior edges (nested CASE, log depth)."""
    if lo == hi:
        return str(lo)
    mid = (lo + hi) // 2
    # bin j covers [e_{j-1}, e_j): x < e_mid (edge_params[mid]) means bin <= mid.
    return (
        f"CASE WHEN {column_sql} < {edge_params[mid]} "
        f"THEN {_bin_case(column_sql, edge_params, lo, mid)} "
        f"ELSE {_bin_case(column_sql, edge_params, mid + 1, hi)} END"
    )


_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)


@functools.lru_cache(maxsize=256)
def _template(sql: str) -> jinja2.Template:
    # Compiling is the costly part of rendering; models are rendered once per partition.
    return _ENV.from_string(sql)


def _label_column(baseline: Baseline | None):
    """The label as a binnable column when the baseline has reference labels, else None."""
    if baseline is None:
        return None
    return next((c.column for c in baseline.columns if c.column.role == "label"), None)


def render_model(
    project: SqlProject,
    sql_model: SqlModel,
    model: ModelConfig,
    window_start: dt.datetime,
    window_end: dt.datetime,
    baseline: Baseline | None = None,
    dialect: str = "duckdb",
) -> RenderedSql:
    """Render ``sql_model`` for ``model`` over ``[window_start, window_end)``.

    ``dialect`` (``duckdb`` or ``postgresql``) only changes how ``bin_index`` is computed; the
    models themselves are the same SQL on both engines.

    Jinja names available to a model:

    ``ref(name)``, ``source(src, table)``
        Quoted table names.
    ``columns``, ``numeric_columns``, ``categorical_columns``
        Monitored columns (features, prediction, score) with ``name``, ``role``, ``sql_column``.
    ``q(identifier)``
        A quoted identifier; ``lit(identifier)`` the same name as a bound string parameter.
    ``bin_index(column)``, ``center(column)``
        The column's baseline bin as a SQL expression, and its baseline mean as a parameter.
    ``latency_bin``
        SQL for the log-spaced latency bin of ``latency_ms``.
    ``segment_columns``
        The monitored columns that are the config's segments.
    ``label_column``
        The label as a column of ``raw_labels`` when the baseline has reference labels.
    ``:model_name``, ``:window_start``, ``:window_end``
        Always-bound parameters.
    """
    params = _Params(
        {"model_name": model.name, "window_start": window_start, "window_end": window_end}
    )
    columns = monitored_columns(model)

    def ref(name: str) -> str:
        if name not in sql_model.refs:
            raise ValueError(f"{sql_model.name}: ref({name!r}) was not found when parsing")
        return quote(project.models[name].name)

    def source(src: str, table: str) -> str:
        return quote(project.sources[(src, table)].table_for(model.name))

    def lit(identifier: str) -> str:
        return params.bind("lit", identifier, key=("lit", identifier))

    def need_baseline(column_name: str):
        if baseline is None:
            raise ValueError(f"{sql_model.name} needs a baseline to bin {column_name!r}")
        return baseline.for_column(column_name)

    def bin_index(column) -> str:
        bins = need_baseline(column.name)
        col_sql = quote(column.sql_column)
        if column.is_numeric and dialect == "postgresql":
            # width_bucket(x, thresholds) counts the thresholds <= x: bisect_right, in C.
            edges = params.bind("edges", list(bins.edges), key=(column.name, "edges"))
            return f"width_bucket({col_sql}, CAST({edges} AS double precision[]))"
        if column.is_numeric:
            # DuckDB has no width_bucket over an array: a binary search as nested CASE.
            edges = [
                params.bind("edge", e, key=(column.name, "edge", i))
                for i, e in enumerate(bins.edges)
            ]
            tree = _bin_case(col_sql, edges, 0, len(edges))
            return f"CASE WHEN {col_sql} IS NULL THEN NULL ELSE {tree} END"
        whens = " ".join(
            f"WHEN {params.bind('cat', c, key=(column.name, 'cat', i))} THEN {i}"
            for i, c in enumerate(bins.categories)
        )
        other = len(bins.categories)
        expr = f"CASE {col_sql} {whens} ELSE {other} END" if whens else str(other)
        return f"CASE WHEN {col_sql} IS NULL THEN NULL ELSE {expr} END"

    def center(column) -> str:
        return params.bind("center", need_baseline(column.name).center, key=(column.name, "center"))

    def baseline_id() -> str:
        if baseline is None:
            raise ValueError(f"{sql_model.name} needs a baseline")
        return params.bind("baseline", baseline.baseline_id, key="baseline_id")

    text = _template(sql_model.sql).render(
        ref=ref,
        source=source,
        q=quote,
        lit=lit,
        bin_index=bin_index,
        center=center,
        baseline_id=baseline_id,
        latency_bin=LATENCY_BIN_SQL,
        label_column=_label_column(baseline),
        columns=columns,
        numeric_columns=[c for c in columns if c.is_numeric],
        categorical_columns=[c for c in columns if not c.is_numeric],
        segment_columns=[c for c in columns if c.role == "feature" and c.name in model.segments],
        model=model,
    )
    return RenderedSql(sql=text, params=params.values)
