"""Bin edges fixed by a baseline, and the bin lookup the SQL models reproduce."""

from collections import Counter
from collections.abc import Iterable

import numpy as np


def _present(values) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ValueError("cannot build bin edges from an empty sample")
    return x


def quantile_bin_edges(values: np.ndarray, n_bins: int, isolate_atoms: bool = False) -> np.ndarray:
    """Interior edges of ``n_bins`` equal-mass bins of ``values``, with open tails.

    Parameters
    ----------
    values : array_like
        Reference sample. NaN values are ignored.
    n_bins : int
        Requested number of bins (>= 2).
    isolate_atoms : bool, default False
        Give every value that holds at least ``1 / n_bins`` of the sample (an atom: the zeros
        of a zero-inflated feature) a bin of its own, ``[v, next float above v)``. Without
        it, an atom shares a bin with the continuous values next to it, and a change that
        moves the atom (zeros becoming 0.2) happens inside one bin, where counts cannot see
        it.

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
    x = _present(values)
    qs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    edges = np.unique(np.quantile(x, qs, method="linear"))
    if edges.size == 0:
        edges = np.array([x[0]])
    if isolate_atoms:
        distinct, counts = np.unique(x, return_counts=True)
        atoms = distinct[counts * n_bins >= x.size]
        edges = np.unique(np.concatenate([edges, atoms, np.nextafter(atoms, np.inf)]))
    return edges


def distinct_value_edges(values: np.ndarray, max_values: int) -> np.ndarray | None:
    """Interior edges giving each distinct value of ``values`` a bin of its own, if few.

    Parameters
    ----------
    values : array_like
        Reference sample. NaN values are ignored.
    max_values : int
        Largest number of distinct values binned this way (``>= 1``).

    Returns
    -------
    numpy.ndarray or None
        For sorted distinct values ``v_1 < ... < v_m`` (``m <= max_values``): edges ``v_1``, the
        midpoints ``(v_i + v_{i+1}) / 2`` and the next float above ``v_m``. Bin 0 holds values
        below ``v_1`` (never seen in the reference), bin ``i`` holds ``v_i`` alone (and any new
        value closer to it than to its neighbours), the last bin values above ``v_m``. ``None``
        when there are more than ``max_values`` distinct values (use quantile edges).

    Notes
    -----
    * Every reference value sits alone in its bin, at a known point: the binned KS statistic
      and W1 (with bin sums) are then exact for values on the reference's support.
    * A constant sample gives three bins: below, equal to, and above the value.
    * An empty sample (or all NaN) raises ``ValueError``. Distinct values so close that a
      midpoint rounds onto one of them (adjacent floats): ``None``.
    """
    if max_values < 1:
        raise ValueError("max_values must be at least 1")
    distinct = np.unique(_present(values))
    if distinct.size > max_values:
        return None
    mids = (distinct[:-1] + distinct[1:]) / 2.0
    edges = np.concatenate([[distinct[0]], mids, [np.nextafter(distinct[-1], np.inf)]])
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        return None
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
