"""The metric store assets (hourly and daily) and the checks that read them.

System health (latency, error and timeout rates, host CPU) is judged per hour on
``hourly_prediction_stats`` with the config's fixed thresholds; control charts and CUSUM judge
the hourly metric series against each model version's own baseline window.
"""

import dagster as dg
import pandas as pd

from modelmon_dagster.defs.aggregates.assets import PythonAsset, StepCheck, Window
from modelmon_dagster.metrics.charts import build_charts, chart_outcomes, cusum_outcomes
from modelmon_dagster.metrics.health import error_rate_outcome, host_outcome, latency_outcome
from modelmon_dagster.metrics.store import collect_metrics, read_metrics, write_metrics

SHOWN = ("volume", "error_rate", "timeout_rate", "latency_p99_ms", "host_cpu_pct", "positive_rate")


def _compute(grain: str):
    def compute(w: Window) -> dict:
        frame = collect_metrics(w.warehouse, w.model, grain, w.start, w.end)
        written = write_metrics(w.warehouse, w.model, grain, w.start, w.end, frame)
        meta = {
            "rows_written": dg.MetadataValue.int(written),
            "metrics": dg.MetadataValue.int(
                int(frame[["metric", "dimension"]].drop_duplicates().shape[0])
            ),
        }
        if len(w.periods) == 1:  # numbers the UI plots per partition
            overall = frame[frame["dimension"] == ""].set_index("metric")["value"]
            for metric in SHOWN:
                if metric in overall.index:
                    meta[metric] = dg.MetadataValue.float(float(overall[metric]))
        return meta

    return compute


def metrics_asset(grain: str) -> PythonAsset:
    """``hourly_metrics`` / ``daily_metrics``: the grain's rows of the metric store."""
    deps = (f"{grain}_prediction_stats", f"{grain}_feature_stats", f"{grain}_drift")
    if grain == "daily":
        deps += ("daily_performance",)
    return PythonAsset(
        name=f"{grain}_metrics",
        description=(
            f"Every monitored number of the {'hour' if grain == 'hourly' else 'day'} in one long "
            "table (metric_series): volume, error and timeout rates, latency percentiles, host "
            "resources, column means and null rates, drift effects, positive rate"
            + (
                "; realised and estimated performance per segment, label coverage"
                if grain == "daily"
                else ""
            )
            + ". What the control charts, CUSUM and dashboards read."
        ),
        deps=deps,
        compute=_compute(grain),
    )


def _stats_rows(w: Window) -> dict:
    frame = w.warehouse.query_df(
        "SELECT * FROM hourly_prediction_stats WHERE model_name = :m "
        "AND hour_start >= :s AND hour_start < :e",
        {"m": w.model.name, "s": w.start, "e": w.end},
    )
    return {pd.Timestamp(r["hour_start"]).to_pydatetime(): r for r in frame.to_dict("records")}


def _health(judge):
    def evaluate_range(w: Window) -> dict:
        rows = _stats_rows(w)
        return {p.key: judge(rows.get(p.start, {}), w.model.thresholds) for p in w.periods}

    return evaluate_range


def _latency(w: Window) -> dict:
    rows = _stats_rows(w)
    hist = w.warehouse.query_df(
        "SELECT hour_start, bin_index, n FROM hourly_latency_histogram WHERE model_name = :m "
        "AND hour_start >= :s AND hour_start < :e",
        {"m": w.model.name, "s": w.start, "e": w.end},
    )
    hist["hour_start"] = pd.to_datetime(hist["hour_start"])
    return {
        p.key: latency_outcome(
            rows.get(p.start, {}),
            hist[hist["hour_start"] == pd.Timestamp(p.start)],
            w.model.thresholds,
        )
        for p in w.periods
    }


SYSTEM_HEALTH_CHECKS = (
    StepCheck(
        asset="hourly_prediction_stats",
        name="latency",
        description=(
            "p99 latency of the hour against latency_p99_ms_warn / latency_p99_ms_error (more "
            "than 1 % of requests slower, at 95 % confidence)."
        ),
        evaluate_range=_latency,
    ),
    StepCheck(
        asset="hourly_prediction_stats",
        name="error_rate",
        description=(
            "Error and timeout rates of the hour (95 % lower bound) against error_rate_* and "
            "timeout_rate_*."
        ),
        evaluate_range=_health(error_rate_outcome),
    ),
    StepCheck(
        asset="hourly_prediction_stats",
        name="host_resources",
        description=(
            "Mean CPU of the serving hosts against host_cpu_pct_warn / _error (memory and GPU "
            "are judged by the control charts)."
        ),
        evaluate_range=_health(host_outcome),
    ),
)


def _chart_check(name: str, judge):
    def evaluate_range(w: Window) -> dict:
        settings = w.model.control_charts
        series = read_metrics(
            w.warehouse, w.model.name, "hourly", end=w.end, metrics=settings.metrics
        )
        charts = build_charts(series, settings, "hourly")
        outcomes = judge(charts, [p.start for p in w.periods], settings)
        return {p.key: outcomes[p.start] for p in w.periods}

    return evaluate_range


CHART_CHECKS = (
    StepCheck(
        asset="hourly_metrics",
        name="control_charts",
        description=(
            "Shewhart charts of the hourly series (error and timeout rates as p-charts, latency "
            "percentiles, host resources, output and feature means following the hour-of-day "
            "cycle) against each model version's first baseline_days: ERROR beyond 3 sigma, WARN "
            "for 2 of 3 points beyond 2 sigma, widened for the number of charts."
        ),
        evaluate_range=_chart_check("control_charts", chart_outcomes),
    ),
    StepCheck(
        asset="hourly_metrics",
        name="cusum",
        description=(
            "Page's two-sided CUSUM of the same series (k, h or arl0 from the config): small "
            "persistent shifts and slow ramps that stay inside 3 sigma; the metadata holds each "
            "series' CUSUM path."
        ),
        evaluate_range=_chart_check("cusum", cusum_outcomes),
    ),
)
