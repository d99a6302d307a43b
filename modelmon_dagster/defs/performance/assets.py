"""Delayed-label performance: the daily asset and its checks (run in the daily step)."""

from dataclasses import replace

import dagster as dg
import pandas as pd
import pyarrow as pa

from modelmon_dagster.baseline import Baseline, baseline_for_window
from modelmon_dagster.checks import CheckOutcome
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


def _baseline(w: Window) -> tuple[Baseline, str | None]:
    """The day's baseline, and why it is another version's when the served one has none."""

    def find():
        fallback: list[str] = []
        baseline = baseline_for_window(w.warehouse, w.model, w.start, w.end, fallback.append)
        return baseline, (fallback[0] if fallback else None)

    return w.memo("baseline", find)


def _baseline_id(w: Window) -> str | None:
    return _baseline(w)[0].baseline_id


def _judged_against(check):
    """Wrap a check so its outcome names the baseline it was judged against.

    A served version without a baseline of its own is judged against the default version's,
    and the outcome says so in its description and metadata (never silently).
    """

    def evaluate(w: Window) -> CheckOutcome:
        baseline, fallback = _baseline(w)
        reference = w.memo(
            "baseline_metrics",
            lambda: baseline_metrics(w.warehouse, w.model, baseline.baseline_id),
        )
        outcome = check(w, reference)
        metadata = outcome.metadata | {"baseline_version": baseline.model_version}
        description = outcome.description
        if fallback:
            metadata["baseline_fallback"] = fallback
            description += (
                f" [reference: the {baseline.model_version} baseline, as the served version "
                "has none of its own]"
            )
        return replace(outcome, metadata=metadata, description=description)

    return evaluate


def _compute(w: Window) -> dict:
    frame = pd.concat(
        [
            compute_performance(w.warehouse, w.model, p.start, p.end, _baseline_id(w.single(p)))
            for p in w.periods
        ],
        ignore_index=True,
    )
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
    overall = overall[overall["day_start"] == overall["day_start"].max()]
    if not overall.empty:
        meta["coverage"] = dg.MetadataValue.float(round(float(overall["coverage"].iloc[0]), 4))
        meta["n_labelled"] = dg.MetadataValue.int(int(overall["n_labelled"].iloc[0]))
        for row in overall.itertuples():
            if row.metric in ("accuracy", "recall", "roc_auc", "mae", "rmse", "fpr"):
                key = f"{row.metric}" if row.kind == "realised" else f"estimated_{row.metric}"
                meta[key] = dg.MetadataValue.float(round(float(row.value), 4))
    return meta


def _read(w: Window) -> pd.DataFrame:
    return w.memo("performance_rows", lambda: _query(w))


def _query(w: Window) -> pd.DataFrame:
    return w.warehouse.query_df(
        f"SELECT * FROM {PERFORMANCE.name} WHERE model_name = :m "
        "AND day_start >= :s AND day_start < :e",
        {"m": w.model.name, "s": w.start, "e": w.end},
    )


def _vs_baseline(kind: str):
    return _judged_against(lambda w, ref: performance_outcome(_read(w), w.model, ref, kind))


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
            _judged_against(lambda w, ref: segment_outcome(_read(w), w.model, ref)),
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
                _judged_against(lambda w, ref: calibration_outcome(_read(w), w.model, ref)),
            ),
        ]
    return (asset,), tuple(checks)
