"""Latency histograms on fixed log-spaced bins, and percentiles from merged histograms.

Hourly rows hold counts per log bin; a day's histogram is their sum, so daily and weekly
percentiles need no rescan of raw rows. Bin ``b`` covers ``[10**(b/B), 10**((b+1)/B))`` ms with
``B = BINS_PER_DECADE``; values below ``MIN_LATENCY_MS`` share the lowest bin.
"""

import math

import numpy as np

BINS_PER_DECADE = 50
MIN_LATENCY_MS = 1e-3
# Geometric interpolation inside a bin is off by at most one bin width in ratio terms.
MAX_RELATIVE_ERROR = 10 ** (1 / BINS_PER_DECADE) - 1


def latency_bin(latency_ms: np.ndarray) -> np.ndarray:
    """Log bin of each latency (the formula the SQL models use)."""
    x = np.maximum(np.asarray(latency_ms, dtype=float), MIN_LATENCY_MS)
    return np.floor(np.log10(x) * BINS_PER_DECADE).astype(int)


def quantiles_from_log_histogram(
    bins: np.ndarray, counts: np.ndarray, qs: np.ndarray | list[float]
) -> np.ndarray:
    """Approximate quantiles of the latencies summarised by a log-bin histogram.

    Parameters
    ----------
    bins, counts : array_like
        Bin indices and their counts (any order; repeated bins are summed).
    qs : array_like
        Probabilities in [0, 1].

    Returns
    -------
    numpy.ndarray
        One latency (ms) per probability; NaN for every probability when the histogram is empty.

    Notes
    -----
    The rank ``q * n`` is located in the cumulative counts and interpolated geometrically within
    its bin, so the result lies in the same bin as the exact order statistic: relative error at
    most ``MAX_RELATIVE_ERROR`` (about 4.7 %).
    """
    bins = np.asarray(bins, dtype=int)
    counts = np.asarray(counts, dtype=float)
    qs = np.asarray(qs, dtype=float)
    if np.any((qs < 0) | (qs > 1)):
        raise ValueError("quantile probabilities must lie in [0, 1]")
    keep = counts > 0
    if not keep.any():
        return np.full(qs.shape, math.nan)
    uniq, inverse = np.unique(bins[keep], return_inverse=True)
    merged = np.bincount(inverse, weights=counts[keep])
    cumulative = np.cumsum(merged)
    total = cumulative[-1]
    out = np.empty(qs.shape)
    for i, q in enumerate(qs.flat):
        rank = q * total
        j = int(np.searchsorted(cumulative, rank, side="left"))
        j = min(j, len(uniq) - 1)
        below = cumulative[j - 1] if j > 0 else 0.0
        fraction = 0.0 if merged[j] == 0 else (rank - below) / merged[j]
        fraction = min(max(fraction, 0.0), 1.0)
        out.flat[i] = 10 ** ((uniq[j] + fraction) / BINS_PER_DECADE)
    return out


def count_above(bins: np.ndarray, counts: np.ndarray, threshold_ms: float) -> float:
    """Approximate number of latencies above ``threshold_ms`` in a log-bin histogram.

    Bins entirely above the threshold count in full; the bin that contains it counts in the
    share of its log-width above the threshold (latencies assumed spread geometrically within a
    bin, as :func:`quantiles_from_log_histogram` assumes).

    Notes
    -----
    The error is at most the count of that one bin. An empty histogram gives 0.
    """
    bins = np.asarray(bins, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if counts.size == 0:
        return 0.0
    position = math.log10(max(threshold_ms, MIN_LATENCY_MS)) * BINS_PER_DECADE
    boundary = math.floor(position)
    above = counts[bins > boundary].sum()
    share = 1.0 - (position - boundary)  # of the boundary bin, above the threshold
    return float(above + share * counts[bins == boundary].sum())
