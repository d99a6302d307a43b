"""Drift assets (hourly and daily) and their checks, run at the end of each grain's step."""

import os

import dagster as dg
import numpy as np
import pandas as pd

from modelmon_dagster.blocked import blocked_in
from modelmon_dagster.defs.aggregates.assets import PythonAsset, StepCheck, Window
from modelmon_dagster.drift import (
    FEATURE_ROLES,
    LABEL_ROLES,
    NO_DATA,
    OUTPUT_ROLES,
    TIME_COLUMN,
    compute_drift,
    compute_segment_drift,
    drift_outcome,
    drift_table,
    null_rate_outcome,
    segment_drift_outcome,
    segment_drift_table,
    write_drift,
    write_segment_drift,
)
from modelmon_dagster.volume import volume_outcomes

# A range of at least this many column-periods computes its drift on two cores: a spawned
# process takes half the periods. Starting it costs ~2.5 s (imports, inputs); a column-period
# costs ~0.3 ms. Measured on the 2-core machine: a 720-hour range of 18 columns took the same
# wall time with a second process (5.5 s) as without (5.1-5.7 s), and 2.5 s more CPU.
PARALLEL_MIN_COLUMN_PERIODS = 40_000


def drift_workers(periods: int, columns: int) -> int:
    """Processes computing the drift of ``periods`` partitions of ``columns`` columns."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parallel = periods * columns >= PARALLEL_MIN_COLUMN_PERIODS and (cores or 1) >= 2
    return 2 if parallel else 1


def _compute(grain: str):
    def compute(w: Window) -> dict:
        columns = len(w.model.features) + 3  # and the prediction, the score and the label
        workers = drift_workers(len(w.periods), columns)
        frame = compute_drift(w.warehouse, w.model, grain, w.start, w.end, workers)
        rows = write_drift(w.warehouse, grain, w.model, w.start, w.end, frame)
        segment_rows = {}
        if grain == "daily":
            segments = compute_segment_drift(w.warehouse, w.model, w.start, w.end)
            written = write_segment_drift(w.warehouse, w.model, w.start, w.end, segments)
            segment_rows = {"segment_rows_written": dg.MetadataValue.int(written)}
        measured = frame[frame["severity"].isna() | (frame["severity"] != NO_DATA)]
        drifted = measured[measured["drifted"].astype("boolean").fillna(False).astype(bool)]
        features = measured[measured["column_role"].isin(FEATURE_ROLES)]
        return {
            "rows_written": dg.MetadataValue.int(rows),
            "columns_drifted": dg.MetadataValue.int(len(drifted)),
            "share_features_drifted": dg.MetadataValue.float(
                round(float(features["drifted"].astype("boolean").fillna(False).mean()), 4)
                if len(features)
                else float("nan")
            ),
            "max_effect_size": dg.MetadataValue.float(
                round(float(measured["effect_size"].max()), 4) if len(measured) else float("nan")
            ),
            "drifted_columns": dg.MetadataValue.json(sorted(drifted["column_name"].unique())),
            **segment_rows,
        }

    return compute


def _by_period(frame: pd.DataFrame, time_col: str, periods) -> dict[str, pd.DataFrame]:
    """Split a range's rows by partition (a partition without rows gets an empty frame)."""
    starts = pd.to_datetime(frame[time_col]) if len(frame) else pd.Series(dtype="datetime64[us]")
    at = starts.groupby(starts).indices if len(frame) else {}
    none = np.array([], dtype=int)
    return {p.key: frame.iloc[at.get(pd.Timestamp(p.start), none)] for p in periods}


def _drift_rows(w: Window, grain: str) -> pd.DataFrame:
    """The window's drift rows (no table yet: no rows)."""
    table = drift_table(grain)
    if not w.warehouse.table_exists(table.name):
        return pd.DataFrame(columns=table.column_names)
    time_col = TIME_COLUMN[grain]
    return w.warehouse.query_df(
        f"SELECT * FROM {table.name} WHERE model_name = :m "
        f"AND {time_col} >= :s AND {time_col} < :e",
        {"m": w.model.name, "s": w.start, "e": w.end},
    )


def _drift_by_period(w: Window, grain: str) -> dict[str, list[dict]]:
    """The window's drift rows by partition, read once for all the drift checks of a step.

    As dicts: a period has a few dozen rows, and pandas' cost per operation dwarfed the checks.
    """

    def split() -> dict[str, list[dict]]:
        frame = _drift_rows(w, grain)
        records = frame.to_dict("records")
        return {
            key: [records[i] for i in rows.index]
            for key, rows in _by_period(
                frame.reset_index(drop=True), TIME_COLUMN[grain], w.periods
            ).items()
        }

    return w.memo(f"{grain}_drift_by_period", split)


def _drift_check(grain: str, name: str, roles: tuple[str, ...], what: str) -> StepCheck:
    def evaluate_range(w: Window) -> dict:
        by_period = _drift_by_period(w, grain)
        blocked = (
            w.memo("blocked", lambda: blocked_in(w.warehouse, w.model.name, w.start, w.end))
            if grain == "hourly"
            else {}
        )
        return {
            p.key: drift_outcome(by_period[p.key], name, roles, blocked.get(p.start, {}))
            for p in w.periods
        }

    t = "drift_effect_warn / drift_effect_error"
    return StepCheck(
        asset=f"{grain}_drift",
        name=name,
        description=(
            f"{what} drifted from the baseline: significant after Benjamini-Hochberg control "
            f"and an effect size (W1/std or Jensen-Shannon distance) at or above the column's "
            f"floor ({t}, raised by the reference's own day-to-day variation). "
            "Look at the columns listed in the metadata and at daily_column_drift."
        ),
        evaluate_range=evaluate_range,
    )


def _null_rate_check(grain: str) -> StepCheck:
    def evaluate_range(w: Window) -> dict:
        return {key: null_rate_outcome(rows) for key, rows in _drift_by_period(w, grain).items()}

    return StepCheck(
        asset=f"{grain}_drift",
        name="null_rate",
        description=(
            "Share of missing values per feature, prediction and score (among ok predictions) "
            "against the reference's: Fisher's exact test, Benjamini-Hochberg across columns, "
            "and a change of at least null_rate_warn / null_rate_error points. Look at the "
            "columns listed in the metadata and at the null_* columns of daily_column_drift."
        ),
        evaluate_range=evaluate_range,
    )


def drift_parts(grain: str) -> tuple[tuple[PythonAsset, ...], tuple[StepCheck, ...]]:
    """The drift asset of ``grain`` and its checks (daily also checks label drift)."""
    deps = (f"{grain}_feature_histograms", f"{grain}_feature_stats")
    if grain == "daily":
        deps += ("daily_label_histogram", "daily_segment_histograms")
    asset = PythonAsset(
        name=f"{grain}_drift",
        description=(
            f"{grain.capitalize()} drift of every feature, the prediction, the score"
            + (" and the labels" if grain == "daily" else "")
            + " against the baseline, from the histograms (KS / chi-square contingency, PSI, "
            "W1/std or JS distance, BH-adjusted p-values), and their null rates."
        ),
        deps=deps,
        compute=_compute(grain),
    )
    checks = [
        _drift_check(grain, "feature_drift", FEATURE_ROLES, "Input features"),
        _drift_check(grain, "prediction_drift", OUTPUT_ROLES, "Predictions or confidence"),
        _null_rate_check(grain),
    ]
    if grain == "daily":
        checks.append(_drift_check(grain, "label_drift", LABEL_ROLES, "Arrived labels"))
        checks.append(SEGMENT_DRIFT_CHECK)
    return (asset,), tuple(checks)


def _segment_evaluate(w: Window) -> dict:
    table = segment_drift_table()
    rows = (
        w.warehouse.query_df(
            f"SELECT * FROM {table.name} WHERE model_name = :m "
            "AND day_start >= :s AND day_start < :e",
            {"m": w.model.name, "s": w.start, "e": w.end},
        )
        if w.warehouse.table_exists(table.name)
        else pd.DataFrame(columns=table.column_names)
    )
    return {
        key: segment_drift_outcome(day_rows, w.model)
        for key, day_rows in _by_period(rows, "day_start", w.periods).items()
    }


SEGMENT_DRIFT_CHECK = StepCheck(
    asset="daily_drift",
    name="segment_drift",
    description=(
        "Drift inside each value of the config's segment columns, against that segment's own "
        "reference; Benjamini-Hochberg across all segment values and columns of the day."
    ),
    evaluate_range=_segment_evaluate,
)


def _volume_range(w: Window) -> dict:
    outcomes = volume_outcomes(w.warehouse, w.model, [p.start for p in w.periods])
    return {p.key: outcomes[p.start] for p in w.periods}


VOLUME_CHECK = StepCheck(
    asset="hourly_prediction_stats",
    name="volume",
    description=(
        "Hourly prediction count against the median of the same hour of day over the last "
        "7 days (ratio thresholds from the config, confirmed by a Poisson test)."
    ),
    evaluate_range=_volume_range,
)
