"""Paired champion/challenger tests against published values, scipy and simulation."""

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from modelmon_dagster.stats.paired import (
    delong_placements,
    delong_test,
    mcnemar_exact,
    paired_abs_error_test,
)


def _pairs(both, only_champion, only_challenger, neither):
    champion = [True] * both + [True] * only_champion + [False] * (only_challenger + neither)
    challenger = [True] * both + [False] * only_champion + [True] * only_challenger
    challenger += [False] * neither
    return np.array(champion), np.array(challenger)


def test_mcnemar_exact_matches_the_published_example():
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, airway hyper-
    # responsiveness before/after: 1 and 7 discordant pairs; exact conditional p = 0.070.
    champion, challenger = _pairs(both=4, only_champion=1, only_challenger=7, neither=9)
    result = mcnemar_exact(champion, challenger)
    assert result.p_two_sided == pytest.approx(0.0703, abs=5e-4)
    assert result.statistic == 7 and result.n == 21
    assert result.improvement == pytest.approx(6 / 21)


def test_mcnemar_one_sided_is_scipy_binomtest():
    for only_champion, only_challenger in [(10, 25), (25, 10), (0, 3), (40, 40)]:
        champion, challenger = _pairs(100, only_champion, only_challenger, 20)
        expected = sps.binomtest(
            only_challenger, only_champion + only_challenger, 0.5, alternative="greater"
        ).pvalue
        assert mcnemar_exact(champion, challenger).p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_without_discordant_rows_is_not_evidence():
    champion, challenger = _pairs(50, 0, 0, 5)
    result = mcnemar_exact(champion, challenger)
    assert result.p_value == 1.0 and result.improvement == 0.0
    with pytest.raises(ValueError, match="no rows"):
        mcnemar_exact([], [])


def test_delong_placements_match_the_pairwise_definition():
    rng = np.random.default_rng(3)
    y = rng.random(60) < 0.4
    score = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounded: many ties
    v10, v01 = delong_placements(y, score)
    pos, neg = score[y], score[~y]
    kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    np.testing.assert_allclose(v10, kernel.mean(axis=1))
    np.testing.assert_allclose(v01, kernel.mean(axis=0))
    assert v10.mean() == pytest.approx(roc_auc_score(y, score))


def _correlated_scores(rng, n, gain):
    """Two scorers sharing a latent signal; the challenger sees ``gain`` more of the truth."""
    y = rng.random(n) < 0.3
    shared = rng.normal(size=n)
    champion = y * 1.0 + shared + 0.7 * rng.normal(size=n)
    challenger = y * (1.0 + gain) + shared + 0.7 * rng.normal(size=n)
    return y, champion, challenger


def test_delong_variance_and_size_match_simulation():
    # Oracle: the Monte Carlo distribution of the AUC difference under the null.
    rng = np.random.default_rng(11)
    diffs, variances, rejections = [], [], 0
    for _ in range(1000):
        y, a, b = _correlated_scores(rng, 200, gain=0.0)
        result = delong_test(y, a, b)
        diffs.append(result.improvement)
        variances.append((result.improvement / result.statistic) ** 2)
        rejections += result.p_value < 0.05
    assert np.mean(variances) == pytest.approx(np.var(diffs), rel=0.12)
    assert 0.03 <= rejections / 1000 <= 0.07  # one-sided size at alpha = 5 %


def test_delong_detects_a_better_challenger_and_its_aucs_are_sklearns():
    y, champion, challenger = _correlated_scores(np.random.default_rng(5), 3000, gain=0.6)
    result = delong_test(y, champion, challenger)
    assert result.champion == pytest.approx(roc_auc_score(y, champion))
    assert result.challenger == pytest.approx(roc_auc_score(y, challenger))
    assert result.improvement > 0.03 and result.p_value < 1e-6
    reverse = delong_test(y, challenger, champion)
    assert reverse.p_value > 0.999 and reverse.p_two_sided == pytest.approx(result.p_two_sided)


def test_delong_edge_cases():
    with pytest.raises(ValueError, match="2 positives"):
        delong_test([True, False, False], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    same = delong_test([True, True, False, False], [0.9, 0.8, 0.2, 0.1], [0.9, 0.8, 0.2, 0.1])
    assert same.p_value == 0.5 and same.statistic == 0.0


def test_paired_abs_error_test_is_scipy_ttest_rel():
    rng = np.random.default_rng(8)
    y = rng.gamma(3.0, 10.0, 500)
    champion = y * 1.15 + rng.normal(0, 4, 500)
    challenger = y + rng.normal(0, 4, 500)
    result = paired_abs_error_test(y, champion, challenger)
    oracle = sps.ttest_rel(np.abs(champion - y), np.abs(challenger - y), alternative="greater")
    assert result.statistic == pytest.approx(oracle.statistic)
    assert result.p_value == pytest.approx(oracle.pvalue)
    mae_champion, mae_challenger = np.abs(champion - y).mean(), np.abs(challenger - y).mean()
    assert result.improvement == pytest.approx(1 - mae_challenger / mae_champion)
    assert result.p_value < 1e-6
    with pytest.raises(ValueError, match="at least 2"):
        paired_abs_error_test([1.0], [1.0], [2.0])
