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
JS_DISTANCE = "js_distance"


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
    method : str
        How mass is placed inside a bin: ``"bin_means"`` (each side's bin sums known),
        ``"point_masses"`` (bin sums known and each side's mass in a bin taken to sit at its
        mean: columns binned on their distinct values) or ``"uniform"`` (counts only).
    """

    distance: float
    max_error: float
    method: str = "uniform"


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
        Binned ``W1 / baseline std`` (numeric) or the Jensen-Shannon distance (base 2) of the
        two category distributions (categorical). Both are properties of the two distributions
        alone: their expected value does not depend on the sample sizes or their ratio.
    effect_measure : str
        ``"wasserstein/std"`` or ``"js_distance"``.
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
    effect_method : str
        How the numeric effect was computed from the histograms (see
        :class:`WassersteinResult`); ``"exact"`` for categorical columns.
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
    effect_method: str = "exact"


@dataclass(frozen=True)
class NullRateResult:
    """Comparison of the share of missing values between the reference and a current window.

    Attributes
    ----------
    ref_rate, cur_rate : float
        Null rates (nulls / rows) of the reference and the current window.
    difference : float
        ``cur_rate - ref_rate``: the effect size, in rate units (0.03 = three points more).
    p_value : float
        Two-sided p-value of Fisher's exact test on the 2 x 2 table (nulls, values) x
        (reference, current): both sides are samples.
    ref_nulls, ref_rows, cur_nulls, cur_rows : int
        The counts behind the rates.
    """

    ref_rate: float
    cur_rate: float
    difference: float
    p_value: float
    ref_nulls: int
    ref_rows: int
    cur_nulls: int
    cur_rows: int


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


def _bin_means(name: str, means, counts: np.ndarray, left: np.ndarray, right: np.ndarray):
    """Validated bin means, clipped into their bins (rounding of shifted sums can step out)."""
    m = np.asarray(means, dtype=float).ravel()
    if m.shape != counts.shape:
        raise ValueError(f"{name} bin means need one value per bin ({counts.size}), got {m.size}")
    if np.any(~np.isfinite(m[counts > 0])):
        raise ValueError(f"{name} bin means must be finite where the bin is not empty")
    return np.where(counts > 0, np.clip(np.nan_to_num(m), left, right), right)


def wasserstein_binned(
    edges,
    ref_counts,
    cur_counts,
    low,
    high,
    scale,
    *,
    ref_means=None,
    cur_means=None,
    point_masses: bool = False,
) -> WassersteinResult:
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
    ref_means, cur_means : array_like, optional
        Mean of each side's values in each bin (any value where the bin is empty). Both or
        neither. Bin sums are mergeable (the pipeline stores them next to the counts), and they
        fix each bin's signed contribution exactly.
    point_masses : bool, default False
        With bin means: take each side's mass in a bin to sit at its bin mean. Exact for
        columns binned on their distinct values (one reference value per bin), where a current
        value off the reference's support would otherwise be misplaced.

    Returns
    -------
    WassersteinResult
        ``distance`` (``W1 / scale``), ``max_error`` (a bound on ``|exact W1 / scale -
        distance|`` for the raw samples behind the histograms) and ``method``.

    Notes
    -----
    Let bin ``j`` span ``[a_j, b_j)`` (clipped to ``[low, high]``), with width ``w_j``, shares
    ``p_j`` (ref) and ``q_j`` (cur), ``d_j = F(a_j) - G(a_j)`` the difference of the ECDFs at its
    left boundary and ``r_j = d_j + p_j - q_j`` at its right one. In the bin, ``h = F - G`` lies
    in ``I_j = [d_j - q_j, d_j + p_j]``. ``W1 = sum_j integral_j |h|``.

    **With bin means** (``method="bin_means"``). ``integral_{a}^{b} F = w F(a) + p (b - mean)``
    for the values in the bin, so the signed contribution ``S_j = integral_j h = d_j w_j +
    p_j (b_j - mean_ref_j) - q_j (b_j - mean_cur_j)`` is exact. Hence:

    * ``sum_j |S_j| <= exact W1`` always (triangle inequality), with equality when ``h`` keeps
      its sign inside every bin. ``h`` cannot change sign in a bin where ``I_j`` excludes 0, so
      those bins are exact; under drift that is most bins, and a location shift (``h`` of one
      sign everywhere) is exact in every bin.
    * Where ``d_j`` and ``r_j`` have opposite signs, ``h`` crosses zero inside the bin; the
      estimate there is ``h = d_j`` then ``h = r_j`` with the switch placed so that the
      integral equals ``S_j`` (for a bin holding one value on both sides, exact).
    * Guaranteed bound: the largest ``integral |h|`` with ``integral h = S_j`` and ``h`` in
      ``I_j = [L, U]`` is ``(S_j (U + L) - 2 w_j L U) / (U - L)`` when ``L < 0 < U``, else
      ``|S_j|``. ``max_error`` sums, per bin, the distance from the estimate to the farther of
      ``|S_j|`` and that maximum. The bound is attainable (values piled at the bin ends), so
      it is wide where a heavy tail makes the open tail bin wide; the actual error on the
      families tested (normal, lognormal, exponential, uniform, integer-valued, zero-inflated;
      shifts, scale, tail-only changes, no change) is below ``0.003 + 2 %`` of the exact value
      (``tests/test_drift_stats.py``).

    **Point masses** (``method="point_masses"``). Each side's bin mass sits at its bin mean:
    ``h`` is ``d_j`` up to the first mean, ``d_j + p_j`` (or ``d_j - q_j``) between the two
    means and ``r_j`` after. Exact whenever each side's values in a bin are all equal. The
    guaranteed bound is the one above.

    **Counts only** (``method="uniform"``). Each bin's mass is spread uniformly over the bin
    (linear ECDFs between boundaries). Bound: ``sum_j max(c_j - w_j min|I_j|, w_j max|I_j| -
    c_j) / scale <= sum_j w_j (p_j + q_j) / scale``; a bound from ``w_j |p_j - q_j|`` alone is
    not valid. Uniform spreading over a wide open tail bin overstates the distance badly for
    heavy tails (lognormal: +40 % to +600 %), which is why the pipeline stores bin sums.

    Edge cases:

    * Empty histogram on either side, NaN or negative counts, mismatched bins,
      ``len(edges) + 1 != len(counts)`` or non-increasing edges: ``ValueError``.
    * ``low``/``high`` inconsistent with the counts (a non-empty bin lying entirely outside
      ``[low, high]``) or not finite, ``low > high``: ``ValueError``. ``low``/``high`` narrower
      than the true data range silently invalidates the bound.
    * Only one of ``ref_means``/``cur_means``, a wrong length, or a non-finite mean for a
      non-empty bin: ``ValueError``. Means outside their bin (rounding) are clipped into it.
    * A single bin (no edges): ``[low, high]`` is the one bin, distance and bound from it.
    * Zero-width bins (e.g. a constant column with ``low == high``) contribute 0.
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
    if (ref_means is None) != (cur_means is None):
        raise ValueError("give both ref_means and cur_means, or neither")

    bounds = np.clip(np.concatenate([[lo], e, [hi]]), lo, hi)
    left, right = bounds[:-1], bounds[1:]
    widths = right - left
    p = ref / ref.sum()
    q = cur / cur.sum()
    d_left = np.concatenate([[0.0], np.cumsum(ref)[:-1] / ref.sum()]) - np.concatenate(
        [[0.0], np.cumsum(cur)[:-1] / cur.sum()]
    )
    d_right = d_left + p - q
    i_lo, i_hi = d_left - q, d_left + p

    if ref_means is None:
        contrib = widths * _mean_abs_linear(d_left, d_right)
        abs_max = np.maximum(np.abs(i_lo), np.abs(i_hi))
        abs_min = np.where((i_lo <= 0) & (i_hi >= 0), 0.0, np.minimum(np.abs(i_lo), np.abs(i_hi)))
        err = np.maximum(contrib - widths * abs_min, widths * abs_max - contrib)
        return WassersteinResult(
            float(contrib.sum() / s), float(np.maximum(err, 0.0).sum() / s), "uniform"
        )

    m_ref = _bin_means("reference", ref_means, ref, left, right)
    m_cur = _bin_means("current", cur_means, cur, left, right)
    signed = d_left * widths + p * (right - m_ref) - q * (right - m_cur)
    lower = np.abs(signed)
    if point_masses:
        first_mean, second_mean = np.minimum(m_ref, m_cur), np.maximum(m_ref, m_cur)
        between = np.where(m_ref <= m_cur, d_left + p, d_left - q)
        estimate = (
            (first_mean - left) * np.abs(d_left)
            + (second_mean - first_mean) * np.abs(between)
            + (right - second_mean) * np.abs(d_right)
        )
        method = "point_masses"
    else:
        crossing = d_left * d_right < 0
        span = np.where(crossing, d_left - d_right, 1.0)
        switch = np.clip((signed - widths * d_right) / span, 0.0, widths)
        step = switch * np.abs(d_left) + (widths - switch) * np.abs(d_right)
        estimate = np.where(crossing, step, lower)
        method = "bin_means"
    can_cross = (i_lo < 0) & (i_hi > 0)
    most = np.where(
        can_cross,
        (signed * (i_hi + i_lo) - 2.0 * widths * i_lo * i_hi)
        / np.where(can_cross, i_hi - i_lo, 1.0),
        lower,
    )
    # Rounding aside, |S| <= estimate <= most; clip so the stated bound always covers both ends.
    estimate = np.clip(estimate, lower, np.maximum(most, lower))
    err = np.maximum(estimate - lower, np.maximum(most, lower) - estimate)
    return WassersteinResult(float(estimate.sum() / s), float(err.sum() / s), method)


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
    ref_means=None,
    cur_means=None,
    point_masses: bool = False,
) -> ColumnDrift:
    """Drift summary of one column from its reference and current histograms.

    Parameters
    ----------
    kind : {"numeric", "categorical"}
        Column kind.
    ref_counts, cur_counts : array_like
        Counts on the baseline bins (numeric: ``len(edges) + 1`` bins; categorical: top-k
        categories plus "other").
    edges : array_like, optional
        Interior bin edges (numeric only, required).
    low, high : float, optional
        Smallest and largest value seen in either window (numeric only, required).
    scale : float, optional
        Baseline standard deviation (numeric only, required).
    ref_means, cur_means, point_masses : optional
        Bin means and placement for :func:`wasserstein_binned` (numeric only).

    Returns
    -------
    ColumnDrift
        Numeric: binned KS p-value and statistic with its ``max_binning_error``, binned
        ``W1 / std`` as ``effect_size`` (with ``effect_size_max_error``), PSI, JS distance.
        Categorical: chi-square homogeneity p-value, the Jensen-Shannon distance as
        ``effect_size``, PSI.

    Notes
    -----
    * Why not Cramér's V for categorical columns: V of the 2 x k reference-vs-current table
      depends on the ratio of the two sample sizes (the same two-point shift between two
      categories gives 0.025 at 1:1, 0.015 at 1:10, 0.005 at 1:100), so one threshold would
      mean different things on different days. The JS distance is defined on the two
      distributions alone. At 1:1 it is about 0.85 x Cramér's V for small shifts among known
      categories (``JS^2 ~ chi2 / (2 N ln 2)`` there, ``N`` the total) and about V for a new
      category, so thresholds set with V in mind keep their meaning at equal sizes, and now
      at every ratio.
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
        w = wasserstein_binned(
            edges,
            ref,
            cur,
            low,
            high,
            scale,
            ref_means=ref_means,
            cur_means=cur_means,
            point_masses=point_masses,
        )
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
            effect_method=w.method,
        )
    if kind == CATEGORICAL:
        chi = chi2_contingency_test(ref, cur)
        return ColumnDrift(
            kind=CATEGORICAL,
            n_ref=n_ref,
            n_cur=n_cur,
            p_value=chi.p_value,
            effect_size=jsd,
            effect_measure=JS_DISTANCE,
            psi=psi,
            js_distance=jsd,
            ks_statistic=None,
            max_binning_error=0.0,
            effect_size_max_error=0.0,
        )
    raise ValueError(f"unknown column kind {kind!r}; expected 'numeric' or 'categorical'")


def null_rate_test(ref_nulls, ref_rows, cur_nulls, cur_rows) -> NullRateResult:
    """Compare the share of missing values of a column between the reference and a window.

    Parameters
    ----------
    ref_nulls, ref_rows : int
        Nulls and rows of the reference (``ok`` predictions only).
    cur_nulls, cur_rows : int
        The same for the current window.

    Returns
    -------
    NullRateResult
        Both rates, their difference ``cur - ref`` (the effect size) and the two-sided p-value
        of Fisher's exact test of the 2 x 2 table.

    Notes
    -----
    * Both sides are samples: the test is one of homogeneity (the reference's own sampling
      noise counts), not of the current rate against a known one.
    * Fisher's test is exact at any count. The chi-square approximation (the pooled
      two-proportion z-test) is badly anti-conservative when the expected null count is small,
      which is the usual case here (a reference without nulls, a few hundred rows in an hour).
    * No nulls on either side: difference 0, p-value 1.
    * ``rows`` of 0 on either side: ``ValueError`` (no data, not "no change"). Negative
      counts, more nulls than rows, or non-integer counts: ``ValueError``.
    """
    counts = []
    for name, value in (
        ("ref_nulls", ref_nulls),
        ("ref_rows", ref_rows),
        ("cur_nulls", cur_nulls),
        ("cur_rows", cur_rows),
    ):
        v = float(value)
        if not math.isfinite(v) or v < 0 or v != round(v):
            raise ValueError(f"{name} must be a non-negative whole number, got {value!r}")
        counts.append(int(round(v)))
    r_null, r_rows, c_null, c_rows = counts
    if r_rows == 0 or c_rows == 0:
        raise ValueError("no rows on one side: no data to compare (not 'no change')")
    if r_null > r_rows or c_null > c_rows:
        raise ValueError("more nulls than rows")
    r_rate, c_rate = r_null / r_rows, c_null / c_rows
    if r_null + c_null == 0 or r_null + c_null == r_rows + c_rows:
        p_value = 1.0
    else:
        table = [[r_null, r_rows - r_null], [c_null, c_rows - c_null]]
        p_value = float(min(1.0, sps.fisher_exact(table, alternative="two-sided").pvalue))
    return NullRateResult(r_rate, c_rate, c_rate - r_rate, p_value, r_null, r_rows, c_null, c_rows)


def adaptive_effect_floor(
    chunk_mean: float,
    chunk_std: float,
    noise_mean: float,
    noise_std: float,
    chunk_rows: float,
    rest_rows: float,
    n_cur: float,
    n_ref: float,
    sigmas: float,
) -> float:
    """A column's effect-size floor from its reference's own chunk-to-chunk variation.

    Parameters
    ----------
    chunk_mean, chunk_std : float
        Mean and standard deviation of the effect size between each time chunk of the
        reference (a day) and the rest of the reference.
    noise_mean, noise_std : float
        The same for chunks of the same sizes drawn at random from the reference rows: what
        sampling noise alone gives at those sizes.
    chunk_rows, rest_rows : float
        Typical rows of a chunk and of the rest of the reference.
    n_cur, n_ref : float
        Rows of the current window and of the reference it is compared with.
    sigmas : float
        How many standard deviations above the mean chunk effect the floor sits (NannyML's
        thresholds use 3).

    Returns
    -------
    float
        ``sqrt(excess^2 + noise(n)^2)`` with ``T = chunk_mean + sigmas chunk_std`` (the
        reference's own envelope, NannyML-style), ``N = noise_mean + sigmas noise_std`` (the
        envelope of pure sampling noise at the chunk size), ``excess^2 = max(0, T^2 - N^2)``
        (variation between chunks beyond sampling noise: the part that does not shrink with
        more rows) and ``noise(n) = N sqrt((1/n_cur + 1/n_ref) / (1/chunk_rows + 1/rest_rows))``
        (the noise envelope moved to the current sample sizes).

    Notes
    -----
    * The effect sizes used here (W1/std, the JS distance, a difference of rates) all have a
      sampling noise proportional to ``sqrt(1/n_cur + 1/n_ref)`` when nothing changes, which
      is what moves the noise part to the current sizes; independent parts add in quadrature.
    * For a reference whose chunks differ only by sampling noise, ``excess`` is about 0 and
      the floor is the noise envelope at the current sizes: tiny for a 1M-row day. For a
      column whose reference moves between days (weather, weekly cycles), the floor keeps the
      size of those moves however large the window: a day like the reference's days is not
      drift, however significant.
    * Any argument NaN, a non-positive size or negative ``sigmas``: NaN (no adaptive floor;
      the caller uses its configured floor).
    """
    values = (chunk_mean, chunk_std, noise_mean, noise_std, chunk_rows, rest_rows, n_cur, n_ref)
    if any(v is None or not math.isfinite(float(v)) for v in values) or not sigmas >= 0:
        return math.nan
    if min(chunk_rows, rest_rows, n_cur, n_ref) <= 0:
        return math.nan
    envelope = chunk_mean + sigmas * chunk_std
    noise = noise_mean + sigmas * noise_std
    excess2 = max(0.0, envelope**2 - noise**2)
    moved = noise * math.sqrt((1 / n_cur + 1 / n_ref) / (1 / chunk_rows + 1 / rest_rows))
    return math.sqrt(excess2 + moved**2)


def flag_drift(
    columns: Sequence[ColumnDrift], alpha: float, min_effect: float | Sequence[float]
) -> tuple[DriftFlag, ...]:
    """Flag drifted columns: BH-significant across columns and a large enough effect.

    Parameters
    ----------
    columns : sequence of ColumnDrift
        Per-column summaries of one model and window.
    alpha : float
        False discovery rate across the columns, in ``(0, 1)``.
    min_effect : float or sequence of float
        Minimum ``effect_size`` (W1/std or JS distance) for a column to count as drifted: one
        floor for all, or one per column (e.g. from :func:`adaptive_effect_floor`).

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
      choice; W1/std and the JS distance are both roughly "0.1 = small but real".
    * NaN p-value or NaN effect size: never drifted. No columns: empty tuple. A per-column
      ``min_effect`` of the wrong length: ``ValueError``.
    """
    if not columns:
        return ()
    floors = (
        [float(min_effect)] * len(columns)
        if np.ndim(min_effect) == 0
        else [float(f) for f in min_effect]
    )
    if len(floors) != len(columns):
        raise ValueError(f"{len(floors)} effect floors for {len(columns)} columns")
    fdr = benjamini_hochberg([c.p_value for c in columns], alpha)
    return tuple(
        DriftFlag(
            column=i,
            adjusted_p=adj,
            drifted=bool(rej and c.effect_size >= floor),
        )
        for i, (c, rej, adj, floor) in enumerate(
            zip(columns, fdr.rejected, fdr.adjusted_p, floors, strict=True)
        )
    )
