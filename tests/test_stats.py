"""Pure statistics against numpy oracles."""

import math

import numpy as np
import pytest

from modelmon_dagster.stats.binning import bin_index, quantile_bin_edges, top_k_categories
from modelmon_dagster.stats.latency import (
    MAX_RELATIVE_ERROR,
    latency_bin,
    quantiles_from_log_histogram,
)
from modelmon_dagster.stats.moments import mean_and_variance


def test_quantile_edges_give_equal_mass_bins():
    rng = np.random.default_rng(0)
    x = rng.normal(size=100_000)
    edges = quantile_bin_edges(x, 100)
    assert len(edges) == 99 and np.all(np.diff(edges) > 0)
    counts = np.bincount(bin_index(x, edges), minlength=100)
    assert counts.min() >= 999 and counts.max() <= 1001


def test_quantile_edges_edge_cases():
    assert quantile_bin_edges(np.array([5.0] * 10), 10).tolist() == [5.0]
    tied = quantile_bin_edges(np.array([1, 1, 1, 2, 2, 3, np.nan]), 10)
    assert np.all(np.diff(tied) > 0)
    with pytest.raises(ValueError, match="empty"):
        quantile_bin_edges(np.array([np.nan]), 10)
    with pytest.raises(ValueError):
        quantile_bin_edges(np.array([1.0]), 1)


def test_bin_index_is_bisect_right_with_open_tails():
    edges = np.array([0.0, 1.0, 2.0])
    assert bin_index([-5, 0.0, 0.5, 1.0, 2.0, 9], edges).tolist() == [0, 1, 1, 2, 3, 3]


def test_top_k_orders_by_frequency_then_name_and_ignores_nulls():
    assert top_k_categories(["b", "a", "b", "c", "a", None, float("nan"), "d"], 2) == ["a", "b"]


def test_latency_percentiles_from_histogram_within_one_bin_of_exact():
    rng = np.random.default_rng(1)
    for sample in (rng.lognormal(3, 1, 50_000), rng.exponential(5, 2000), rng.uniform(0.5, 2, 777)):
        bins = latency_bin(sample)
        uniq, counts = np.unique(bins, return_counts=True)
        qs = [0.01, 0.5, 0.9, 0.95, 0.99, 0.999]
        estimate = quantiles_from_log_histogram(uniq, counts, qs)
        exact = np.quantile(sample, qs, method="inverted_cdf")
        assert np.all(np.abs(estimate / exact - 1) <= MAX_RELATIVE_ERROR)


def test_latency_percentiles_merge_hourly_histograms():
    rng = np.random.default_rng(2)
    parts = [rng.lognormal(2, 0.5, 1000) for _ in range(24)]
    bins = np.concatenate([np.unique(latency_bin(p), return_counts=True)[0] for p in parts])
    counts = np.concatenate([np.unique(latency_bin(p), return_counts=True)[1] for p in parts])
    merged = quantiles_from_log_histogram(bins, counts, [0.99])[0]
    exact = np.quantile(np.concatenate(parts), 0.99, method="inverted_cdf")
    assert abs(merged / exact - 1) <= MAX_RELATIVE_ERROR


def test_latency_percentiles_of_empty_histogram_are_nan():
    assert np.isnan(quantiles_from_log_histogram([], [], [0.5, 0.99])).all()
    with pytest.raises(ValueError):
        quantiles_from_log_histogram([1], [1], [1.5])


def test_shifted_sums_keep_variance_precise_for_large_means():
    rng = np.random.default_rng(3)
    x = 1e9 + rng.normal(0, 1e-3, 10_000)
    shift = 1e9 + 1e-4
    d = x - shift
    mean, var = mean_and_variance(x.size, d.sum(), (d * d).sum(), shift)
    assert mean == pytest.approx(x.mean(), rel=1e-15)
    assert var == pytest.approx(x.var(ddof=1), rel=1e-6)
    # the unshifted textbook formula loses the variance entirely here: why the sums are shifted
    naive = (np.sum(x * x) - np.sum(x) ** 2 / x.size) / (x.size - 1)
    assert abs(naive / x.var(ddof=1) - 1) >= 0.5


def test_moments_edge_cases():
    assert all(math.isnan(v) for v in mean_and_variance(0, 0, 0, 0))
    mean, var = mean_and_variance(1, 2.0, 4.0, 1.0)
    assert mean == 3.0 and math.isnan(var)
