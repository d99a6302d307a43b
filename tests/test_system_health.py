"""System-health checks: latency, error and timeout rates, host CPU (fixed thresholds).

Every threshold key of the config that these checks read is exercised at its boundary, and
the simulator's latency spike and error bursts fail on exactly their hours through Dagster.
"""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pipeline import Pipeline, only

from modelmon_dagster.check_results import latest_results
from modelmon_dagster.config import Thresholds
from modelmon_dagster.metrics.health import error_rate_outcome, host_outcome, latency_outcome
from modelmon_dagster.sim import ErrorBurst, LatencySpike, simulate
from modelmon_dagster.stats.latency import count_above, latency_bin
from modelmon_dagster.stats.performance import wilson_interval
from modelmon_dagster.warehouse import Warehouse


def histogram(latencies):
    bins = latency_bin(np.asarray(latencies))
    uniq, counts = np.unique(bins, return_counts=True)
    return pd.DataFrame({"bin_index": uniq, "n": counts})


def stats_row(latencies, **extra):
    x = np.asarray(latencies, dtype=float)
    return {
        "latency_n": x.size,
        "latency_p50_ms": float(np.quantile(x, 0.5)),
        "latency_p95_ms": float(np.quantile(x, 0.95)),
        "latency_p99_ms": float(np.quantile(x, 0.99)),
        **extra,
    }


def test_count_above_matches_the_raw_count_within_one_bin():
    rng = np.random.default_rng(2)
    x = rng.lognormal(3.0, 0.8, 20_000)
    h = histogram(x)
    for threshold in (5.0, 20.0, 57.3, 120.0, 900.0):
        exact = int((x > threshold).sum())
        boundary_bin = int(latency_bin(np.array([threshold]))[0])
        width = int(h.loc[h["bin_index"] == boundary_bin, "n"].sum())
        assert abs(count_above(h["bin_index"], h["n"], threshold) - exact) <= width


def test_one_slow_request_at_night_is_not_a_slow_hour():
    t = Thresholds(latency_p99_ms_warn=300, latency_p99_ms_error=1500)
    latencies = [60.0] * 70 + [757.0, 900.0]  # p99 ~800 ms: above 300 by the number alone
    outcome = latency_outcome(stats_row(latencies), histogram(latencies), t)
    assert stats_row(latencies)["latency_p99_ms"] > 300
    assert outcome.passed is True


@pytest.mark.parametrize(
    ("slow_share", "slow_ms", "expected"),
    [(0.20, 500.0, "WARN"), (0.20, 2000.0, "ERROR"), (0.002, 2000.0, None)],
)
def test_latency_fails_when_clearly_more_than_one_percent_are_slow(slow_share, slow_ms, expected):
    t = Thresholds(latency_p99_ms_warn=300, latency_p99_ms_error=1500)
    n = 1000
    slow = int(n * slow_share)
    latencies = [60.0] * (n - slow) + [slow_ms] * slow
    outcome = latency_outcome(stats_row(latencies), histogram(latencies), t)
    if expected is None:
        assert outcome.passed is True
    else:
        assert outcome.passed is False and outcome.severity == expected


def test_latency_without_requests_is_not_judged():
    outcome = latency_outcome({"latency_n": 0}, histogram([]), Thresholds())
    assert outcome.passed is None


def rates(n, errors, timeouts):
    return {"n_predictions": n, "n_error": errors, "n_timeout": timeouts}


def test_error_rate_judged_on_its_lower_confidence_bound():
    t = Thresholds()  # error 2 % WARN, 10 % ERROR; timeout 1 % WARN, 5 % ERROR
    # 1 error in 10 requests is a 10 % rate, but its lower bound (1.8 %) is below 2 %
    assert wilson_interval(1, 10)[0] < 0.02
    assert error_rate_outcome(rates(10, 1, 0), t).passed is True
    # 15 % of 600: ERROR; 4 % of 5000 (lower bound 3.5 %): WARN
    assert error_rate_outcome(rates(600, 90, 0), t).severity == "ERROR"
    warn = error_rate_outcome(rates(5000, 200, 0), t)
    assert warn.passed is False and warn.severity == "WARN"
    # timeouts have their own thresholds
    timeouts = error_rate_outcome(rates(5000, 0, 400), t)
    assert timeouts.passed is False and timeouts.severity == "ERROR"
    assert "timeout rate" in timeouts.description
    assert error_rate_outcome(rates(0, 0, 0), t).passed is None


@pytest.mark.parametrize(
    ("key", "value", "row", "fails"),
    [
        ("error_rate_warn", 0.05, rates(5000, 200, 0), False),  # 4 % < a raised 5 % WARN
        ("error_rate_error", 0.5, rates(600, 90, 0), True),  # still above the 2 % WARN
        ("timeout_rate_warn", 0.2, rates(5000, 0, 100), False),
        ("timeout_rate_error", 0.5, rates(5000, 0, 400), True),
    ],
)
def test_rate_thresholds_are_read(key, value, row, fails):
    base = Thresholds()
    changed = dataclasses.replace(base, **{key: value})
    outcome = error_rate_outcome(row, changed)
    assert (outcome.passed is False) == fails
    if fails:  # the raised ERROR threshold demotes it to WARN
        assert outcome.severity == "WARN"


def test_host_cpu_thresholds():
    row = {"host_cpu_n": 100, "host_cpu_sum": 100 * 90.0, "host_cpu_max": 99.0}
    assert host_outcome(row, Thresholds()).severity == "WARN"  # 90 > 85
    assert host_outcome(row, Thresholds(host_cpu_pct_warn=92, host_cpu_pct_error=95)).passed
    assert host_outcome(row, Thresholds(host_cpu_pct_warn=50, host_cpu_pct_error=80)).severity == (
        "ERROR"
    )
    assert host_outcome({"host_cpu_n": 0}, Thresholds()).passed is None


DAY = dt.datetime(2026, 11, 18)


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_latency_spike_and_error_burst_fail_on_exactly_their_hours(settings, demo_config):
    config = only(demo_config, "fraud_detector")
    scenarios = [
        LatencySpike(
            model_name="fraud_detector",
            start=DAY + dt.timedelta(hours=14),
            end=DAY + dt.timedelta(hours=17),
            factor=6.0,
        ),
        ErrorBurst(
            model_name="fraud_detector",
            start=DAY + dt.timedelta(hours=3),
            end=DAY + dt.timedelta(hours=5),
            rate=0.15,
        ),
    ]
    config = dataclasses.replace(config, partitions_start=DAY)
    simulate(config, settings.data_dir, DAY, 1, seed=3, scenarios=scenarios)
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    pipeline.backfill("hourly", DAY, DAY + dt.timedelta(hours=23))
    warehouse = Warehouse(settings.warehouse_url)
    results = latest_results(warehouse, "fraud_detector")
    warehouse.dispose()
    failed = results[results["status"] == "failed"]
    hours = {
        check: sorted(pd.to_datetime(rows["period_start"]).dt.hour)
        for check, rows in failed.groupby("check_name")
    }
    assert hours["latency"] == [14, 15, 16]
    assert hours["error_rate"] == [3, 4]
    latency = failed[failed["check_name"] == "latency"]
    assert set(latency["severity"]) == {"WARN"}  # 6x of ~50 ms p99: above 120, below 400
    assert set(failed.loc[failed["check_name"] == "error_rate", "severity"]) == {"ERROR"}
