"""Drift statistics between a reference and a current window, from raw samples or histograms.

Everything here is pure numpy/scipy. The pipeline stores mergeable histograms on bins fixed by
the baseline (see :mod:`modelmon_dagster.stats.binning`), so the ``*_binned`` functions are the
ones it uses; the raw-sample versions are the exact references they are tested against, and the
binned results carry a bound on how far they can be from the exact value.

Conventions
-----------
* Counts are 1-D arrays of non-negative, finite bin counts on the same ordered bins for both
  sides. A NaN or negative count, or mismatched lengths, raise ``ValueError``.
* An empty histogram (total count 0) raises ``ValueError``: "no data" must never be reported as
  "no drift".
* Field names say what a number is: ``p_value`` is a p-value, ``statistic`` a test statistic,
  ``distance`` / ``effect_size`` a distance or effect size.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sps

NUMERIC = "numeric"
CATEGORICAL = "categorical"
WASSERSTEIN_PER_STD = "wasserstein/std"
CRAMERS_V = "cramers_v"


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test.

    Attributes
    ----------
    statistic : float
        KS distance ``D = sup |F_ref - F_cur|`` in ``[0, 1]``.
    p_value : float
        Two-sided asymptotic p-value (Smirnov's distribution, as ``scipy.stats.ks_2samp`` with
        ``method="asymp"``).
    n_ref, n_cur : int
        Sample sizes.
    max_binning_error : float
        Upper bound on ``exact D - statistic`` (``0.0`` when computed from raw samples).
    """

    statistic: float
    p_value: float
    n_ref: int
    n_cur: int
    max_binning_error: float = 0.0


@dataclass(frozen=True)
class WassersteinResult:
    """Wasserstein-1 distance divided by a scale, from histograms.

    Attributes
    ----------
    distance : float
        Binned ``W1 / scale``.
    max_error : float
        Upper bound on ``|exact W1 / scale - distance|``, where the exact value is computed from
        the raw samples that produced the histograms.
    """

    distance: float
    max_error: float


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson chi-square test of homogeneity on a 2 x k contingency table.

    Attributes
    ----------
    statistic : float
        Pearson chi-square statistic (no continuity correction).
    p_value : float
        Upper tail of the chi-square distribution with ``dof`` degrees of freedom.
    dof : int
        ``k - 1`` for ``k`` categories that are non-empty on at least one side.
    cramers_v : float
        Effect size ``sqrt(statistic / (N * (min(2, k) - 1)))`` in ``[0, 1]``.
    """

    statistic: float
    p_value: float
    dof: int
    cramers_v: float


@dataclass(frozen=True)
class FDRResult:
    """Benjamini-Hochberg false discovery rate control.

    Attributes
    ----------
    rejected : tuple of bool
        Whether each hypothesis is rejected at the requested FDR level.
    adjusted_p : tuple of float
        BH-adjusted p-values (NaN where the input was NaN).
    """

    rejected: tuple[bool, ...]
    adjusted_p: tuple[float, ...]


@dataclass(frozen=True)
class ColumnDrift:
    """Per-column drift summary used by the pipeline.

    Attributes
    ----------
    kind : str
        ``"numeric"`` or ``"categorical"``.
    n_ref, n_cur : int
        Reference and current row counts (non-null values).
    p_value : float
        Binned KS p-value (numeric) or chi-square homogeneity p-value (categorical).
    effect_size : float
        Binned ``W1 / baseline std`` (numeric) or Cramér's V (categorical).
    effect_measure : str
        ``"wasserstein/std"`` or ``"cramers_v"``.
    psi : float
        Population stability index (a distance).
    js_distance : float
        Jensen-Shannon distance, base 2, in ``[0, 1]``.
    ks_statistic : float or None
        Binned KS statistic (numeric); ``None`` for categorical columns.
    max_binning_error : float
        Upper bound on ``exact KS - binned KS`` (numeric); ``0.0`` for categorical columns.
    effect_size_max_error : float
        Upper bound on ``|exact W1/std - binned W1/std|`` (numeric); ``0.0`` for categorical.
    """

    kind: str
    n_ref: int
    n_cur: int
    p_value: float
    effect_size: float
    effect_measure: str
    psi: float
    js_distance: float
    ks_statistic: float | None
    max_binning_error: float
    effect_size_max_error: float = 0.0


@dataclass(frozen=True)
class DriftFlag:
    """Drift decision for one column.

    Attributes
    ----------
    column : int
        Index of the column in the sequence given to :func:`flag_drift`.
    adjusted_p : float
        Benjamini-Hochberg adjusted p-value (NaN if the column's p-value was NaN).
    drifted : bool
        BH-rejected at ``alpha`` and ``effect_size >= min_effect``.
    """

    column: int
    adjusted_p: float
    drifted: bool


# --------------------------------------------------------------------------------------------
# validation helpers


def _counts_pair(ref_counts, cur_counts) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(ref_counts, dtype=float)
    cur = np.asarray(cur_counts, dtype=float)
    if ref.ndim != 1 or cur.ndim != 1:
        raise ValueError("histogram counts must be 1-D")
    if ref.shape != cur.shape:
        raise ValueError(
            f"reference and current histograms have different numbers of bins "
            f"({ref.size} vs {cur.size}); they must use the same baseline bins"
        )
    if ref.size == 0:
        raise ValueError("histograms have no bins")
    for name, arr in (("reference", ref), ("current", cur)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} histogram has NaN or infinite counts")
        if np.any(arr < 0):
            raise ValueError(f"{name} histogram has negative counts")
    if ref.sum() <= 0:
        raise ValueError(
            "reference histogram is empty: no data to compare against (not 'no drift')"
        )
    if cur.sum() <= 0:
        raise ValueError("current histogram is empty: no data in this window (not 'no drift')")
    return ref, cur


def _sample(values, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ValueError(f"{name} sample is empty (after dropping NaN): no data, not 'no drift'")
    return x


def _check_scale(scale) -> float:
    s = float(scale) if scale is not None else math.nan
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"scale must be a positive finite number (baseline std), got {scale!r}")
    return s


def _ks_p_value(d: float, n_ref: float, n_cur: float) -> float:
    # Same as scipy.stats.ks_2samp(method="asymp"), two-sided.
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(sps.kstwo.sf(d, np.round(en)), 0.0, 1.0))


# --------------------------------------------------------------------------------------------
# distances on histograms


def population_stability_index(ref_counts, cur_counts, epsilon: float = 1e-4) -> float:
    """Population stability index between two histograms on the same bins.

    Parameters
    ----------
    ref_counts, cur_counts : array_like
        Bin counts of the reference and current windows.
    epsilon : float, default 1e-4
        Lower clip for bin proportions, so an empty bin on one side gives a large but finite term.

    Returns
    -------
    float
        ``sum((q - p) * ln(q / p))`` with ``p``, ``q`` the reference and current proportions,
        each clipped below at ``epsilon``. A symmetric, non-negative distance (not a p-value).

    Notes
    -----
    * Empty histogram on either side, NaN or negative counts, mismatched bins: ``ValueError``.
    * A single bin, or identical proportions (including all mass in the same one bin): ``0.0``.
    * Zero count in a bin on one side only: that proportion becomes ``epsilon``, so the term is
      bounded by about ``q * ln(q / epsilon)``. Proportions are not renormalised after clipping.
    * PSI has no sampling distribution here; it is reported next to the tests, not used for
      decisions. Rules of thumb (0.1 / 0.25) assume ~10 equal-mass bins.
    """
    ref, cur = _counts_pair(ref_counts, cur_counts)
    if not (epsilon > 0):
        raise ValueError("epsilon must be positive")
    p = np.clip(ref / ref.sum(), epsilon, None)
    q = np.clip(cur / cur.sum(), epsilon, None)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon_distance(ref_counts, cur_counts) -> float:
    """Jensen-Shannon distance (base 2) between two histograms on the same bins.

    Parameters
    ----------
    ref_counts, cur_counts : array_like
        Bin counts of the reference and current windows.

    Returns
    -------
    float
        ``sqrt(JS divergence)`` with logarithms in base 2, in ``[0, 1]``; equal to
        ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.

    Notes
    -----
    * Empty histogram on either side, NaN or negative counts, mismatched bins: ``ValueError``
      (scipy would return NaN).
    * A single bin, or the same proportions on both sides: ``0.0``.
    * Bins empty on one side need no smoothing (``0 * log 0 = 0``); disjoint supports give
      ``1.0``.
    * A rounding-level negative divergence is clipped to 0 before the square root.
    """
    ref, cur = _counts_pair(ref_counts, cur_counts)
    p = ref / ref.sum()
    q = cur / cur.sum()
    m = (p + q) / 2.0
    js = (np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / 2.0
    js /= np.log(2.0)
    return float(np.sqrt(max(js, 0.0)))


# --------------------------------------------------------------------------------------------
# Kolmogorov-Smirnov


def ks_2samp_exact(ref, cur) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test on raw samples.

    Parameters
    ----------
    ref, cur : array_like
        Reference and current samples.

    Returns
    -------
    KSResult
        ``statistic`` equals ``scipy.stats.ks_2samp(ref, cur, method="asymp").statistic`` and
        ``p_value`` its p-value; ``max_binning_error`` is ``0.0``.

    Notes
    -----
    * The ECDFs are evaluated at every pooled value with ``searchsorted(side="right")``, which
      handles ties exactly.
    * NaN values are dropped (missing values are monitored as a null rate, not as a
      distribution). An empty sample after that raises ``ValueError``.
    * Identical samples, or all values equal on both sides: statistic ``0``, p-value ``1``.
    * The p-value is the asymptotic two-sided one: ``kstwo.sf(D, round(n_ref n_cur /
      (n_ref + n_cur)))``. It is meant for the large windows the pipeline sees; for tiny samples
      use ``scipy.stats.ks_2samp(method="exact")``.
    """
    a = np.sort(_sample(ref, "reference"))
    b = np.sort(_sample(cur, "current"))
    pooled = np.concatenate([a, b])
    diff = np.searchsorted(a, pooled, side="right") / a.size - (
        np.searchsorted(b, pooled, side="right") / b.size
    )
    d = float(np.max(np.abs(diff)))
    return KSResult(d, _ks_p_value(d, a.size, b.size), int(a.size), int(b.size), 0.0)


def ks_2samp_binned(ref_counts, cur_counts) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test from two histograms on the same ordered bins.

    Parameters
    ----------
    ref_counts, cur_counts : array_like
        Counts on the same ordered bins (e.g. baseline quantile bins with open tails).

    Returns
    -------
    KSResult
        ``statistic`` = max over interior bin boundaries of ``|cumulative ref share -
        cumulative cur share|``; ``p_value`` from the same asymptotic distribution as
        :func:`ks_2samp_exact` with ``n_ref``, ``n_cur`` the histogram totals;
        ``max_binning_error`` = ``max over bins of min(ref share, cur share)``.

    Notes
    -----
    Guarantee: ``statistic <= exact KS <= statistic + max_binning_error`` (the upper one up to
    floating-point rounding, as it can hold with equality), where the exact KS is computed on
    the raw samples that were binned.

    * Lower bound. At a boundary ``e_i`` (bins are ``[e_i, e_{i+1})``) the cumulative shares
      are the ECDFs just left of ``e_i``; both ECDFs are constant between the largest pooled
      value below ``e_i`` and ``e_i``, so the binned difference is one of the differences the
      exact statistic maximises over (or 0 when no value lies below ``e_i``).
    * Upper bound. Take bin ``j`` with shares ``p_j`` (ref), ``q_j`` (cur) and differences of
      cumulative shares ``d_l = F_l - G_l`` at its left and ``d_r = F_r - G_r`` at its right
      boundary (0 at the open ends). Inside the bin each ECDF moves by at most that bin's share:
      ``F(x)`` lies in ``[F_l, F_r]`` and ``G(x)`` in ``[G_l, G_r]``, with ``F_r = F_l + p_j``
      and ``G_r = G_l + q_j``. Hence ``F(x) - G(x) <= F_r - G_l``, which equals both
      ``d_l + p_j`` and ``d_r + q_j``; symmetrically ``G(x) - F(x) <= G_r - F_l``, equal to
      both ``-d_l + q_j`` and ``-d_r + p_j``. Writing these with ``d_l`` when ``p_j <= q_j``
      and with ``d_r`` otherwise gives ``|F(x) - G(x)| <= max(|d_l|, |d_r|) + min(p_j, q_j)``, and
      ``max(|d_l|, |d_r|) <= statistic``. So ``exact - statistic <= min(p_j, q_j)`` on bin
      ``j``, and ``max_binning_error = max_j min(p_j, q_j)``. This is attained (reference
      values at the left end of a bin, current values at its right end, equal shares), and it
      is never larger than the cruder ``max_j max(p_j, q_j)``.
    * With ``B`` equal-mass bins and no drift the bound is about ``1 / B`` (0.01 for 100 bins,
      plus the noise of the current shares); under drift it can only shrink where the shares
      differ.
    * The p-value uses the binned statistic, which is never above the exact one, so it is
      conservative: never below the p-value of the exact statistic.
    * A single bin: statistic 0, p-value 1 and bound 1 (no information about the shape).
    * All mass in one bin on both sides: statistic 0; the bound is 1, honestly saying that the
      histogram cannot see differences inside that bin.
    * Mass in disjoint bins (a bin empty on one side has ``min = 0``): the bound is 0 there.
    * Empty histogram on either side, NaN or negative counts, mismatched bins: ``ValueError``.
    """
    ref, cur = _counts_pair(ref_counts, cur_counts)
    n_ref, n_cur = ref.sum(), cur.sum()
    # Cumulative counts are exact for whole-number counts; dividing once matches the exact ECDFs.
    cum_ref = np.cumsum(ref)[:-1] / n_ref
    cum_cur = np.cumsum(cur)[:-1] / n_cur
    d = float(np.max(np.abs(cum_ref - cum_cur))) if ref.size > 1 else 0.0
    bound = float(np.max(np.minimum(ref / n_ref, cur / n_cur)))
    return KSResult(d, _ks_p_value(d, n_ref, n_cur), int(round(n_ref)), int(round(n_cur)), bound)


# --------------------------------------------------------------------------------------------
# Wasserstein


def wasserstein_normalised(ref, cur, scale: float) -> float:
    """Wasserstein-1 (earth mover's) distance between raw samples, divided by ``scale``.

    Parameters
    ----------
    ref, cur : array_like
        Reference and current samples.
    scale : float
        Positive scale, normally the baseline standard deviation.

    Returns
    -------
    float
        ``integral |F_ref(x) - F_cur(x)| dx / scale``; equals
        ``scipy.stats.wasserstein_distance(ref, cur) / scale``. A shift of the mean by
        ``0.1 * scale`` gives ``0.1``.

    Notes
    -----
    * NaN values are dropped; an empty sample after that raises ``ValueError``. Infinite values
      raise ``ValueError`` (the distance would be infinite or undefined).
    * ``scale`` that is not positive and finite (e.g. a constant baseline column with std 0)
      raises ``ValueError``: a relative effect size is undefined there.
    * Identical samples give ``0.0``.
    """
    s = _check_scale(scale)
    a = np.sort(_sample(ref, "reference"))
    b = np.sort(_sample(cur, "current"))
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("samples contain infinite values")
    pooled = np.sort(np.concatenate([a, b]), kind="mergesort")
    deltas = np.diff(pooled)
    fa = np.searchsorted(a, pooled[:-1], side="right") / a.size
    fb = np.searchsorted(b, pooled[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * deltas) / s)


def _mean_abs_linear(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean of ``|a + (b - a) t|`` over ``t`` in ``[0, 1]``, elementwise."""
    same_sign = a * b >= 0
    denom = np.abs(a) + np.abs(b)
    crossing = np.divide(a * a + b * b, 2.0 * denom, out=np.zeros_like(denom), where=denom > 0)
    return np.where(same_sign, denom / 2.0, crossing)


def wasserstein_binned(edges, ref_counts, cur_counts, low, high, scale) -> WassersteinResult:
    """Wasserstein-1 distance divided by ``scale``, from histograms on baseline bins.

    Parameters
    ----------
    edges : array_like
        Strictly increasing interior edges ``e_1 < ... < e_k``; bin 0 is ``(-inf, e_1)``, bin
        ``i`` is ``[e_i, e_{i+1})`` and bin ``k`` is ``[e_k, +inf)``.
    ref_counts, cur_counts : array_like
        Counts on those ``k + 1`` bins.
    low, high : float
        Smallest and largest value observed in either sample; they close the open tail bins.
    scale : float
        Positive scale, normally the baseline standard deviation.

    Returns
    -------
    WassersteinResult
        ``distance``: ``W1 / scale`` with each bin's mass spread uniformly over the bin (the
        ECDFs interpolated linearly between boundaries ``low, e_1, ..., e_k, high``, clipped to
        ``[low, high]``). ``max_error``: a bound on ``|exact W1 / scale - distance|``.

    Notes
    -----
    Error bound. Let bin ``j`` span ``[a_j, b_j)`` (after clipping to ``[low, high]``), with
    width ``w_j``, shares ``p_j`` (ref) and ``q_j`` (cur), and ``d_j = F_l - G_l`` the difference
    of cumulative shares at its left boundary. For any ``x`` in the bin the exact ECDFs satisfy
    ``F(x) in [F_l, F_l + p_j]`` and ``G(x) in [G_l, G_l + q_j]``, so ``F(x) - G(x)`` lies in
    ``I_j = [d_j - q_j, d_j + p_j]``. The exact contribution ``integral_j |F - G|`` therefore lies
    in ``[w_j min|I_j|, w_j max|I_j|]`` (``min|I_j| = 0`` when ``I_j`` contains 0), and so does
    the interpolated one (its endpoints ``d_j`` and ``d_j + p_j - q_j`` are in ``I_j``). Outside
    ``[low, high]`` both ECDFs are equal (0 or 1). Hence::

        max_error = sum_j max(c_j - w_j min|I_j|, w_j max|I_j| - c_j) / scale
                  <= sum_j w_j (p_j + q_j) / scale

    where ``c_j`` is the bin's interpolated contribution. The bound is attained in the worst
    case (reference mass at the left end of every bin, current mass at the right end), so a
    bound built from ``w_j |p_j - q_j|`` alone is *not* valid: equal shares say nothing about
    where the mass sits inside a bin. It is dominated by the wide tail bins; with 100 baseline
    quantile bins on a normal feature it is of order 0.1, far above the typical actual error
    (~0.005). The uniform placement in the tail bins also biases the distance up slightly under
    drift, most for changes of spread (with 100 bins on a normal feature: about +0.01 for a
    0.2 std mean shift, +0.025 on a true 0.12 for a 15% wider current window), always within
    ``max_error``. Storing per-bin sums would remove most of this.

    Edge cases:

    * Empty histogram on either side, NaN or negative counts, mismatched bins,
      ``len(edges) + 1 != len(counts)`` or non-increasing edges: ``ValueError``.
    * ``low``/``high`` inconsistent with the counts (a non-empty bin lying entirely outside
      ``[low, high]``) or not finite, ``low > high``: ``ValueError``. ``low``/``high`` narrower
      than the true data range silently invalidates the bound.
    * A single bin (no edges): ``[low, high]`` is the one bin, distance and bound from it.
    * All mass in one bin on both sides: distance 0, bound ``width * max(p, q) / scale``.
    * Zero-width bins (e.g. a constant column with ``low == high``) contribute 0, as they
      should.
    * ``scale`` not positive and finite: ``ValueError``.
    """
    s = _check_scale(scale)
    ref, cur = _counts_pair(ref_counts, cur_counts)
    e = np.asarray(edges, dtype=float).ravel()
    if e.size + 1 != ref.size:
        raise ValueError(f"{e.size} interior edges need {e.size + 1} bins, got {ref.size}")
    if not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ValueError("edges must be finite and strictly increasing")
    lo, hi = float(low), float(high)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"need finite low <= high, got low={low!r}, high={high!r}")
    nonempty = np.flatnonzero((ref > 0) | (cur > 0))
    first, last = nonempty[0], nonempty[-1]
    if first < e.size and lo >= e[first]:
        raise ValueError(f"low={lo} is not below the upper edge of non-empty bin {first}")
    if last > 0 and hi < e[last - 1]:
        raise ValueError(f"high={hi} is below the lower edge of non-empty bin {last}")

    bounds = np.clip(np.concatenate([[lo], e, [hi]]), lo, hi)
    widths = np.diff(bounds)
    p = ref / ref.sum()
    q = cur / cur.sum()
    d_left = np.concatenate([[0.0], np.cumsum(ref)[:-1] / ref.sum()]) - np.concatenate(
        [[0.0], np.cumsum(cur)[:-1] / cur.sum()]
    )
    d_right = d_left + p - q
    contrib = widths * _mean_abs_linear(d_left, d_right)
    i_lo, i_hi = d_left - q, d_left + p
    abs_max = np.maximum(np.abs(i_lo), np.abs(i_hi))
    abs_min = np.where((i_lo <= 0) & (i_hi >= 0), 0.0, np.minimum(np.abs(i_lo), np.abs(i_hi)))
    err = np.maximum(contrib - widths * abs_min, widths * abs_max - contrib)
    return WassersteinResult(float(contrib.sum() / s), float(np.maximum(err, 0.0).sum() / s))


# --------------------------------------------------------------------------------------------
# categorical


def chi2_contingency_test(ref_counts, cur_counts) -> ChiSquareResult:
    """Chi-square test of homogeneity between reference and current category counts.

    Parameters
    ----------
    ref_counts, cur_counts : array_like
        Counts per category (top-k categories plus "other"), same order on both sides.

    Returns
    -------
    ChiSquareResult
        Equal to ``scipy.stats.chi2_contingency([ref, cur], correction=False)`` on the table
        without all-empty categories, plus Cramér's V.

    Notes
    -----
    * This is a test of *homogeneity* on the 2 x k table: both rows are samples. Treating the
      reference proportions as exact (goodness of fit, ``chisquare(cur, ref_props * n_cur)``)
      ignores the reference's own sampling noise, and with a current window much larger than the
      reference it raises false alarms almost always; the contingency test keeps its level.
    * Categories empty on both sides are dropped (they carry no information and would make the
      expected counts 0). ``dof`` is ``k - 1`` for the remaining ``k``.
    * A single non-empty category (or a single bin): statistic 0, p-value 1, ``dof`` 0,
      Cramér's V 0.
    * All mass in one category on one side and another on the other: V = 1, p-value ~0.
    * No Yates continuity correction (it only applies to 2 x 2 tables and is conservative).
    * The chi-square approximation wants expected counts of at least ~5; sparse categories are
      better merged into "other" upstream.
    * Empty histogram on either side, NaN or negative counts, mismatched bins: ``ValueError``.
    """
    ref, cur = _counts_pair(ref_counts, cur_counts)
    keep = (ref > 0) | (cur > 0)
    table = np.vstack([ref[keep], cur[keep]])
    k = table.shape[1]
    if k < 2:
        return ChiSquareResult(0.0, 1.0, 0, 0.0)
    total = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / total
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = k - 1
    p_value = float(sps.chi2.sf(stat, dof))
    cramers_v = math.sqrt(stat / (total * (min(2, k) - 1)))
    return ChiSquareResult(stat, p_value, dof, min(cramers_v, 1.0))


# --------------------------------------------------------------------------------------------
# multiple testing and decisions


def benjamini_hochberg(p_values, alpha: float) -> FDRResult:
    """Benjamini-Hochberg step-up procedure controlling the false discovery rate at ``alpha``.

    Parameters
    ----------
    p_values : array_like
        One p-value per hypothesis, in ``[0, 1]`` or NaN.
    alpha : float
        Target false discovery rate, in ``(0, 1)``.

    Returns
    -------
    FDRResult
        ``adjusted_p`` equal to ``scipy.stats.false_discovery_control(p, method="bh")`` on the
        non-NaN p-values; ``rejected`` is ``adjusted_p <= alpha``, which is exactly the BH
        step-up rule.

    Notes
    -----
    * NaN p-values (a test that could not be computed) are never rejected, keep a NaN adjusted
      p-value and are not counted in ``m``.
    * No p-values, or all NaN: nothing rejected.
    * A single p-value is its own adjusted p-value.
    * A p-value outside ``[0, 1]`` or ``alpha`` outside ``(0, 1)``: ``ValueError``.
    """
    if not (0 < alpha < 1):
        raise ValueError("alpha must be in (0, 1)")
    p = np.asarray(p_values, dtype=float).ravel()
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError("p-values must lie in [0, 1] (or be NaN)")
    adjusted = np.full(p.shape, np.nan)
    idx = np.flatnonzero(finite)
    m = idx.size
    if m:
        order = np.argsort(p[idx], kind="stable")
        ranked = p[idx][order] * m / np.arange(1, m + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        adj = np.empty(m)
        adj[order] = np.clip(ranked, 0.0, 1.0)
        adjusted[idx] = adj
    rejected = tuple(bool(a <= alpha) for a in adjusted)  # NaN <= alpha is False
    return FDRResult(rejected, tuple(float(a) for a in adjusted))


def column_drift(
    kind: str,
    ref_counts,
    cur_counts,
    *,
    edges=None,
    low: float | None = None,
    high: float | None = None,
    scale: float | None = None,
) -> ColumnDrift:
    """Drift summary of one column from its reference and current histograms.

    Parameters
    ----------
    kind : {"numeric", "categorical"}
        Column kind.
    ref_counts, cur_counts : array_like
        Counts on the baseline bins (numeric: ``len(edges) + 1`` quantile bins; categorical:
        top-k categories plus "other").
    edges : array_like, optional
        Interior bin edges (numeric only, required).
    low, high : float, optional
        Smallest and largest value seen in either window (numeric only, required).
    scale : float, optional
        Baseline standard deviation (numeric only, required).

    Returns
    -------
    ColumnDrift
        Numeric: binned KS p-value and statistic with its ``max_binning_error``, binned
        ``W1 / std`` as ``effect_size`` (with ``effect_size_max_error``), PSI, JS distance.
        Categorical: chi-square homogeneity p-value, Cramér's V as ``effect_size``, PSI, JS
        distance.

    Notes
    -----
    * An empty reference or current histogram raises ``ValueError``: callers must report "no
      data", never "no drift".
    * Missing ``edges``/``low``/``high``/``scale`` for a numeric column, a non-positive scale,
      or an unknown ``kind``: ``ValueError``.
    * Single bin / all mass in one bin: p-value 1 and effect 0 unless the mass differs; see
      the individual functions.
    """
    ref, cur = _counts_pair(ref_counts, cur_counts)
    psi = population_stability_index(ref, cur)
    jsd = jensen_shannon_distance(ref, cur)
    n_ref, n_cur = int(round(ref.sum())), int(round(cur.sum()))
    if kind == NUMERIC:
        if edges is None or low is None or high is None or scale is None:
            raise ValueError("numeric columns need edges, low, high and scale")
        ks = ks_2samp_binned(ref, cur)
        w = wasserstein_binned(edges, ref, cur, low, high, scale)
        return ColumnDrift(
            kind=NUMERIC,
            n_ref=n_ref,
            n_cur=n_cur,
            p_value=ks.p_value,
            effect_size=w.distance,
            effect_measure=WASSERSTEIN_PER_STD,
            psi=psi,
            js_distance=jsd,
            ks_statistic=ks.statistic,
            max_binning_error=ks.max_binning_error,
            effect_size_max_error=w.max_error,
        )
    if kind == CATEGORICAL:
        chi = chi2_contingency_test(ref, cur)
        return ColumnDrift(
            kind=CATEGORICAL,
            n_ref=n_ref,
            n_cur=n_cur,
            p_value=chi.p_value,
            effect_size=chi.cramers_v,
            effect_measure=CRAMERS_V,
            psi=psi,
            js_distance=jsd,
            ks_statistic=None,
            max_binning_error=0.0,
            effect_size_max_error=0.0,
        )
    raise ValueError(f"unknown column kind {kind!r}; expected 'numeric' or 'categorical'")


def flag_drift(
    columns: Sequence[ColumnDrift], alpha: float, min_effect: float
) -> tuple[DriftFlag, ...]:
    """Flag drifted columns: BH-significant across columns and a large enough effect.

    Parameters
    ----------
    columns : sequence of ColumnDrift
        Per-column summaries of one model and window.
    alpha : float
        False discovery rate across the columns, in ``(0, 1)``.
    min_effect : float
        Minimum ``effect_size`` (W1/std or Cramér's V) for a column to count as drifted.

    Returns
    -------
    tuple of DriftFlag
        One flag per column, in order. ``drifted`` iff the column is rejected by
        Benjamini-Hochberg at ``alpha`` *and* ``effect_size >= min_effect``.

    Notes
    -----
    * With large windows, tiny harmless shifts are significant; with small windows, large
      effects are noise. Requiring both avoids both kinds of false alarm.
    * Mixing numeric and categorical effect measures under one ``min_effect`` is the caller's
      choice; W1/std and Cramér's V are both roughly "0.1 = small but real".
    * NaN p-value or NaN effect size: never drifted. No columns: empty tuple.
    """
    if not columns:
        return ()
    fdr = benjamini_hochberg([c.p_value for c in columns], alpha)
    return tuple(
        DriftFlag(
            column=i,
            adjusted_p=adj,
            drifted=bool(rej and c.effect_size >= min_effect),
        )
        for i, (c, rej, adj) in enumerate(zip(columns, fdr.rejected, fdr.adjusted_p, strict=True))
    )
