"""Confidence-based performance estimation (CBPE) of binary classifiers on score histograms.

Before labels arrive, a prediction whose calibrated probability of being positive is ``p``
counts as ``p`` of a positive and ``1 - p`` of a negative. The expected confusion matrix needs
the rule that turns a score into a predicted class (the decision threshold); the expected ROC
AUC needs none (NannyML's CBPE does the same on raw scores; here the scores are on the 100
equal-width bins of ``daily_score_histogram``, and scores within a bin count as ties).
"""

import numpy as np

from modelmon_dagster.stats.performance import auc_from_histograms

DEFAULT_THRESHOLD = 0.5
# The logged predictions "say" a threshold when at most this share of them disagrees with it.
MAX_DISAGREEMENT = 0.01


def predicted_positive_bins(threshold: float, n_bins: int = 100) -> np.ndarray:
    """Bins predicted positive under ``score >= threshold``: those whose centre reaches it.

    Exact when the threshold lies on a bin edge (0.5, 0.65); otherwise the bin holding it is
    assigned whole, to the side of most of its width.
    """
    centres = (np.arange(n_bins) + 0.5) / n_bins
    return centres >= threshold


def derive_threshold(scores, predicted_positive) -> float | None:
    """The threshold ``t`` of the rule "positive when score >= t" that the logged pairs follow.

    Parameters
    ----------
    scores : array_like
        Scores of ok predictions (probability of the positive class).
    predicted_positive : array_like of bool
        Whether each prediction was the positive class.

    Returns
    -------
    float or None
        Between the highest score predicted negative and the lowest predicted positive when the
        two sides do not overlap; otherwise the score at which the fewest predictions disagree,
        if at most ``MAX_DISAGREEMENT`` of them do. None when the predictions cannot say
        (no scores, one class only, or no threshold rule fits them).

    Notes
    -----
    NaN scores are ignored. A model that predicts by another rule (e.g. a top-k quota per
    batch) gives None or a threshold that fits most days; configure ``decision_threshold``.
    """
    s = np.asarray(scores, dtype=float)
    pos = np.asarray(predicted_positive, dtype=bool)
    keep = ~np.isnan(s)
    s, pos = s[keep], pos[keep]
    if s.size == 0 or pos.all() or not pos.any():
        return None
    highest_negative, lowest_positive = s[~pos].max(), s[pos].min()
    if highest_negative < lowest_positive:
        return float((highest_negative + lowest_positive) / 2)
    order = np.argsort(s, kind="stable")
    s, pos = s[order], pos[order]
    # Threshold at s[i]: positives below i and negatives from i on disagree.
    positives_below = np.concatenate([[0], np.cumsum(pos)[:-1]])
    negatives_from = (~pos)[::-1].cumsum()[::-1]
    disagree = positives_below + negatives_from
    best = int(np.argmin(disagree))
    if disagree[best] > MAX_DISAGREEMENT * s.size:
        return None
    return float(s[best])


def expected_roc_auc(n, calibrated_p) -> float:
    """Expected ROC AUC of predictions in score bins with calibrated probabilities.

    Parameters
    ----------
    n : array_like
        Predictions per score bin, bins in increasing score order.
    calibrated_p : array_like
        P(positive | bin), e.g. isotonic on the reference. NaN where unknown: those bins
        are left out.

    Returns
    -------
    float
        The AUC of the expected positive and negative histograms ``n p`` and ``n (1 - p)``;
        NaN when either is empty.
    """
    n = np.asarray(n, dtype=float)
    p = np.asarray(calibrated_p, dtype=float)
    known = ~np.isnan(p)
    return auc_from_histograms(np.where(known, n * p, 0.0), np.where(known, n * (1 - p), 0.0))
