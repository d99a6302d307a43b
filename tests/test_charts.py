"""Control-chart and CUSUM checks over metric series: limits per version, cycles, family-wise
multipliers, and CUSUM seeing a slow ramp long before a 3-sigma chart does."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelmon_dagster.metrics.charts import (
    build_charts,
    chart_outcomes,
    cusum_outcomes,
    family_multiplier,
)
from modelmon_dagster.metrics.settings import ControlChartSettings

START = dt.datetime(2026, 11, 16)


def series(values, metric="latency_p99_ms", dimension="", versions=None, n=None, events=None):
    hours = [START + dt.timedelta(hours=i) for i in range(len(values))]
    return pd.DataFrame(
        {
            "model_name": "m",
            "grain": "hourly",
            "period_start": pd.to_datetime(hours),
            "metric": metric,
            "dimension": dimension,
            "value": np.asarray(values, dtype=float),
            "n": n if n is not None else 100.0,
            "events": events,
            "model_version": versions if versions is not None else "v1",
        }
    )


SETTINGS = ControlChartSettings(baseline_days=2)


def outcomes(frame, settings=SETTINGS, judge=chart_outcomes):
    charts = build_charts(frame, settings, "hourly")
    periods = [p.to_pydatetime() for p in frame["period_start"].drop_duplicates()]
    return judge(charts, periods, settings)


def test_family_multiplier_keeps_the_false_alarm_rate_of_one_chart():
    assert family_multiplier(3.0, 1) == 3.0
    one = 2 * stats.norm.sf(3.0)
    for charts in (2, 13, 40):
        z = family_multiplier(3.0, charts)
        per_chart = 2 * stats.norm.sf(z)
        assert 1 - (1 - per_chart) ** charts == pytest.approx(one, rel=1e-9)
    # 13 charts: each judged at 3.71 sigma
    assert family_multiplier(3.0, 13) == pytest.approx(stats.norm.isf(one / 13 / 2), abs=1e-3)


def test_a_spike_after_the_baseline_window_is_an_error_and_the_window_is_not_judged():
    rng = np.random.default_rng(0)
    values = rng.normal(50, 5, 24 * 4)
    values[24 * 3 + 14] = 120.0  # 14 sigma
    result = outcomes(series(values))
    first_day = START + dt.timedelta(hours=3)
    assert result[first_day].passed is None
    assert "building the control limits of v1" in result[first_day].description
    spike = START + dt.timedelta(days=3, hours=14)
    assert result[spike].passed is False and result[spike].severity == "ERROR"
    assert result[spike].metadata["beyond"][0]["chart"] == "latency_p99_ms"  # for tools
    assert result[spike].description.startswith("beyond 3 sigma: latency p99 ms 120 (")
    judged = [p for p, o in result.items() if o.judged]
    assert len(judged) == 48
    assert [p for p in judged if result[p].failed] == [spike]


def test_two_of_three_beyond_two_sigma_warns():
    rng = np.random.default_rng(1)
    values = rng.normal(50, 1, 24 * 3)
    sigma = float(np.mean(np.abs(np.diff(values[:48]))) / 1.128)
    centre = float(values[:48].mean())
    values[60] = values[61] = centre + 2.6 * sigma  # beyond 2 sigma, inside 3
    result = outcomes(series(values))
    assert result[START + dt.timedelta(hours=60)].passed is True  # one point is not a pattern
    second = result[START + dt.timedelta(hours=61)]
    assert second.passed is False and second.severity == "WARN"
    assert "2 of 3 beyond 2 sigma" in second.description


def test_a_daily_cycle_is_not_an_alarm():
    rng = np.random.default_rng(2)
    hours = np.arange(24 * 5)
    values = 10 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 1, hours.size)
    frame = series(values, metric="mean", dimension="temperature_c")
    result = outcomes(frame)
    assert not [p for p, o in result.items() if o.failed]
    # the cycle is in the limits: a 0 at the peak hour is far off its own centre
    values[24 * 4 + 6] = 0.0
    result = outcomes(series(values, metric="mean", dimension="temperature_c"))
    assert result[START + dt.timedelta(days=4, hours=6)].severity == "ERROR"


def test_a_proportion_is_charted_with_limits_that_depend_on_n():
    rng = np.random.default_rng(3)
    n = np.full(24 * 3, 600.0)
    events = rng.binomial(600, 0.003, n.size).astype(float)
    n[24 * 2 + 5] = 600.0
    events[24 * 2 + 5] = 90.0  # a 15 % error burst
    frame = series(events / n, metric="error_rate", n=n, events=events)
    result = outcomes(frame)
    burst = result[START + dt.timedelta(days=2, hours=5)]
    assert burst.severity == "ERROR"
    assert burst.metadata["beyond"][0]["chart"] == "error_rate"


def test_a_new_version_resets_the_limits():
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.normal(50, 2, 24 * 3), rng.normal(80, 2, 24 * 3)])
    versions = ["v1"] * 72 + ["v2"] * 72
    result = outcomes(series(values, versions=versions))
    first_v2 = START + dt.timedelta(days=3, hours=1)
    assert result[first_v2].passed is None and "of v2" in result[first_v2].description
    after = [result[START + dt.timedelta(days=5, hours=h)] for h in range(24)]
    assert all(o.judged for o in after)
    assert not [o for o in after if o.severity == "ERROR" and o.failed]
    # judged against v2's own level (80), where v1's limits would fail every hour
    v2 = next(
        c
        for c in build_charts(series(values, versions=versions), SETTINGS, "hourly")
        if c.version == "v2"
    )
    assert next(iter(v2.points.values()))[1] == pytest.approx(80, abs=1)


def test_cusum_signals_a_slow_ramp_long_before_the_three_sigma_chart():
    # a ramp of 0.24 sigma a day from day 2 (the end of the baseline window), 15 seeds
    leads, delays = [], []
    for seed in range(15):
        rng = np.random.default_rng(seed)
        hours = 24 * 10
        values = rng.normal(0, 1, hours)
        values[48:] += 0.01 * np.arange(hours - 48)
        frame = series(values, metric="mean", dimension="x")
        chart = outcomes(frame)
        cusum = outcomes(frame, judge=cusum_outcomes)
        last = max(chart)
        first_chart = min(
            (p for p, o in chart.items() if o.failed and o.severity == "ERROR"), default=last
        )
        first_cusum = min(p for p, o in cusum.items() if o.failed)
        leads.append((first_chart - first_cusum) / dt.timedelta(hours=1))
        delays.append((first_cusum - START) / dt.timedelta(hours=1) - 48)
    # CUSUM first in most runs (either can raise a false alarm early: ARL0 500 vs 370), and by
    # more than a day in the typical one
    assert sum(lead > 0 for lead in leads) >= 10, leads
    assert np.median(leads) > 24, leads
    assert np.median(delays) < 72, delays  # about 2 days after the ramp began (0.5 sigma)
    meta = cusum[first_cusum].metadata
    assert meta["h"] == pytest.approx(5.07, abs=0.01)  # arl0 500 for one chart, k 0.5
    assert meta["signals"][0]["direction"] == "above"
    assert cusum[first_cusum].description.startswith("CUSUM: mean of x shifted above")


def test_cusum_holds_after_a_signal_then_clears():
    values = np.zeros(24 * 6)
    rng = np.random.default_rng(6)
    values += rng.normal(0, 1, values.size)
    values[24 * 3 : 24 * 3 + 6] += 4.0  # a 6-hour shift
    cusum = outcomes(series(values, metric="mean", dimension="x"), judge=cusum_outcomes)
    fired = sorted(p for p, o in cusum.items() if o.failed)
    assert fired and fired[0] <= START + dt.timedelta(days=3, hours=3)
    last_signal_hold = START + dt.timedelta(days=3, hours=6 + 24)
    assert cusum[last_signal_hold + dt.timedelta(hours=2)].passed is True


def test_recomputing_one_period_gives_the_same_outcome():
    rng = np.random.default_rng(7)
    frame = series(rng.normal(0, 1, 24 * 4), metric="mean", dimension="x")
    whole = outcomes(frame, judge=cusum_outcomes)
    charts = build_charts(frame, SETTINGS, "hourly")
    one = START + dt.timedelta(days=3, hours=5)
    assert cusum_outcomes(charts, [one], SETTINGS)[one] == whole[one]
