"""One long table of every monitored number: ``metric_series`` (no Dagster).

Filled from the aggregates already in the warehouse (no rescan of raw rows), one row per model,
grain, period, metric and dimension. Control charts, CUSUM, alerts and dashboards read it.

Metrics (dimension in brackets):

=====================  =========================================================  ==========
metric                 value                                                      kind
=====================  =========================================================  ==========
volume                 predictions in the period                                  count
error_rate             errors / predictions (``events``, ``n``)                   proportion
timeout_rate           timeouts / predictions                                     proportion
schema_error_rate      records with a missing or mistyped feature / predictions   proportion
latency_p50_ms ...     latency percentiles (exact hourly; merged histogram daily)  value
host_cpu_pct           mean CPU use reported by the serving hosts (and ``_max``)  value
host_memory_mb         mean memory (and ``_max``); host_gpu_pct likewise           value
mean [column]          mean of a numeric feature, the score or a numeric output   mean
null_rate [column]     nulls / rows of a column                                   proportion
drift_effect [column]  drift effect size against the baseline                     value
positive_rate          predictions of the positive class (binary models)          proportion
realised_<m> [seg]     daily: delayed-label performance, per segment              value
estimated_<m>          daily: confidence-based estimate before labels             value
label_coverage         daily: labelled / predictions so far                       proportion
=====================  =========================================================  ==========

Each row also names the model version that served most of the period, so limits can be set per
version.
"""

import datetime as dt
import math

import pandas as pd
import pyarrow as pa

from modelmon_dagster.baseline import load_baseline_by_id, served_versions
from modelmon_dagster.config import ModelConfig, Task
from modelmon_dagster.stats.latency import quantiles_from_log_histogram
from modelmon_dagster.warehouse import TableSchema, Warehouse

METRIC_SERIES = TableSchema(
    "metric_series",
    (
        ("model_name", "VARCHAR"),
        ("grain", "VARCHAR"),
        ("period_start", "TIMESTAMP"),
        ("metric", "VARCHAR"),
        ("dimension", "VARCHAR"),  # "" for the whole model, else a column or "segment=value"
        ("value", "DOUBLE PRECISION"),
        ("n", "DOUBLE PRECISION"),  # the sample behind the value (rows, trials, labels)
        ("events", "DOUBLE PRECISION"),  # proportions: the count over n
        ("model_version", "VARCHAR"),
    ),
)
TIME_COLUMN = {"hourly": "hour_start", "daily": "day_start"}
PROPORTIONS = {"error_rate", "timeout_rate", "schema_error_rate", "null_rate", "positive_rate"}
HOST = (
    ("host_cpu", "host_cpu_pct"),
    ("host_memory", "host_memory_mb"),
    ("host_gpu", "host_gpu_pct"),
)


def _rows(warehouse: Warehouse, table: str, grain: str, model: ModelConfig, start, end):
    time_col = TIME_COLUMN[grain]
    if not warehouse.table_exists(table):
        return pd.DataFrame()
    frame = warehouse.query_df(
        f"SELECT * FROM {table} WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e",
        {"m": model.name, "s": start, "e": end},
    )
    return frame.rename(columns={time_col: "period_start"})


def _add(out: list, period, metric: str, value, n=None, events=None, dimension: str = ""):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return
    out.append(
        {
            "period_start": pd.Timestamp(period).to_pydatetime(),
            "metric": metric,
            "dimension": dimension,
            "value": float(value),
            "n": None if n is None else float(n),
            "events": None if events is None else float(events),
        }
    )


def _ratio(k, n) -> float | None:
    return float(k) / float(n) if n else None


def _prediction_stats(out: list, stats: pd.DataFrame, grain: str, latency: dict) -> None:
    for r in stats.itertuples():
        n = int(r.n_predictions or 0)
        _add(out, r.period_start, "volume", n)
        for metric, k in (
            ("error_rate", r.n_error),
            ("timeout_rate", r.n_timeout),
            ("schema_error_rate", r.n_schema_errors),
        ):
            if n:
                _add(out, r.period_start, metric, _ratio(k, n), n, k)
        quantiles = (
            (r.latency_p50_ms, r.latency_p95_ms, r.latency_p99_ms)
            if grain == "hourly"
            else latency.get(pd.Timestamp(r.period_start), (None, None, None))
        )
        for name, value in zip(("p50", "p95", "p99"), quantiles, strict=True):
            _add(out, r.period_start, f"latency_{name}_ms", value, r.latency_n)
        for prefix, metric in HOST:
            count = getattr(r, f"{prefix}_n", 0) or 0
            if count:
                _add(out, r.period_start, metric, getattr(r, f"{prefix}_sum") / count, count)
                _add(out, r.period_start, f"{metric}_max", getattr(r, f"{prefix}_max"), count)


def _daily_latency(warehouse: Warehouse, model: ModelConfig, start, end) -> dict:
    hist = _rows(warehouse, "daily_latency_histogram", "daily", model, start, end)
    out = {}
    for day, rows in hist.groupby("period_start") if len(hist) else ():
        out[pd.Timestamp(day)] = tuple(
            quantiles_from_log_histogram(
                rows["bin_index"].to_numpy(), rows["n"].to_numpy(dtype=float), [0.5, 0.95, 0.99]
            )
        )
    return out


def _column_stats(out: list, stats: pd.DataFrame) -> None:
    for r in stats.itertuples():
        rows = (r.n or 0) + (r.n_null or 0)
        if rows:
            _add(
                out,
                r.period_start,
                "null_rate",
                _ratio(r.n_null, rows),
                rows,
                r.n_null,
                r.column_name,
            )
        if r.n and r.sum_shifted is not None and not pd.isna(r.sum_shifted):
            _add(
                out, r.period_start, "mean", r.shift + r.sum_shifted / r.n, r.n, None, r.column_name
            )


def _drift(out: list, drift: pd.DataFrame) -> None:
    for r in drift.itertuples():
        if not pd.isna(r.effect_size):
            _add(out, r.period_start, "drift_effect", r.effect_size, r.n_cur, None, r.column_name)


def _positive_rate(out: list, warehouse, model: ModelConfig, hist: pd.DataFrame) -> None:
    if model.task is not Task.BINARY_CLASSIFICATION or hist.empty:
        return
    predictions = hist[hist["column_name"] == "prediction"]
    for (period, baseline_id), rows in predictions.groupby(["period_start", "baseline_id"]):
        categories = (
            load_baseline_by_id(warehouse, model, baseline_id).for_column("prediction").categories
        )
        if model.positive_class not in categories:
            continue
        positive_bin = categories.index(model.positive_class)
        total = float(rows["n"].sum())
        k = float(rows.loc[rows["bin_index"] == positive_bin, "n"].sum())
        if total:
            _add(out, period, "positive_rate", k / total, total, k)


def _performance(out: list, perf: pd.DataFrame) -> None:
    for r in perf.itertuples():
        dimension = "" if r.segment_column == "__all__" else f"{r.segment_column}={r.segment_value}"
        if r.metric.endswith("_se") or r.metric == "n_positive":
            continue
        _add(out, r.period_start, f"{r.kind}_{r.metric}", r.value, r.n_labelled, None, dimension)
    overall = perf[(perf["segment_column"] == "__all__")].drop_duplicates("period_start")
    for r in overall.itertuples():
        if r.n_predictions:
            _add(out, r.period_start, "label_coverage", r.coverage, r.n_predictions, r.n_labelled)


def collect_metrics(
    warehouse: Warehouse, model: ModelConfig, grain: str, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """Every metric of ``model`` for the ``grain`` periods in ``[start, end)``."""
    out: list[dict] = []
    stats = _rows(warehouse, f"{grain}_prediction_stats", grain, model, start, end)
    latency = _daily_latency(warehouse, model, start, end) if grain == "daily" else {}
    if len(stats):
        _prediction_stats(out, stats, grain, latency)
    columns = _rows(warehouse, f"{grain}_feature_stats", grain, model, start, end)
    if len(columns):
        _column_stats(out, columns)
    drift = _rows(warehouse, f"{grain}_column_drift", grain, model, start, end)
    if len(drift):
        _drift(out, drift)
    _positive_rate(
        out,
        warehouse,
        model,
        _rows(warehouse, f"{grain}_feature_histograms", grain, model, start, end),
    )
    if grain == "daily":
        perf = _rows(warehouse, "daily_performance", grain, model, start, end)
        if len(perf):
            _performance(out, perf)
    frame = pd.DataFrame(
        out, columns=["period_start", "metric", "dimension", "value", "n", "events"]
    )
    versions = _versions(warehouse, model, grain, start, end)
    frame["model_version"] = frame["period_start"].map(lambda p: versions.get(pd.Timestamp(p)))
    frame["model_name"] = model.name
    frame["grain"] = grain
    return frame.reindex(columns=METRIC_SERIES.column_names)


def _versions(warehouse: Warehouse, model: ModelConfig, grain: str, start, end) -> dict:
    """Period start -> the version that served most of its predictions."""
    by_hour = served_versions(warehouse, model, start, end)
    if grain == "hourly":
        return {pd.Timestamp(h): v for h, v in by_hour.items()}
    by_day: dict = {}
    for hour, version in by_hour.items():
        day = pd.Timestamp(hour).normalize()
        by_day.setdefault(day, []).append(version)
    return {day: max(set(v), key=v.count) for day, v in by_day.items()}


def write_metrics(
    warehouse: Warehouse, model: ModelConfig, grain: str, start, end, frame: pd.DataFrame
) -> int:
    """Replace the model's ``grain`` rows in ``[start, end)`` with ``frame``."""
    return warehouse.replace_rows(
        METRIC_SERIES,
        "model_name = :m AND grain = :g AND period_start >= :s AND period_start < :e",
        {"m": model.name, "g": grain, "s": start, "e": end},
        rows=pa.Table.from_pandas(frame, preserve_index=False),
    )


def read_metrics(
    warehouse: Warehouse,
    model_name: str,
    grain: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    metrics: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Stored rows of a model's series, in time order (optionally a window and some metrics)."""
    if not warehouse.table_exists(METRIC_SERIES.name):
        return pd.DataFrame(columns=METRIC_SERIES.column_names)
    clauses, params = ["model_name = :m", "grain = :g"], {"m": model_name, "g": grain}
    if start is not None:
        clauses.append("period_start >= :s")
        params["s"] = start
    if end is not None:
        clauses.append("period_start < :e")
        params["e"] = end
    if metrics:
        clauses.append(f"metric IN ({', '.join(f':x{i}' for i in range(len(metrics)))})")
        params |= {f"x{i}": m for i, m in enumerate(metrics)}
    frame = warehouse.query_df(
        f"SELECT * FROM metric_series WHERE {' AND '.join(clauses)} ORDER BY period_start",
        params,
    )
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


def is_proportion(metric: str) -> bool:
    """Whether ``metric`` is a proportion ``events / n`` (charted with a p-chart)."""
    return metric in PROPORTIONS
