"""Bin edges fixed by a baseline, and the bin lookup the SQL models reproduce."""

from collections import Counter
from collections.abc import Iterable

import numpy as np


def quantile_bin_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior edges of ``n_bins`` equal-mass bins of ``values``, with open tails.

    Parameters
    ----------
    values : array_like
        Reference sample. NaN values are ignored.
    n_bins : int
        Requested number of bins (>= 2).

    Returns
    -------
    numpy.ndarray
        Strictly increasing interior edges ``e_1 < ... < e_k`` (``k <= n_bins - 1``). Bin ``0``
        is ``(-inf, e_1)``, bin ``i`` is ``[e_i, e_{i+1})`` and bin ``k`` is ``[e_k, +inf)``.

    Notes
    -----
    Repeated quantiles (discrete or heavily tied data) are merged, so fewer bins come back. A
    constant sample gives one edge at that value: everything falls into the last bin, and values
    below it in later data are counted separately. An empty sample (or all NaN) raises
    ``ValueError``: there is no baseline to bin against.
    """
    if n_bins < 2:
        raise ValueError("n_bins must be at least 2")
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ValueError("cannot build bin edges from an empty sample")
    qs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    edges = np.unique(np.quantile(x, qs, method="linear"))
    if edges.size == 0:
        edges = np.array([x[0]])
    return edges


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value for interior ``edges`` (the count of edges ``<= value``)."""
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(values, dtype=float), "right")


def top_k_categories(values: Iterable, k: int) -> list[str]:
    """The ``k`` most frequent non-null categories, most frequent first (ties by name).

    Notes
    -----
    Everything else is counted in one "other" bin by the aggregates. Values are compared as
    strings, as they are stored.
    """
    counts = Counter(str(v) for v in values if v is not None and v == v)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [category for category, _ in ranked[:k]]
