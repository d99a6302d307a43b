"""The champion/challenger gate: a paired test on the same holdout rows, then alpha AND margin.

The champion's outputs are the ones it *logged* for those rows in production (what it actually
did); the challenger's are its predictions for the same rows' logged features.
"""

from dataclasses import dataclass

import numpy as np

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.stats.paired import (
    PairedTest,
    delong_test,
    mcnemar_exact,
    paired_abs_error_test,
)
from modelmon_dagster.training.artifacts import Predictions


@dataclass(frozen=True)
class GateDecision:
    """Whether to promote, and why (``test`` is None when no comparison could be made)."""

    promote: bool
    reason: str
    test: PairedTest | None
    alpha: float
    margin: float


def paired_test(model: ModelConfig, metric: str, rows, challenger: Predictions) -> PairedTest:
    """Compare the champion's logged outputs in ``rows`` with the challenger's predictions.

    ``rows`` are labelled raw-prediction rows (``label_text`` / ``label_value``,
    ``prediction_label`` / ``prediction_value``, ``score``), in the order of ``challenger``.
    """
    if metric == "mae":
        y = rows["label_value"].to_numpy(dtype=float)
        return paired_abs_error_test(
            y, rows["prediction_value"].to_numpy(dtype=float), challenger.prediction
        )
    labels = rows["label_text"].astype(str).to_numpy()
    if metric == "accuracy":
        champion = rows["prediction_label"].astype(str).to_numpy() == labels
        return mcnemar_exact(champion, np.asarray(challenger.prediction, dtype=str) == labels)
    if metric == "roc_auc":
        positive = labels == model.positive_class
        return delong_test(positive, rows["score"].to_numpy(dtype=float), challenger.score)
    raise ValueError(f"unknown gate metric {metric!r}")


def decide(test: PairedTest, alpha: float, margin: float) -> GateDecision:
    """Promote only if the challenger is better at ``alpha`` AND by at least ``margin``."""
    summary = (
        f"{test.metric} {test.challenger:.4g} vs champion {test.champion:.4g} on {test.n} rows "
        f"(improvement {test.improvement:+.4g}, {test.method} one-sided p = {test.p_value:.3g})"
    )
    if not test.p_value < alpha:
        return GateDecision(
            False, f"not significantly better: {summary}, alpha {alpha}", test, alpha, margin
        )
    if not test.improvement >= margin:
        return GateDecision(
            False, f"better by less than the margin {margin}: {summary}", test, alpha, margin
        )
    return GateDecision(True, f"better: {summary}", test, alpha, margin)
