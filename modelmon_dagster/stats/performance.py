"""Model performance on labelled rows (scikit-learn metrics; no Dagster, no SQL)."""

import math

import numpy as np
from sklearn import metrics

from modelmon_dagster.config import ModelConfig, Task


def performance_metrics(model: ModelConfig, y_true, y_pred, score=None) -> dict[str, float]:
    """Task-appropriate metrics of labelled predictions.

    Parameters
    ----------
    model : ModelConfig
        Gives the task and, for binary models, the positive class.
    y_true, y_pred : array_like
        Labels and predictions (class labels as strings, or numbers for regression).
    score : array_like, optional
        P(positive class) for binary models (needed for ROC AUC, Brier score and log loss).

    Returns
    -------
    dict
        Metric name to value. Empty input gives an empty dict, never zeros: no labels is not
        a measured accuracy of 0.

    Notes
    -----
    Binary: accuracy, precision, recall, f1, fpr, positive_rate, predicted_positive_rate and,
    with scores and both classes present, roc_auc, brier and log_loss. Multiclass: accuracy,
    macro_f1, weighted_f1. Regression: mae, rmse, r2 (needs 2+ rows), bias (mean error).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.size == 0:
        return {}
    if model.task is Task.REGRESSION:
        yt, yp = y_true.astype(float), y_pred.astype(float)
        abs_err = np.abs(yp - yt)
        out = {
            "mae": float(metrics.mean_absolute_error(yt, yp)),
            "rmse": float(math.sqrt(metrics.mean_squared_error(yt, yp))),
            "bias": float(np.mean(yp - yt)),
            "n_labelled": float(yt.size),
            "mae_se": float(abs_err.std(ddof=1) / math.sqrt(yt.size)) if yt.size > 1 else math.nan,
        }
        if yt.size > 1:
            out["r2"] = float(metrics.r2_score(yt, yp))
        return out
    yt, yp = y_true.astype(str), y_pred.astype(str)
    out = {"accuracy": float(metrics.accuracy_score(yt, yp)), "n_labelled": float(yt.size)}
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        out["macro_f1"] = float(metrics.f1_score(yt, yp, average="macro", zero_division=0))
        out["weighted_f1"] = float(metrics.f1_score(yt, yp, average="weighted", zero_division=0))
        return out
    pos = model.positive_class
    truth, pred = yt == pos, yp == pos
    out["n_labelled"] = float(truth.size)
    out["n_positive"] = float(truth.sum())
    out |= {
        "precision": float(metrics.precision_score(truth, pred, zero_division=0)),
        "recall": float(metrics.recall_score(truth, pred, zero_division=0)),
        "f1": float(metrics.f1_score(truth, pred, zero_division=0)),
        "fpr": float(np.mean(pred[~truth])) if (~truth).any() else math.nan,
        "positive_rate": float(np.mean(truth)),
        "predicted_positive_rate": float(np.mean(pred)),
    }
    if score is not None and 0 < truth.sum() < truth.size:
        s = np.asarray(score, dtype=float)
        out["roc_auc"] = float(metrics.roc_auc_score(truth, s))
        out["brier"] = float(metrics.brier_score_loss(truth, s))
        out["log_loss"] = float(metrics.log_loss(truth, np.clip(s, 1e-15, 1 - 1e-15)))
    return out


def wilson_interval(successes: float, n: float, z: float = 1.959963984540054):
    """Wilson score interval of a proportion (95 % by default).

    Notes
    -----
    Unlike the normal approximation it stays inside [0, 1] and behaves at 0 or n successes;
    ``n == 0`` gives ``(nan, nan)``: no labels is no evidence, not a proportion of 0.
    """
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def auc_from_histograms(positive_counts, negative_counts) -> float:
    """ROC AUC from score histograms of positives and negatives on the same ordered bins.

    Scores in the same bin count as ties (1/2), so the result differs from the exact AUC by
    at most the share of positive-negative pairs that share a bin, divided by two. NaN when
    either class is empty.
    """
    pos = np.asarray(positive_counts, dtype=float)
    neg = np.asarray(negative_counts, dtype=float)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return math.nan
    negatives_below = np.cumsum(neg) - neg
    wins = np.sum(pos * negatives_below) + 0.5 * np.sum(pos * neg)
    return float(wins / (n_pos * n_neg))


def expected_calibration_error(n, sum_score, positives) -> float:
    """ECE: sum over bins of (bin share) x |mean score - positive rate| (labelled rows only)."""
    n = np.asarray(n, dtype=float)
    keep = n > 0
    if not keep.any():
        return math.nan
    mean_score = np.asarray(sum_score, dtype=float)[keep] / n[keep]
    rate = np.asarray(positives, dtype=float)[keep] / n[keep]
    return float(np.sum(n[keep] / n[keep].sum() * np.abs(mean_score - rate)))


def expected_confusion(n, calibrated_p, predicted_positive) -> dict[str, float]:
    """Confidence-based performance estimation (CBPE) from scores calibrated on the reference.

    Each bin holds ``n`` predictions whose calibrated probability of being positive is
    ``calibrated_p``; the expected confusion matrix follows, and from it the expected metrics.

    Notes
    -----
    The estimate assumes P(label | score) is what it was on the reference: it follows shifts
    of the inputs and scores (covariate shift) before labels arrive, but it cannot see concept
    drift, where the same inputs come to mean different outcomes. Only labels show that.
    """
    n = np.asarray(n, dtype=float)
    p = np.asarray(calibrated_p, dtype=float)
    pred = np.asarray(predicted_positive, dtype=bool)
    total = n.sum()
    if total == 0:
        return {}
    tp = float(np.sum(n[pred] * p[pred]))
    fp = float(np.sum(n[pred] * (1 - p[pred])))
    tn = float(np.sum(n[~pred] * (1 - p[~pred])))
    fn = float(np.sum(n[~pred] * p[~pred]))
    out = {"accuracy": (tp + tn) / total, "positive_rate": (tp + fn) / total}
    if tp + fp > 0:
        out["precision"] = tp / (tp + fp)
    if tp + fn > 0:
        out["recall"] = tp / (tp + fn)
    if "precision" in out and "recall" in out and out["precision"] + out["recall"] > 0:
        out["f1"] = 2 * out["precision"] * out["recall"] / (out["precision"] + out["recall"])
    return out


def auc_standard_error(auc: float, n_positive: float, n_negative: float) -> float:
    """Hanley & McNeil (1982) standard error of a ROC AUC."""
    if n_positive < 1 or n_negative < 1 or math.isnan(auc):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (n_positive - 1) * (q1 - auc * auc) + (n_negative - 1) * (q2 - auc * auc)
    ) / (n_positive * n_negative)
    return math.sqrt(max(var, 0.0))


def metric_standard_error(metric: str, values: dict) -> float:
    """Standard error of ``values[metric]`` from the counts in ``values`` (NaN if unknown).

    Proportions use the binomial error on their denominator (labelled rows for accuracy,
    positives for recall); ROC AUC uses Hanley & McNeil; MAE uses ``mae_se``.
    """
    value = values.get(metric, math.nan)
    n, pos = values.get("n_labelled", 0.0), values.get("n_positive", math.nan)
    if metric == "accuracy" and n > 0:
        return math.sqrt(value * (1 - value) / n)
    if metric == "recall" and pos > 0:
        return math.sqrt(value * (1 - value) / pos)
    if metric == "roc_auc":
        return auc_standard_error(value, pos, n - pos)
    if metric == "mae":
        return values.get("mae_se", math.nan)
    return math.nan


def confusion_metrics(confusion: dict[tuple[str, str], float], classes) -> dict[str, float]:
    """Per-class recall, macro and weighted F1 from ``(label, prediction) -> count``.

    Matches scikit-learn's ``recall_score(average=None)`` and ``f1_score(average="macro" |
    "weighted")`` with ``zero_division=0`` over the configured ``classes``.
    """
    f1s, supports, out = [], [], {}
    for c in classes:
        tp = confusion.get((c, c), 0.0)
        support = sum(v for (label, _), v in confusion.items() if label == c)
        predicted = sum(v for (_, pred), v in confusion.items() if pred == c)
        recall = tp / support if support else 0.0
        precision = tp / predicted if predicted else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[f"recall_{c}"] = recall
        f1s.append(f1)
        supports.append(support)
    total = sum(supports)
    out["macro_f1"] = float(np.mean(f1s)) if f1s else math.nan
    out["weighted_f1"] = float(np.dot(f1s, supports) / total) if total else math.nan
    return out


def average_precision_from_histograms(positive_counts, negative_counts) -> float:
    """PR AUC as average precision, thresholding at each bin from the highest score down.

    Equals ``sklearn.metrics.average_precision_score`` on the binned scores (scores within a
    bin are tied). NaN without positives.
    """
    pos = np.asarray(positive_counts, dtype=float)[::-1]
    neg = np.asarray(negative_counts, dtype=float)[::-1]
    total_pos = pos.sum()
    if total_pos == 0:
        return math.nan
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    keep = pos > 0
    precision = tp[keep] / (tp[keep] + fp[keep])
    return float(np.sum(pos[keep] / total_pos * precision))


def reliability_table(scores, positives: np.ndarray | None = None, n_bins: int = 10):
    """Per equal-width score bin: count, mean score and positive rate (from raw scores)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positives, dtype=float)
    bins = np.minimum((s * n_bins).astype(int), n_bins - 1)
    n = np.bincount(bins, minlength=n_bins)
    sums = np.bincount(bins, weights=s, minlength=n_bins)
    hits = np.bincount(bins, weights=y, minlength=n_bins)
    return n, sums, hits
