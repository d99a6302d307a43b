"""What a model's dashboard shows, read from the warehouse's stored results (no raw rows).

Sources: the metric store (``metric_series``), the check verdicts (``check_results``), the
daily drift and performance tables (effect sizes with their flags, confidence intervals), the
alerts and the registry's events. Missing tables read as empty: a young deployment has a page
with empty charts, not an error.
"""

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from modelmon_dagster.check_results import CHECK_RESULTS
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.metrics.store import read_metrics
from modelmon_dagster.performance import KEY_METRICS
from modelmon_dagster.warehouse import Warehouse

LOOKBACK_DAYS = 14


@dataclass(frozen=True)
class DashboardData:
    """Everything one model's page shows, for the days ``[start, end)``."""

    model: ModelConfig
    day: dt.datetime  # the dashboard's day (its last)
    start: dt.datetime
    end: dt.datetime
    hourly: pd.DataFrame  # metric_series rows, hourly grain
    daily: pd.DataFrame  # metric_series rows, daily grain
    checks: pd.DataFrame  # check_results rows in the window
    column_drift: pd.DataFrame  # daily_column_drift
    segment_drift: pd.DataFrame  # daily_segment_drift
    performance: pd.DataFrame  # daily_performance, whole model
    charted: pd.DataFrame  # hourly series of the control charts, from their first row
    open_alerts: pd.DataFrame
    actions: pd.DataFrame  # registry events with their runs

    @property
    def day_checks(self) -> pd.DataFrame:
        """The verdicts of the dashboard's day (what its status line reads)."""
        if not len(self.checks):
            return self.checks
        return self.checks[self.checks["period_start"] >= self.day]

    @property
    def days(self) -> list[pd.Timestamp]:
        """Every day of the window, in order."""
        return list(pd.date_range(self.start, self.end, freq="D", inclusive="left"))


def _query(warehouse: Warehouse, table: str, sql: str, params: dict) -> pd.DataFrame:
    if not warehouse.table_exists(table):
        return pd.DataFrame()
    return warehouse.query_df(sql, params)


def load_dashboard_data(
    warehouse: Warehouse, model: ModelConfig, day: dt.datetime, lookback_days: int = LOOKBACK_DAYS
) -> DashboardData:
    """Read a model's stored results for the ``lookback_days`` days that end with ``day``."""
    end = day + dt.timedelta(days=1)
    start = end - dt.timedelta(days=lookback_days)
    window = {"m": model.name, "s": start, "e": end}
    checks = _query(
        warehouse,
        CHECK_RESULTS.name,
        "SELECT * FROM check_results WHERE model_name = :m AND period_start >= :s "
        "AND period_start < :e ORDER BY period_start",
        window,
    )
    column_drift = _query(
        warehouse,
        "daily_column_drift",
        "SELECT day_start, column_name, column_role, effect_size, effect_measure, drifted, "
        "severity FROM daily_column_drift WHERE model_name = :m AND day_start >= :s "
        "AND day_start < :e ORDER BY day_start",
        window,
    )
    segment_drift = _query(
        warehouse,
        "daily_segment_drift",
        "SELECT day_start, segment_column, segment_value, column_name, effect_size, drifted "
        "FROM daily_segment_drift WHERE model_name = :m AND day_start >= :s AND day_start < :e "
        "ORDER BY day_start",
        window,
    )
    performance = _query(
        warehouse,
        "daily_performance",
        "SELECT day_start, kind, metric, value, ci_low, ci_high, n_labelled, coverage "
        "FROM daily_performance WHERE model_name = :m AND segment_column = '__all__' "
        "AND day_start >= :s AND day_start < :e ORDER BY day_start",
        window,
    )
    # Alerts still open whose first firing period began by the end of the day. Not by when
    # they were opened: a day's daily checks (and a backfill) judge it after it has ended.
    open_alerts = _query(
        warehouse,
        "alerts",
        "SELECT name, dimension, max_severity, opened_at, last_period, firing_count, summary, "
        "last_run_id FROM alerts WHERE model_name = :m AND status = 'open' "
        "AND first_period_start < :e "
        "ORDER BY max_severity, opened_at",
        window,
    )
    actions = _query(
        warehouse,
        "registry_events",
        'SELECT kind, version, from_version, "at", actor, reason, trigger_check, '
        "trigger_partition, trigger_severity, trigger_rule, run_id FROM registry_events "
        "WHERE model_name = :m AND \"at\" < :e AND kind IN ('promoted', 'rolled_back', "
        "'rejected', 'challenger_set') ORDER BY seq",
        window,
    )
    for frame, column in (
        (checks, "period_start"),
        (column_drift, "day_start"),
        (segment_drift, "day_start"),
        (performance, "day_start"),
    ):
        if len(frame):
            frame[column] = pd.to_datetime(frame[column])
    return DashboardData(
        model=model,
        day=day,
        start=start,
        end=end,
        hourly=read_metrics(warehouse, model.name, "hourly", start, end),
        daily=read_metrics(warehouse, model.name, "daily", start, end),
        checks=checks,
        column_drift=column_drift,
        segment_drift=segment_drift,
        performance=performance,
        charted=read_metrics(
            warehouse, model.name, "hourly", end=end, metrics=model.control_charts.metrics
        ),
        open_alerts=open_alerts,
        actions=actions,
    )


DAY_NUMBERS = ("volume", "error_rate", "timeout_rate", "latency_p99_ms", "label_coverage")


def day_numbers(data: DashboardData) -> dict[str, float]:
    """The day's key whole-model numbers from the daily metric store (for Dagster's plots)."""
    if not len(data.daily):
        return {}
    rows = data.daily[(data.daily["period_start"] == data.day) & (data.daily["dimension"] == "")]
    values = rows.set_index("metric")["value"]
    key = f"realised_{KEY_METRICS[data.model.task][0]}"
    return {m: float(values[m]) for m in (*DAY_NUMBERS, key) if m in values.index}
