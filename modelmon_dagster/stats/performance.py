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
        out = {
            "mae": float(metrics.mean_absolute_error(yt, yp)),
            "rmse": float(math.sqrt(metrics.mean_squared_error(yt, yp))),
            "bias": float(np.mean(yp - yt)),
        }
        if yt.size > 1:
            out["r2"] = float(metrics.r2_score(yt, yp))
        return out
    yt, yp = y_true.astype(str), y_pred.astype(str)
    out = {"accuracy": float(metrics.accuracy_score(yt, yp))}
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        out["macro_f1"] = float(metrics.f1_score(yt, yp, average="macro", zero_division=0))
        out["weighted_f1"] = float(metrics.f1_score(yt, yp, average="weighted", zero_division=0))
        return out
    pos = model.positive_class
    truth, pred = yt == pos, yp == pos
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
