"""Volume anomalies: an hour's prediction count against the same hour of day in recent days."""

import datetime as dt

import numpy as np
import pandas as pd
from scipy import stats

from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.warehouse import Warehouse

HISTORY_DAYS = 7
MIN_HISTORY_DAYS = 2


def _stats_frame(warehouse: Warehouse, sql: str, params: dict) -> pd.DataFrame:
    if not warehouse.table_exists("hourly_prediction_stats"):
        return pd.DataFrame(columns=["hour_start", "n_predictions"])
    return warehouse.query_df(sql, params)


def volume_outcome(warehouse: Warehouse, model: ModelConfig, hour: dt.datetime) -> CheckOutcome:
    """Compare the hour's count with the median of the same hour of day over the last week.

    Fails at ERROR when the count falls below ``volume_ratio_error`` of the expected one, at
    WARN below ``volume_ratio_warn`` or above its inverse (a spike), each only when a Poisson
    test also rejects at ``volume_significance``. An hour as silent as its history passes. With
    fewer than two days of history it does not judge (nothing to compare with).
    """
    same_hours = [hour - dt.timedelta(days=d) for d in range(1, HISTORY_DAYS + 1)]
    placeholders = ", ".join(f":h{i}" for i in range(len(same_hours)))
    frame = _stats_frame(
        warehouse,
        "SELECT hour_start, n_predictions FROM hourly_prediction_stats "
        f"WHERE model_name = :m AND hour_start IN (:now, {placeholders})",
        {"m": model.name, "now": hour, **{f"h{i}": h for i, h in enumerate(same_hours)}},
    )
    return _judge(hour, _counts(frame), model)


def volume_outcomes(
    warehouse: Warehouse, model: ModelConfig, hours: list[dt.datetime]
) -> dict[dt.datetime, CheckOutcome]:
    """:func:`volume_outcome` of each of ``hours``, from one query over their whole range."""
    if not hours:
        return {}
    frame = _stats_frame(
        warehouse,
        "SELECT hour_start, n_predictions FROM hourly_prediction_stats "
        "WHERE model_name = :m AND hour_start >= :s AND hour_start <= :e",
        {"m": model.name, "s": min(hours) - dt.timedelta(days=HISTORY_DAYS), "e": max(hours)},
    )
    counts = _counts(frame)
    return {hour: _judge(hour, counts, model) for hour in hours}


def _counts(frame: pd.DataFrame) -> dict:
    """Hour (a ``pd.Timestamp``) -> the prediction counts stored for it."""
    if frame.empty:
        return {}
    return frame.groupby("hour_start")["n_predictions"].agg(list).to_dict()


def _judge(hour: dt.datetime, counts, model: ModelConfig) -> CheckOutcome:
    """The volume outcome of ``hour``; ``counts``: hour -> the stored prediction counts."""
    t = model.thresholds
    current = counts.get(pd.Timestamp(hour), [])
    if len(current) == 0:
        return CheckOutcome.not_judged("volume", "the hour's statistics are missing", {}, "ERROR")
    earlier = (pd.Timestamp(hour - dt.timedelta(days=d)) for d in range(1, HISTORY_DAYS + 1))
    history = np.array([v for h in earlier for v in counts.get(h, [])], dtype=float)
    n = int(current[0])
    meta = {"n_predictions": n, "history_days": int(history.size)}
    if history.size < MIN_HISTORY_DAYS:
        return CheckOutcome.not_judged(
            "volume",
            f"only {history.size} day(s) of history for this hour (need {MIN_HISTORY_DAYS})",
            meta,
            "ERROR",
        )
    expected = float(np.median(history))
    meta["expected"] = round(expected, 1)
    if expected == 0:
        if n == 0:
            return CheckOutcome("volume", True, "ERROR", "no predictions, as usual this hour", meta)
        return CheckOutcome(
            "volume",
            False,
            "WARN",
            f"volume spike: {n} predictions where this hour usually has none",
            meta | {"ratio": None},
        )
    ratio = n / expected
    p_low = float(stats.poisson.cdf(n, expected))
    p_high = float(stats.poisson.sf(n - 1, expected))
    meta |= {"ratio": round(ratio, 4), "p_low": p_low, "p_high": p_high}
    alpha = t.volume_significance
    if ratio < t.volume_ratio_error and p_low < alpha:
        return CheckOutcome(
            "volume",
            False,
            "ERROR",
            f"volume {ratio:.0%} of the usual {expected:.0f} for this hour",
            meta,
        )
    if ratio < t.volume_ratio_warn and p_low < alpha:
        return CheckOutcome(
            "volume",
            False,
            "WARN",
            f"volume {ratio:.0%} of the usual {expected:.0f} for this hour",
            meta,
        )
    if ratio > 1 / t.volume_ratio_warn and p_high < alpha:
        return CheckOutcome(
            "volume", False, "WARN", f"volume spike: {ratio:.1f}x the usual {expected:.0f}", meta
        )
    return CheckOutcome(
        "volume", True, "ERROR", f"{n} predictions, {ratio:.0%} of the usual {expected:.0f}", meta
    )
