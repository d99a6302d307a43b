"""Paired comparisons of two models on the same labelled rows (champion vs challenger).

Everything here is pure numpy/scipy. Both models are judged on exactly the same rows, so the
tests are paired: they use the correlation between the two models' errors, which makes them far
more sensitive than comparing two confidence intervals.

Conventions
-----------
* ``p_value`` is one-sided, for the alternative "the challenger is better"; ``p_two_sided`` is
  there for reference (published tables are usually two-sided).
* ``improvement`` is positive when the challenger is better, in the metric's own units
  (accuracy and ROC AUC: absolute points; MAE: relative reduction, a share of the champion's
  MAE), so one ``margin`` in the config reads the same way as ``performance_drop_*``.
* Empty input or a missing class raises ``ValueError``: no evidence is never "no difference".
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of a champion and a challenger on the same rows.

    Attributes
    ----------
    metric : str
        ``accuracy``, ``roc_auc`` or ``mae``.
    method : str
        The test: ``mcnemar_exact``, ``delong`` or ``paired_t_abs_error``.
    champion, challenger : float
        The metric of each model on the rows.
    improvement : float
        How much better the challenger is (see the module notes for units).
    statistic : float
        The test statistic (discordant pairs won by the challenger, z or t).
    p_value : float
        One-sided p-value of "the challenger is better".
    p_two_sided : float
        Two-sided p-value of "the two differ".
    n : int
        Rows compared.
    """

    metric: str
    method: str
    champion: float
    challenger: float
    improvement: float
    statistic: float
    p_value: float
    p_two_sided: float
    n: int

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain values for JSON (registry metrics, run metadata)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def mcnemar_exact(champion_correct, challenger_correct) -> PairedTest:
    """Exact (conditional binomial) McNemar test of paired accuracies.

    Parameters
    ----------
    champion_correct, challenger_correct : array_like of bool
        Whether each model got each row right (same rows, same order).

    Returns
    -------
    PairedTest
        ``statistic`` is the number of rows only the challenger got right; ``improvement`` the
        accuracy difference.

    Notes
    -----
    Only discordant rows carry information: under the null hypothesis each of the ``b + c``
    discordant rows is equally likely to favour either model, so ``c ~ Binomial(b + c, 1/2)``.
    No discordant rows gives p = 1 (the models agree everywhere).
    """
    a = np.asarray(champion_correct, dtype=bool)
    b_ = np.asarray(challenger_correct, dtype=bool)
    _check_paired(a, b_)
    only_champion = int(np.sum(a & ~b_))
    only_challenger = int(np.sum(~a & b_))
    discordant = only_champion + only_challenger
    if discordant == 0:
        p_one = p_two = 1.0
    else:
        p_one = float(sps.binom.sf(only_challenger - 1, discordant, 0.5))
        tail = min(only_champion, only_challenger)
        p_two = min(1.0, 2.0 * float(sps.binom.cdf(tail, discordant, 0.5)))
    n = a.size
    return PairedTest(
        metric="accuracy",
        method="mcnemar_exact",
        champion=float(a.mean()),
        challenger=float(b_.mean()),
        improvement=(only_challenger - only_champion) / n,
        statistic=float(only_challenger),
        p_value=p_one,
        p_two_sided=p_two,
        n=n,
    )


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank."""
    return sps.rankdata(x, method="average")


def delong_placements(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components of one ROC AUC, by midranks (Sun & Xu, 2014).

    Returns
    -------
    (v10, v01) : tuple of numpy.ndarray
        ``v10[i]``: share of negatives scored below positive ``i`` (ties count 1/2);
        ``v01[j]``: share of positives scored above negative ``j``. Their means are the AUC.
    """
    pos, neg = score[positive], score[~positive]
    m, n = pos.size, neg.size
    ranks = _midranks(np.concatenate([pos, neg]))
    v10 = (ranks[:m] - _midranks(pos)) / n
    v01 = 1.0 - (ranks[m:] - _midranks(neg)) / m
    return v10, v01


def delong_test(positive, champion_score, challenger_score) -> PairedTest:
    """DeLong's test of two correlated ROC AUCs on the same rows (DeLong et al., 1988).

    Parameters
    ----------
    positive : array_like of bool
        Whether each row's label is the positive class.
    champion_score, challenger_score : array_like of float
        Each model's score (higher = more likely positive) for the same rows.

    Returns
    -------
    PairedTest
        ``statistic`` is ``z = (AUC_challenger - AUC_champion) / se``; ``improvement`` the AUC
        difference.

    Raises
    ------
    ValueError
        Without both a positive and a negative row (no AUC exists).

    Notes
    -----
    The variance of the difference is ``(s10_11 + s10_22 - 2 s10_12) / m + (s01_11 + s01_22 -
    2 s01_12) / n`` from the sample covariances of the placement values of the ``m`` positives
    and ``n`` negatives. A zero variance (identical rankings) gives z = 0 and p = 1 when the
    AUCs are equal.
    """
    y = np.asarray(positive, dtype=bool)
    s1 = np.asarray(champion_score, dtype=float)
    s2 = np.asarray(challenger_score, dtype=float)
    _check_paired(y, s1, s2)
    m = int(y.sum())
    n = y.size - m
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's test needs at least 2 positives and 2 negatives ({m}, {n})")
    if np.isnan(s1).any() or np.isnan(s2).any():
        raise ValueError("scores contain NaN")
    v10_1, v01_1 = delong_placements(y, s1)
    v10_2, v01_2 = delong_placements(y, s2)
    auc1, auc2 = float(v10_1.mean()), float(v10_2.mean())
    s10 = np.cov(np.vstack([v10_1, v10_2]))
    s01 = np.cov(np.vstack([v01_1, v01_2]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    diff = auc2 - auc1
    if var <= 0:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
    else:
        z = diff / math.sqrt(var)
    return PairedTest(
        metric="roc_auc",
        method="delong",
        champion=auc1,
        challenger=auc2,
        improvement=diff,
        statistic=z,
        p_value=float(sps.norm.sf(z)),
        p_two_sided=float(2 * sps.norm.sf(abs(z))),
        n=y.size,
    )


def paired_abs_error_test(y_true, champion_pred, challenger_pred) -> PairedTest:
    """Paired t-test of the absolute errors of two regressors on the same rows.

    The mean of ``d = |champion error| - |challenger error|`` is exactly ``MAE_champion -
    MAE_challenger``, so testing its mean tests the MAE difference (a rank test would test a
    median, not the MAE).

    Returns
    -------
    PairedTest
        ``statistic`` is t with ``n - 1`` degrees of freedom; ``improvement`` the relative MAE
        reduction ``(MAE_champion - MAE_challenger) / MAE_champion``.

    Notes
    -----
    Fewer than 2 rows raise ``ValueError``. Identical errors give t = 0 and p = 1 when the
    difference is zero everywhere. A champion with MAE 0 makes the relative improvement NaN.
    """
    y = np.asarray(y_true, dtype=float)
    e1 = np.abs(np.asarray(champion_pred, dtype=float) - y)
    e2 = np.abs(np.asarray(challenger_pred, dtype=float) - y)
    _check_paired(y, e1, e2)
    if y.size < 2:
        raise ValueError("a paired t-test needs at least 2 rows")
    if np.isnan(e1).any() or np.isnan(e2).any():
        raise ValueError("predictions or labels contain NaN")
    d = e1 - e2
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
    else:
        t = mean / (sd / math.sqrt(d.size))
    mae1, mae2 = float(e1.mean()), float(e2.mean())
    return PairedTest(
        metric="mae",
        method="paired_t_abs_error",
        champion=mae1,
        challenger=mae2,
        improvement=(mae1 - mae2) / mae1 if mae1 > 0 else math.nan,
        statistic=t,
        p_value=float(sps.t.sf(t, d.size - 1)),
        p_two_sided=float(2 * sps.t.sf(abs(t), d.size - 1)),
        n=int(d.size),
    )


def _check_paired(*arrays: np.ndarray) -> None:
    sizes = {a.size for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"paired arrays differ in length: {sorted(sizes)}")
    if sizes == {0}:
        raise ValueError("no rows to compare")
