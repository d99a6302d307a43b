"""Delayed-label performance: the daily asset and its checks (run in the daily step)."""

import dagster as dg
import pandas as pd
import pyarrow as pa

from modelmon_dagster.baseline import baseline_for_window
from modelmon_dagster.defs.aggregates.assets import PythonAsset, StepCheck, Window
from modelmon_dagster.performance import (
    ALL,
    PERFORMANCE,
    baseline_metrics,
    business_outcome,
    calibration_outcome,
    compute_performance,
    performance_outcome,
    reliability_rows,
    segment_outcome,
)

PERFORMANCE_ASSETS = (
    "daily_performance_counts",
    "daily_score_histogram",
    "daily_confusion_counts",
    "daily_performance",
)


def _baseline_id(w: Window) -> str | None:
    return baseline_for_window(w.warehouse, w.model, w.start, w.end, lambda _m: None).baseline_id


def _compute(w: Window) -> dict:
    frame = compute_performance(w.warehouse, w.model, w.start, w.end, _baseline_id(w))
    written = w.warehouse.replace_rows(
        PERFORMANCE,
        "model_name = :m AND day_start >= :s AND day_start < :e",
        {"m": w.model.name, "s": w.start, "e": w.end},
        rows=pa.Table.from_pandas(frame, preserve_index=False),
    )
    overall = frame[frame["segment_column"] == ALL]
    meta = {"rows_written": dg.MetadataValue.int(written)}
    if w.model.task.value == "binary_classification":
        hist = w.warehouse.query_df(
            "SELECT label_state, score_bin, n, sum_score FROM daily_score_histogram "
            "WHERE model_name = :m AND day_start >= :s AND day_start < :e",
            {"m": w.model.name, "s": w.start, "e": w.end},
        )
        meta["reliability"] = dg.MetadataValue.json(reliability_rows(hist))
    if not overall.empty:
        meta["coverage"] = dg.MetadataValue.float(round(float(overall["coverage"].iloc[0]), 4))
        meta["n_labelled"] = dg.MetadataValue.int(int(overall["n_labelled"].iloc[0]))
        for row in overall.itertuples():
            if row.metric in ("accuracy", "recall", "roc_auc", "mae", "rmse", "fpr"):
                key = f"{row.metric}" if row.kind == "realised" else f"estimated_{row.metric}"
                meta[key] = dg.MetadataValue.float(round(float(row.value), 4))
    return meta


def _read(w: Window) -> pd.DataFrame:
    return w.warehouse.query_df(
        f"SELECT * FROM {PERFORMANCE.name} WHERE model_name = :m "
        "AND day_start >= :s AND day_start < :e",
        {"m": w.model.name, "s": w.start, "e": w.end},
    )


def _vs_baseline(kind: str):
    def evaluate(w: Window):
        baseline = baseline_metrics(w.warehouse, w.model, _baseline_id(w))
        return performance_outcome(_read(w), w.model, baseline, kind)

    return evaluate


def performance_parts(model) -> tuple[tuple[PythonAsset, ...], tuple[StepCheck, ...]]:
    """The ``daily_performance`` asset and its checks.

    The estimate before labels and the calibration check need scores: binary models only.
    """
    asset = PythonAsset(
        name="daily_performance",
        description=(
            "Performance of the day's predictions against the labels arrived so far: coverage, "
            "metrics with Wilson intervals, per segment, plus a confidence-based estimate "
            "before labels (binary models)."
        ),
        deps=("daily_performance_counts", "daily_score_histogram", "daily_confusion_counts"),
        compute=_compute,
    )

    def reference(w: Window) -> dict:
        return baseline_metrics(w.warehouse, w.model, _baseline_id(w))

    checks = [
        StepCheck(
            "daily_performance",
            "performance",
            "Key metrics (accuracy, recall, ROC AUC; MAE for regression) against the "
            "reference: worse at p < 0.001 (both sides' sampling error) and by the config's "
            "drop threshold; needs min_labels labels.",
            _vs_baseline("realised"),
        ),
        StepCheck(
            "daily_performance",
            "segment_performance",
            "Segment values clearly worse than the rest of the day (two-proportion test, "
            "Benjamini-Hochberg, gap thresholds) or than their own reference.",
            lambda w: segment_outcome(_read(w), w.model, reference(w)),
        ),
        StepCheck(
            "daily_performance",
            "business_rules",
            "The config's business rules on the day's realised metrics.",
            lambda w: business_outcome(_read(w), w.model),
        ),
    ]
    if model.task.value == "binary_classification":
        checks += [
            StepCheck(
                "daily_performance",
                "estimated_performance",
                "Confidence-based estimate of accuracy (scores calibrated on the reference) "
                "against the same estimate on the reference: follows input-driven drops before "
                "labels arrive; it cannot see concept drift.",
                _vs_baseline("estimated"),
            ),
            StepCheck(
                "daily_performance",
                "calibration",
                "Expected calibration error against the reference's: scores that stop meaning "
                "the probabilities they meant signal concept or prior drift.",
                lambda w: calibration_outcome(_read(w), w.model, reference(w)),
            ),
        ]
    return (asset,), tuple(checks)
