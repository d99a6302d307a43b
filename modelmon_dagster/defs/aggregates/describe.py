"""Metadata for aggregate materialisations: the numbers the Dagster UI plots over partitions."""

import datetime as dt
from collections.abc import Callable

import dagster as dg
import numpy as np

from modelmon_dagster.stats.latency import MAX_RELATIVE_ERROR, quantiles_from_log_histogram
from modelmon_dagster.warehouse import Warehouse

Describer = Callable[[Warehouse, str, dt.datetime, dt.datetime], dict]


def _rate(part, whole) -> float:
    return round(float(part) / float(whole), 6) if whole else 0.0


def _one_row(warehouse: Warehouse, table: str, time_col: str, model_name: str, start, end):
    frame = warehouse.query_df(
        f"SELECT * FROM {table} WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e",
        {"m": model_name, "s": start, "e": end},
    )
    return None if frame.empty else frame.sum(numeric_only=True)


def _float_or_nan(value) -> dg.MetadataValue:
    return dg.MetadataValue.float(
        float(value) if value is not None and value == value else float("nan")
    )


def describe_hourly_prediction_stats(warehouse, model_name, start, end) -> dict:
    """Volume, error/timeout/schema-error rates and exact latency percentiles of the hour."""
    frame = warehouse.query_df(
        "SELECT * FROM hourly_prediction_stats WHERE model_name = :m "
        "AND hour_start >= :s AND hour_start < :e",
        {"m": model_name, "s": start, "e": end},
    )
    if frame.empty:
        return {"n_predictions": dg.MetadataValue.int(0)}
    n = int(frame["n_predictions"].sum())
    meta = {
        "n_predictions": dg.MetadataValue.int(n),
        "error_rate": dg.MetadataValue.float(_rate(frame["n_error"].sum(), n)),
        "timeout_rate": dg.MetadataValue.float(_rate(frame["n_timeout"].sum(), n)),
        "schema_error_rate": dg.MetadataValue.float(_rate(frame["n_schema_errors"].sum(), n)),
    }
    if len(frame) == 1:
        row = frame.iloc[0]
        for q in ("p50", "p95", "p99"):
            meta[f"latency_{q}_ms"] = _float_or_nan(row[f"latency_{q}_ms"])
    return meta


def describe_daily_prediction_stats(warehouse, model_name, start, end) -> dict:
    """Daily totals, plus latency percentiles from the merged log-bin histogram."""
    totals = _one_row(warehouse, "daily_prediction_stats", "day_start", model_name, start, end)
    if totals is None:
        return {"n_predictions": dg.MetadataValue.int(0)}
    n = int(totals["n_predictions"])
    hist = warehouse.query_df(
        "SELECT bin_index, n FROM daily_latency_histogram WHERE model_name = :m "
        "AND day_start >= :s AND day_start < :e",
        {"m": model_name, "s": start, "e": end},
    )
    p50, p95, p99 = (
        quantiles_from_log_histogram(
            hist["bin_index"].to_numpy(), hist["n"].to_numpy(dtype=float), [0.5, 0.95, 0.99]
        )
        if not hist.empty
        else (np.nan, np.nan, np.nan)
    )
    return {
        "n_predictions": dg.MetadataValue.int(n),
        "hours_present": dg.MetadataValue.int(int(totals["hours_present"])),
        "error_rate": dg.MetadataValue.float(_rate(totals["n_error"], n)),
        "timeout_rate": dg.MetadataValue.float(_rate(totals["n_timeout"], n)),
        "schema_error_rate": dg.MetadataValue.float(_rate(totals["n_schema_errors"], n)),
        "latency_p50_ms": _float_or_nan(p50),
        "latency_p95_ms": _float_or_nan(p95),
        "latency_p99_ms": _float_or_nan(p99),
        "latency_percentile_max_relative_error": dg.MetadataValue.float(
            round(MAX_RELATIVE_ERROR, 4)
        ),
    }


def _describe_feature_stats(table: str, time_col: str) -> Describer:
    def describe(warehouse, model_name, start, end) -> dict:
        frame = warehouse.query_df(
            f"SELECT column_name, sum(n) AS n, sum(n_null) AS n_null FROM {table} "
            f"WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e GROUP BY column_name",
            {"m": model_name, "s": start, "e": end},
        )
        if frame.empty:
            return {}
        total = frame["n"] + frame["n_null"]
        null_rate = (frame["n_null"] / total.where(total > 0)).fillna(0.0)
        return {
            "columns": dg.MetadataValue.int(len(frame)),
            "max_null_rate": dg.MetadataValue.float(round(float(null_rate.max()), 6)),
            "null_rates": dg.MetadataValue.json(
                dict(
                    zip(frame["column_name"], (round(float(r), 6) for r in null_rate), strict=True)
                )
            ),
        }

    return describe


DESCRIBERS: dict[str, Describer] = {
    "hourly_prediction_stats": describe_hourly_prediction_stats,
    "daily_prediction_stats": describe_daily_prediction_stats,
    "hourly_feature_stats": _describe_feature_stats("hourly_feature_stats", "hour_start"),
    "daily_feature_stats": _describe_feature_stats("daily_feature_stats", "day_start"),
}
