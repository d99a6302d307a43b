"""Delayed-label performance from the warehouse's joined counts (no Dagster).

``daily_performance_counts`` and ``daily_score_histogram`` (SQL) hold a prediction day's
counts against the labels that have arrived so far; this module turns them into metrics with
confidence intervals, per segment, plus a confidence-based estimate that needs no labels, and
decides the performance checks. Fewer than ``min_labels`` labels is "not measurable yet",
never an accuracy of 0.
"""

import datetime as dt
import math

import numpy as np
import pandas as pd
from scipy import stats

from modelmon_dagster import readable
from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import ModelConfig, Task
from modelmon_dagster.stats.cbpe import DEFAULT_THRESHOLD, expected_roc_auc, predicted_positive_bins
from modelmon_dagster.stats.drift import benjamini_hochberg
from modelmon_dagster.stats.performance import (
    auc_from_histograms,
    average_precision_from_histograms,
    confusion_metrics,
    expected_calibration_error,
    expected_confusion,
    metric_standard_error,
    wilson_interval,
)
from modelmon_dagster.warehouse import TableSchema, Warehouse

ALL = "__all__"
PERFORMANCE = TableSchema(
    "daily_performance",
    (
        ("model_name", "VARCHAR"),
        ("day_start", "TIMESTAMP"),
        ("segment_column", "VARCHAR"),
        ("segment_value", "VARCHAR"),
        ("kind", "VARCHAR"),  # realised (from labels) or estimated (before labels)
        ("metric", "VARCHAR"),
        ("value", "DOUBLE PRECISION"),
        ("ci_low", "DOUBLE PRECISION"),
        ("ci_high", "DOUBLE PRECISION"),
        ("n_labelled", "BIGINT"),
        ("n_predictions", "BIGINT"),
        ("coverage", "DOUBLE PRECISION"),
    ),
)
# Metrics where higher is better (the rest: lower is better).
HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}
KEY_METRICS = {
    Task.BINARY_CLASSIFICATION: ("accuracy", "recall", "roc_auc"),
    Task.MULTICLASS_CLASSIFICATION: ("accuracy",),
    Task.REGRESSION: ("mae",),
}


def _ratio(k, n):
    return k / n if n else math.nan


def realised_metrics(model: ModelConfig, c: pd.Series) -> dict[str, tuple]:
    """``metric -> (value, ci_low, ci_high)`` from one row of ``daily_performance_counts``."""
    n = float(c["n_labelled"] or 0)
    if n == 0:
        return {}
    out = {}
    if model.task.is_classification:
        out["accuracy"] = (_ratio(c["n_correct"], n), *wilson_interval(c["n_correct"], n))
    if model.task is Task.BINARY_CLASSIFICATION:
        tp, fp, tn, fn = (float(c[k]) for k in ("tp", "fp", "tn", "fn"))
        out["n_positive"] = (tp + fn, math.nan, math.nan)
        for name, k, m in (
            ("precision", tp, tp + fp),
            ("recall", tp, tp + fn),
            ("fpr", fp, fp + tn),
            ("fnr", fn, fn + tp),
            ("positive_rate", tp + fn, n),
        ):
            if m > 0:
                out[name] = (k / m, *wilson_interval(k, m))
        p, r = out.get("precision", (math.nan,))[0], out.get("recall", (math.nan,))[0]
        if p + r > 0:
            out["f1"] = (2 * p * r / (p + r), math.nan, math.nan)
        out["brier"] = (c["sum_brier"] / n, math.nan, math.nan)
        out["log_loss"] = (c["sum_log_loss"] / n, math.nan, math.nan)
    if model.task is Task.REGRESSION:
        mae = c["sum_abs_error"] / n
        mse = c["sum_sq_error"] / n
        out["mae"] = (mae, math.nan, math.nan)
        if n > 1:
            var_abs = max(c["sum_sq_error"] / n - mae * mae, 0.0) * n / (n - 1)
            out["mae_se"] = (math.sqrt(var_abs / n), math.nan, math.nan)
        out["rmse"] = (math.sqrt(mse), math.nan, math.nan)
        out["bias"] = (c["sum_error"] / n, math.nan, math.nan)
        if c["n_pct"]:
            out["mape"] = (c["sum_abs_pct_error"] / c["n_pct"], math.nan, math.nan)
        sst = c["sum_sq_label"] - c["sum_label"] ** 2 / n
        if n > 1 and sst > 0:
            out["r2"] = (1 - c["sum_sq_error"] / sst, math.nan, math.nan)
    return out


def _histogram_metrics(
    model: ModelConfig, hist: pd.DataFrame, calibration: pd.DataFrame, threshold: float
):
    """ROC AUC and ECE from labelled scores; the CBPE estimate from all scores.

    The estimate's confusion matrix predicts positive from ``threshold`` on the score (the
    model's decision threshold); its ROC AUC needs no threshold.
    """
    realised, estimated = {}, {}
    if model.task is not Task.BINARY_CLASSIFICATION or hist.empty:
        return realised, estimated
    wide = hist.pivot_table(
        index="score_bin", columns="label_state", values="n", aggfunc="sum", fill_value=0
    ).reindex(range(100), fill_value=0)
    sums = hist.pivot_table(
        index="score_bin", columns="label_state", values="sum_score", aggfunc="sum", fill_value=0.0
    ).reindex(range(100), fill_value=0.0)
    pos = wide.get("positive", pd.Series(0, index=wide.index))
    neg = wide.get("negative", pd.Series(0, index=wide.index))
    if pos.sum() and neg.sum():
        realised["roc_auc"] = (auc_from_histograms(pos, neg), math.nan, math.nan)
        realised["pr_auc"] = (average_precision_from_histograms(pos, neg), math.nan, math.nan)
        # reliability on 10 bins of 0.1
        deciles = np.arange(100) // 10
        n10 = (pos + neg).groupby(deciles).sum()
        s10 = (sums.get("positive", 0) + sums.get("negative", 0)).groupby(deciles).sum()
        p10 = pos.groupby(deciles).sum()
        realised["ece"] = (expected_calibration_error(n10, s10, p10), math.nan, math.nan)
    if not calibration.empty:
        total = wide.sum(axis=1)
        cal = calibration.set_index("score_bin")["calibrated_p"].reindex(range(100)).to_numpy()
        estimate = expected_confusion(total, cal, predicted_positive_bins(threshold))
        estimate["roc_auc"] = expected_roc_auc(total, cal)
        estimated = {k: (v, math.nan, math.nan) for k, v in estimate.items()}
    return realised, estimated


def decision_threshold(warehouse: Warehouse, model: ModelConfig, baseline_id: str | None) -> float:
    """The config's ``decision_threshold``, else the one the baseline derived, else 0.5."""
    if model.decision_threshold is not None:
        return model.decision_threshold
    if baseline_id and warehouse.table_exists("baseline_performance"):
        value = warehouse.scalar(
            "SELECT max(value) FROM baseline_performance WHERE model_name = :m "
            "AND baseline_id = :b AND metric = 'decision_threshold' AND segment_column = :all",
            {"m": model.name, "b": baseline_id, "all": ALL},
        )
        if value is not None and not math.isnan(value):
            return float(value)
    return DEFAULT_THRESHOLD


def reliability_rows(hist: pd.DataFrame) -> list[dict]:
    """The reliability table of labelled scores on 10 bins: count, mean score, positive rate."""
    labelled = hist[hist["label_state"].isin(["positive", "negative"])]
    if labelled.empty:
        return []
    decile = labelled["score_bin"] // 10
    grouped = (
        labelled.assign(
            decile=decile, positives=labelled["n"].where(labelled["label_state"] == "positive", 0)
        )
        .groupby("decile")[["n", "sum_score", "positives"]]
        .sum()
    )
    return [
        {
            "scores": f"{d / 10:.1f}-{(d + 1) / 10:.1f}",
            "n": int(r.n),
            "mean_score": round(r.sum_score / r.n, 4),
            "positive_rate": round(r.positives / r.n, 4),
        }
        for d, r in grouped.iterrows()
        if r.n
    ]


def compute_performance(
    warehouse: Warehouse,
    model: ModelConfig,
    start: dt.datetime,
    end: dt.datetime,
    baseline_id: str | None,
) -> pd.DataFrame:
    """Rows of ``daily_performance`` for the prediction days in ``[start, end)``."""
    params = {"m": model.name, "s": start, "e": end}
    counts = warehouse.query_df(
        "SELECT * FROM daily_performance_counts WHERE model_name = :m "
        "AND day_start >= :s AND day_start < :e",
        params,
    )
    hist = (
        warehouse.query_df(
            "SELECT * FROM daily_score_histogram WHERE model_name = :m "
            "AND day_start >= :s AND day_start < :e",
            params,
        )
        if warehouse.table_exists("daily_score_histogram")
        else pd.DataFrame()
    )
    calibration = pd.DataFrame(columns=["score_bin", "calibrated_p"])
    if baseline_id and warehouse.table_exists("baseline_calibration"):
        calibration = warehouse.query_df(
            "SELECT score_bin, calibrated_p FROM baseline_calibration "
            "WHERE model_name = :m AND baseline_id = :b",
            {"m": model.name, "b": baseline_id},
        )
    threshold = (
        decision_threshold(warehouse, model, baseline_id)
        if model.task is Task.BINARY_CLASSIFICATION
        else DEFAULT_THRESHOLD
    )
    confusion = pd.DataFrame()
    if model.task is Task.MULTICLASS_CLASSIFICATION and warehouse.table_exists(
        "daily_confusion_counts"
    ):
        confusion = warehouse.query_df(
            "SELECT day_start, label, prediction, n FROM daily_confusion_counts "
            "WHERE model_name = :m AND day_start >= :s AND day_start < :e",
            params,
        )
    rows = []
    for c in counts.itertuples(index=False):
        c = pd.Series(c._asdict())
        n, n_pred = int(c["n_labelled"] or 0), int(c["n_predictions"] or 0)
        common = {
            "model_name": model.name,
            "day_start": c["day_start"],
            "segment_column": c["segment_column"],
            "segment_value": c["segment_value"],
            "n_labelled": n,
            "n_predictions": n_pred,
            "coverage": n / n_pred if n_pred else math.nan,
        }
        metrics = {"realised": realised_metrics(model, c)}
        if c["segment_column"] == ALL:
            day_hist = hist[hist["day_start"] == c["day_start"]] if not hist.empty else hist
            extra, estimated = _histogram_metrics(model, day_hist, calibration, threshold)
            metrics["realised"] |= extra
            metrics["estimated"] = estimated
            if not confusion.empty:
                day_conf = confusion[confusion["day_start"] == c["day_start"]]
                cells = {(r.label, r.prediction): float(r.n) for r in day_conf.itertuples()}
                metrics["realised"] |= {
                    k: (v, math.nan, math.nan)
                    for k, v in confusion_metrics(cells, model.classes).items()
                }
            if pd.notna(c["label_lag_p50_hours"]):
                metrics["realised"]["label_lag_p50_hours"] = (
                    c["label_lag_p50_hours"],
                    math.nan,
                    math.nan,
                )
        for kind, values in metrics.items():
            for metric, (value, lo, hi) in values.items():
                rows.append(
                    common
                    | {"kind": kind, "metric": metric, "value": value, "ci_low": lo, "ci_high": hi}
                )
    return pd.DataFrame(rows, columns=PERFORMANCE.column_names)


# -- checks -----------------------------------------------------------------------------------


def _overall(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    return frame[(frame["segment_column"] == ALL) & (frame["kind"] == kind)].set_index("metric")


def baseline_metrics(warehouse: Warehouse, model: ModelConfig, baseline_id: str | None) -> dict:
    """Reference performance: ``(segment_column, segment_value) -> {metric: value}``."""
    if not baseline_id or not warehouse.table_exists("baseline_performance"):
        return {}
    frame = warehouse.query_df(
        "SELECT segment_column, segment_value, metric, value FROM baseline_performance "
        "WHERE model_name = :m AND baseline_id = :b",
        {"m": model.name, "b": baseline_id},
    )
    out: dict = {}
    for r in frame.itertuples():
        out.setdefault((r.segment_column, r.segment_value), {})[r.metric] = float(r.value)
    return out


def compare_metric(metric: str, day: dict, ref: dict, t) -> tuple[str | None, dict]:
    """Severity (None, WARN, ERROR) of ``day[metric]`` against ``ref[metric]``, with details.

    Higher-is-better metrics drop by ``ref - day`` (absolute); MAE rises by ``day / ref - 1``.
    The day's sampling error is taken under the null hypothesis (the day's counts at the
    reference's value: a score test), so a day whose few positives were all missed, a recall of
    0 on 2 positives, is not "certainly worse": its Wald error would be 0.
    """
    value, reference = day.get(metric, math.nan), ref.get(metric, math.nan)
    if math.isnan(value) or math.isnan(reference):
        return None, {}
    under_null = day if metric == "mae" else {**day, metric: reference}
    se = math.hypot(
        *(
            0.0 if math.isnan(s) else s
            for s in (
                metric_standard_error(metric, under_null),
                metric_standard_error(metric, ref),
            )
        )
    )
    worse = reference - value if metric in HIGHER_IS_BETTER else value - reference
    drop = worse if metric in HIGHER_IS_BETTER else (worse / reference if reference else 0.0)
    p_value = float(stats.norm.sf(worse / se)) if se > 0 else (0.0 if worse > 0 else 1.0)
    details = {
        "value": round(value, 4),
        "baseline": round(reference, 4),
        "drop": round(drop, 4),
        "p_value": p_value,
    }
    if p_value >= t.performance_significance:
        return None, details
    if drop >= t.performance_drop_error:
        return "ERROR", details
    if drop >= t.performance_drop_warn:
        return "WARN", details
    return None, details


def _day_values(frame: pd.DataFrame, kind: str, segment=(ALL, ALL)) -> dict:
    rows = frame[
        (frame["kind"] == kind)
        & (frame["segment_column"] == segment[0])
        & (frame["segment_value"] == segment[1])
    ]
    values = dict(zip(rows["metric"], rows["value"].astype(float), strict=True))
    if len(rows):
        values["n_labelled"] = float(rows["n_labelled"].iloc[0])
    return values


def performance_outcome(frame, model: ModelConfig, baseline: dict, kind: str) -> CheckOutcome:
    """Realised (or estimated) key metrics of the day against the baseline's.

    Realised: a metric fails when the day is worse than the reference at
    ``performance_significance`` (sampling error of both sides counted) and the drop reaches
    ``performance_drop_warn`` / ``_error``. Estimated (CBPE, binary models): the day's estimate
    against the same estimator on the reference, WARN at most: an estimate warns, labels decide.

    Not judged: fewer than ``min_labels`` labels (realised), no metrics for the day, no
    baseline, or no key metric present on both sides (each one missing is listed).
    """
    name = "performance" if kind == "realised" else "estimated_performance"
    t = model.thresholds
    overall = frame[frame["segment_column"] == ALL]
    coverage = float(overall["coverage"].iloc[0]) if len(overall) else 0.0
    n_labelled = int(overall["n_labelled"].iloc[0]) if len(overall) else 0
    meta = {"coverage": round(coverage, 4), "n_labelled": n_labelled}
    ref = baseline.get((ALL, ALL), {})
    if kind == "realised" and n_labelled < t.min_labels:
        return CheckOutcome.not_judged(
            name,
            f"only {n_labelled} labels so far (coverage {coverage:.0%}); "
            f"need {t.min_labels:.0f} to judge",
            meta,
            "ERROR",
        )
    day = _day_values(frame, kind)
    if kind == "estimated":
        day = {f"estimated_{k}": v for k, v in day.items() if k != "n_labelled"}
        # Accuracy only: the estimated recall rests on a few expected positives a day and
        # moves by several points on clean days.
        metrics = ("estimated_accuracy",)
    else:
        metrics = KEY_METRICS[model.task]
    if not day:
        return CheckOutcome.not_judged(name, "no metrics for this day", meta)
    if not ref:
        return CheckOutcome.not_judged(name, "the baseline has no reference performance", meta)
    missing = {
        m: "day" if math.isnan(day.get(m, math.nan)) else "baseline"
        for m in metrics
        if math.isnan(day.get(m, math.nan)) or math.isnan(ref.get(m, math.nan))
    }
    meta["not_compared"] = [f"{m} ({side})" for m, side in missing.items()]
    said = ", ".join(f"{readable.name(m)} ({side})" for m, side in missing.items())
    compared = [m for m in metrics if m not in missing]
    if not compared:
        return CheckOutcome.not_judged(name, f"no key metric on both sides: {said}", meta)
    findings, worst = [], None
    for metric in compared:
        if kind == "estimated":
            value, reference = day[metric], ref[metric]
            drop = reference - value
            severity = "WARN" if drop >= t.performance_drop_warn else None
            meta[metric] = {"value": round(value, 4), "baseline": round(reference, 4)}
        else:
            severity, meta[metric] = compare_metric(metric, day, ref, t)
        if severity:
            findings.append(
                f"{readable.name(metric)} {meta[metric]['value']:.3f} vs "
                f"{meta[metric]['baseline']:.3f} on the reference"
            )
            worst = "ERROR" if "ERROR" in (severity, worst) else "WARN"
    if kind == "estimated" and "estimated_roc_auc" in day:  # shown, not judged
        meta["estimated_roc_auc"] = {
            "value": round(day["estimated_roc_auc"], 4),
            "baseline": round(ref.get("estimated_roc_auc", math.nan), 4),
        }
    unjudged = f" (not compared: {said})" if missing else ""
    if not findings:
        return CheckOutcome(
            name,
            True,
            "ERROR" if kind == "realised" else "WARN",
            f"{', '.join(map(readable.name, compared))} in line with the reference{unjudged}",
            meta,
        )
    return CheckOutcome(name, False, worst, "; ".join(findings) + unjudged, meta)


def _worse_than_rest(model: ModelConfig, day: dict, rest: dict) -> tuple[float, float]:
    """One-sided p-value that a segment is worse than the rest of the day, and the gap.

    Classifiers: two-proportion z-test of accuracy, gap in points. Regression: Welch z-test of
    the mean absolute error (variance of |error| from the sums of squares), gap as the
    relative rise of MAE over the rest's.
    """
    n1, n0 = day["n"], rest["n"]
    if n0 <= 0 or n1 <= 0:
        return math.nan, 0.0
    if model.task.is_classification:
        p1, p0 = day["correct"] / n1, rest["correct"] / n0
        pooled = (day["correct"] + rest["correct"]) / (n1 + n0)
        se = math.sqrt(max(pooled * (1 - pooled) * (1 / n1 + 1 / n0), 1e-300))
        return float(stats.norm.cdf((p1 - p0) / se)), p0 - p1
    m1, m0 = day["sum_abs"] / n1, rest["sum_abs"] / n0
    v1 = max(day["sum_sq"] / n1 - m1 * m1, 0.0)
    v0 = max(rest["sum_sq"] / n0 - m0 * m0, 0.0)
    se = math.sqrt(max(v1 / n1 + v0 / n0, 1e-300))
    return float(stats.norm.sf((m1 - m0) / se)), (m1 / m0 - 1.0) if m0 > 0 else math.inf


def _reference_gap(model: ModelConfig, baseline: dict, scope: tuple) -> float:
    """How far a segment value lay below the rest of the reference (0 without a reference)."""
    ref_all, ref_part = baseline.get((ALL, ALL), {}), baseline.get(scope, {})
    if not model.task.is_classification or not ref_part.get("n_labelled"):
        return 0.0
    whole, part = _sums(ref_all, model), _sums(ref_part, model)
    rest = {k: whole[k] - part[k] for k in part}
    if not rest["n"] > 0 or math.isnan(rest["correct"]) or math.isnan(part["correct"]):
        return 0.0
    return rest["correct"] / rest["n"] - part["correct"] / part["n"]


def _sums(values: dict, model: ModelConfig) -> dict:
    """Counts behind a scope's key metric: n, and correct (classifiers) or |e| and e² sums."""
    n = values.get("n_labelled", 0.0)
    if model.task.is_classification:
        return {"n": n, "correct": values.get("accuracy", math.nan) * n}
    return {
        "n": n,
        "sum_abs": values.get("mae", math.nan) * n,
        "sum_sq": values.get("rmse", math.nan) ** 2 * n,
    }


def segment_outcome(frame: pd.DataFrame, model: ModelConfig, baseline: dict) -> CheckOutcome:
    """Segment values clearly worse than their own reference, or than the rest of the day.

    Against the segment's own reference (every task): the overall check's rule (significance
    and drop thresholds) on the key metric. Against the rest of the day: classifiers for every
    segment value (a model 95 % accurate overall and 50 % on one segment fails); regression only
    for segment values without a reference of their own (regions differ in MAE by nature, so
    a permanent gap is not news, but a new region with 8x the MAE is). A one-sided test per
    segment, Benjamini-Hochberg across them, and a gap of at least ``segment_gap_warn``
    (ERROR from ``segment_gap_error``; points of accuracy, or relative rise of MAE). For a
    classifier's segment value with a reference, the gap counted is the part beyond the gap it
    already had in the reference (a merchant category always 10 points below the rest is not
    news; one that falls from par to 50 % is).

    Not judged when no segment value has ``min_labels`` labels yet.
    """
    t = model.thresholds
    key = KEY_METRICS[model.task][0]
    scopes = frame.loc[
        (frame["segment_column"] != ALL) & (frame["kind"] == "realised"),
        ["segment_column", "segment_value", "n_labelled"],
    ].drop_duplicates(["segment_column", "segment_value"])
    tested = scopes[scopes["n_labelled"] >= t.min_labels]
    overall = _day_values(frame, "realised")
    meta = {
        "segments_tested": len(tested),
        "segments_too_small": int(len(scopes) - len(tested)),
    }
    if key not in overall or tested.empty:
        return CheckOutcome.not_judged(
            "segment_performance",
            f"no segment value has {t.min_labels:.0f} labels yet",
            meta,
            "ERROR",
        )
    own_reference, without_reference = [], []
    for seg in tested.itertuples(index=False):
        scope = (seg.segment_column, seg.segment_value)
        ref = baseline.get(scope, {})
        if key not in ref:
            without_reference.append(scope)
            continue
        severity, details = compare_metric(key, _day_values(frame, "realised", scope), ref, t)
        if severity:
            own_reference.append((severity, f"{scope[0]}={scope[1]}", details))
    # worst first, then by name: the same text whatever order the warehouse returned the rows in
    own_reference.sort(key=lambda x: (-x[2]["drop"], x[1]))
    candidates = (
        [(s.segment_column, s.segment_value) for s in tested.itertuples(index=False)]
        if model.task.is_classification
        else without_reference
    )
    total = _sums(overall, model)
    p_values, gaps, values = [], [], []
    for scope in candidates:
        day = _day_values(frame, "realised", scope)
        part = _sums(day, model)
        rest = {k: total[k] - part[k] for k in part}
        p_value, gap = _worse_than_rest(model, part, rest)
        gap -= max(_reference_gap(model, baseline, scope), 0.0)
        p_values.append(p_value)
        gaps.append(gap)
        values.append(day.get(key, math.nan))
    fdr = benjamini_hochberg(p_values, t.fdr_alpha)
    found = sorted(
        (
            (gap, scope, value, adj)
            for scope, gap, value, rejected, adj in zip(
                candidates, gaps, values, fdr.rejected, fdr.adjusted_p, strict=True
            )
            if rejected and gap >= t.segment_gap_warn
        ),
        key=lambda x: -x[0],
    )
    meta |= {
        "worse_than_own_reference": [
            {"segment": name, "severity": sev, **details} for sev, name, details in own_reference
        ],
        "without_own_reference": [f"{c}={v}" for c, v in without_reference],
        "worst_segments": [
            {
                "segment": f"{scope[0]}={scope[1]}",
                key: round(float(value), 4),
                "overall": round(float(overall[key]), 4),
                "gap": round(float(gap), 4),
                "adjusted_p": None if math.isnan(adj) else float(adj),
            }
            for gap, scope, value, adj in found[:10]
        ],
    }
    problems, severity = [], None
    if found:
        gap, scope, value, _ = found[0]
        severity = "ERROR" if gap >= t.segment_gap_error else "WARN"
        problems.append(
            f"{len(found)} segment(s) worse than the rest of the day; worst {scope[0]}="
            f"{scope[1]}: {readable.name(key)} {value:.3f} vs {overall[key]:.3f} overall"
        )
    if own_reference:
        severity = "ERROR" if "ERROR" in (severity, *(x[0] for x in own_reference)) else "WARN"
        problems.append(
            f"{len(own_reference)} segment(s) worse than their own reference: "
            + ", ".join(name for _, name, _ in own_reference[:5])
        )
    if not problems:
        return CheckOutcome(
            "segment_performance",
            True,
            "ERROR",
            "no segment clearly worse than its reference or the rest of the day",
            meta,
        )
    return CheckOutcome("segment_performance", False, severity, "; ".join(problems), meta)


def calibration_outcome(frame: pd.DataFrame, model: ModelConfig, baseline: dict) -> CheckOutcome:
    """Expected calibration error of the day against the reference's.

    WARN when it rises by more than ``calibration_ece_rise_warn``: with stable accuracy, an
    early sign of concept or prior drift (the scores no longer mean the probabilities they
    meant on the reference). Not judged with fewer than ``min_labels`` labels or no ECE.
    """
    t = model.thresholds
    day = _day_values(frame, "realised")
    ref = baseline.get((ALL, ALL), {})
    n = int(day.get("n_labelled", 0))
    meta = {"n_labelled": n, "ece": day.get("ece"), "baseline_ece": ref.get("ece")}
    if n < t.min_labels:
        return CheckOutcome.not_judged(
            "calibration", f"only {n} labels so far; need {t.min_labels:.0f}", meta
        )
    if "ece" not in day or "ece" not in ref:
        side = "the day" if "ece" not in day else "the baseline"
        return CheckOutcome.not_judged("calibration", f"no calibration error for {side}", meta)
    rise = day["ece"] - ref["ece"]
    meta["rise"] = round(rise, 4)
    if rise > t.calibration_ece_rise_warn:
        return CheckOutcome(
            "calibration",
            False,
            "WARN",
            f"calibration error (ECE) {day['ece']:.3f} vs {ref['ece']:.3f} on the reference",
            meta,
        )
    return CheckOutcome("calibration", True, "WARN", "calibration in line with the baseline", meta)


def business_outcome(frame: pd.DataFrame, model: ModelConfig) -> CheckOutcome:
    """The config's business rules on the day's realised metrics (enough labels required)."""
    t = model.thresholds
    overall = _overall(frame, "realised")
    n = int(frame["n_labelled"].max()) if len(frame) else 0
    meta = {"rules": [r.describe() for r in model.business_rules], "n_labelled": n}
    if not model.business_rules:
        return CheckOutcome.not_judged("business_rules", "no business rules configured", meta)
    if n < t.min_labels:
        return CheckOutcome.not_judged(
            "business_rules", f"only {n} labels so far; need {t.min_labels:.0f}", meta, "ERROR"
        )
    broken, unmeasurable, severity = [], [], "WARN"
    for rule in model.business_rules:
        value = float(overall.loc[rule.metric, "value"]) if rule.metric in overall.index else None
        if value is None or math.isnan(value):
            unmeasurable.append(rule.describe())
            continue
        if rule.breaks(value):
            broken.append(f"{rule.metric} = {value:.4f} breaks {rule.describe()}")
            severity = "ERROR" if rule.severity == "ERROR" else severity
    meta["not_measurable"] = unmeasurable
    note = f" (not measurable: {', '.join(unmeasurable)})" if unmeasurable else ""
    if broken:
        return CheckOutcome("business_rules", False, severity, "; ".join(broken) + note, meta)
    if len(unmeasurable) == len(model.business_rules):
        return CheckOutcome.not_judged(
            "business_rules", "no rule's metric is measurable this day" + note, meta, "ERROR"
        )
    return CheckOutcome("business_rules", True, "ERROR", "all business rules hold" + note, meta)
