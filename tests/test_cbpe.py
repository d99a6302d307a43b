"""The pre-label estimate (CBPE) against oracles on simulated calibrated scores."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, roc_auc_score

from modelmon_dagster.baseline import reference_threshold
from modelmon_dagster.stats.cbpe import (
    derive_threshold,
    expected_roc_auc,
    predicted_positive_bins,
)
from modelmon_dagster.stats.performance import expected_confusion

N = 200_000


def calibrated(rng, a, b, n=N):
    scores = rng.beta(a, b, n)
    return scores, rng.random(n) < scores  # P(y = 1 | score) = score: calibrated


def binned(scores):
    bins = np.minimum((scores * 100).astype(int), 99)
    n = np.bincount(bins, minlength=100).astype(float)
    sums = np.bincount(bins, weights=scores, minlength=100)
    centres = (np.arange(100) + 0.5) / 100  # empty bins: the isotonic fit covers every bin
    return n, np.divide(sums, n, out=centres.copy(), where=n > 0)


def cbpe_auc_on_raw_scores(scores):
    """NannyML's CBPE ROC AUC: each prediction is p positive and 1 - p negative."""
    p = np.sort(scores)[::-1]
    tpr = np.concatenate([[0], np.cumsum(p) / p.sum()])
    fpr = np.concatenate([[0], np.cumsum(1 - p) / (1 - p).sum()])
    return auc(fpr, tpr)


@pytest.mark.parametrize(("a", "b"), [(2, 5), (0.5, 0.5), (5, 2), (1, 8)])
def test_estimated_roc_auc_matches_realised_and_raw_cbpe(a, b):
    rng = np.random.default_rng([int(a * 10), int(b * 10)])
    scores, y = calibrated(rng, a, b)
    n, p = binned(scores)
    estimate = expected_roc_auc(n, p)
    assert estimate == pytest.approx(cbpe_auc_on_raw_scores(scores), abs=0.002)  # binning
    assert estimate == pytest.approx(roc_auc_score(y, scores), abs=0.005)  # sampling


def test_estimated_roc_auc_follows_a_shift_of_the_scores():
    rng = np.random.default_rng(3)
    ref_scores, _ = calibrated(rng, 0.5, 0.5)
    _, calibration = binned(ref_scores)  # P(y | bin) learnt on the reference
    shifted, y = calibrated(rng, 5, 5)  # covariate shift to unsure scores; the relation holds
    n, _ = binned(shifted)
    estimate = expected_roc_auc(n, calibration)
    assert estimate == pytest.approx(roc_auc_score(y, shifted), abs=0.006)
    assert expected_roc_auc(*binned(ref_scores)) - estimate > 0.1  # it fell with the scores


def test_expected_accuracy_uses_the_models_threshold():
    rng = np.random.default_rng(5)
    scores, y = calibrated(rng, 2, 3)
    n, p = binned(scores)
    for threshold in (0.5, 0.65, 0.3):
        realised = np.mean((scores >= threshold) == y)
        estimate = expected_confusion(n, p, predicted_positive_bins(threshold))["accuracy"]
        assert estimate == pytest.approx(realised, abs=0.004), threshold
    # the hard-coded 0.5 described another model: off by more than the tolerance at 0.65
    at_065 = np.mean((scores >= 0.65) == y)
    assert abs(expected_confusion(n, p, predicted_positive_bins(0.5))["accuracy"] - at_065) > 0.01


def test_threshold_is_derived_from_logged_predictions_and_scores():
    rng = np.random.default_rng(1)
    scores = rng.random(5000)
    assert derive_threshold(scores, scores >= 0.65) == pytest.approx(0.65, abs=0.002)
    noisy = (scores >= 0.7) ^ (rng.random(5000) < 0.004)  # a few overrides
    assert derive_threshold(scores, noisy) == pytest.approx(0.7, abs=0.01)
    assert derive_threshold(scores, rng.random(5000) < 0.3) is None  # no rule fits
    assert derive_threshold(scores, np.zeros(5000, bool)) is None  # one class only
    assert derive_threshold([], []) is None
    assert predicted_positive_bins(0.65).argmax() == 65
    assert predicted_positive_bins(0.5).sum() == 50


def test_reference_threshold_prefers_the_config_then_the_logs_then_one_half(demo_config):
    import dataclasses

    fraud = demo_config.model("fraud_detector")
    scores = np.linspace(0.001, 0.999, 999)
    frame = pd.DataFrame(
        {
            "status": "ok",
            "score": scores,
            "prediction_label": np.where(scores >= 0.8, "1", "0"),
        }
    )
    assert reference_threshold(fraud, frame) == pytest.approx(0.8, abs=0.001)
    configured = dataclasses.replace(fraud, decision_threshold=0.3)
    assert reference_threshold(configured, frame) == 0.3
    random_labels = frame.assign(prediction_label=np.resize(["0", "1", "1"], 999))
    assert reference_threshold(fraud, random_labels) == 0.5
