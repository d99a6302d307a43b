"""Control-chart limits against hand-computed values, numpy and scipy; the edge cases."""

import dataclasses
import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from modelmon_dagster.stats.control_charts import (
    ABOVE,
    BELOW,
    CANNOT_JUDGE,
    D2_MOVING_RANGE,
    ERROR,
    GROUP,
    MAD,
    MOVING_RANGE,
    NO_TRIALS,
    OK,
    POOLED,
    READY,
    SAMPLE_STD,
    TOO_SHORT,
    WARN,
    ZERO_SIGMA,
    individuals_limits,
    judge_individual,
    judge_proportion,
    moving_range_sigma,
    p_chart_baseline,
    p_chart_limits,
    seasonal_individuals_limits,
)

# Baseline used for hand computations: mean 12, median 12.
#   moving ranges |12-10|, |11-12|, |13-11|, |14-13| = 2, 1, 2, 1 -> MR-bar 1.5,
#   sigma = 1.5 / 1.128 = 1.3297872...
#   sample std: deviations -2, 0, -1, 1, 2 -> sum of squares 10 -> var 10 / 4 = 2.5 -> 1.5811388
#   MAD: |x - 12| = 2, 0, 1, 1, 2 -> median 1 -> sigma 1.4826
HAND = [10.0, 12.0, 11.0, 13.0, 14.0]
HAND_MR_SIGMA = 1.5 / 1.128


# ------------------------------------------------------------------ individuals limits


def test_moving_range_limits_hand_computed():
    limits = individuals_limits(HAND, min_points=5)
    assert limits.state == READY and limits.reason is None
    assert limits.centre == pytest.approx(12.0, rel=1e-15)
    assert limits.sigma == pytest.approx(1.3297872340425532, rel=1e-12)
    # 12 -/+ 3 * 1.3297872 = 8.0106383 / 15.9893617; 12 -/+ 2 * 1.3297872 = 9.3404255 / 14.6595745
    assert limits.lower_error == pytest.approx(8.0106382979, rel=1e-10)
    assert limits.upper_error == pytest.approx(15.9893617021, rel=1e-10)
    assert limits.lower_warn == pytest.approx(9.3404255319, rel=1e-10)
    assert limits.upper_warn == pytest.approx(14.6595744681, rel=1e-10)
    assert (limits.sigma_method, limits.centre_method) == (MOVING_RANGE, "mean")
    assert (limits.n_baseline, limits.scope, limits.group) == (5, "baseline", None)


def test_sample_std_and_mad_limits_hand_computed():
    std = individuals_limits(HAND, sigma_method=SAMPLE_STD, min_points=5)
    assert std.sigma == pytest.approx(math.sqrt(2.5), rel=1e-14)
    assert std.upper_error == pytest.approx(12 + 3 * 1.5811388300841898, rel=1e-12)
    mad = individuals_limits(HAND, sigma_method=MAD, min_points=5)
    assert (mad.centre, mad.centre_method) == (12.0, "median")
    assert mad.sigma == pytest.approx(1.4826, rel=1e-5)
    assert mad.lower_warn == pytest.approx(12 - 2 * 1.4826, rel=1e-5)


def test_custom_multipliers():
    limits = individuals_limits(HAND, min_points=5, warn_sigmas=1.5, error_sigmas=2.5)
    assert limits.upper_warn == pytest.approx(12 + 1.5 * HAND_MR_SIGMA)
    assert limits.upper_error == pytest.approx(12 + 2.5 * HAND_MR_SIGMA)
    judged = judge_individual(12 + 2.6 * HAND_MR_SIGMA, limits)
    assert (judged.zone, judged.rule) == (ERROR, "beyond 2.5 sigma above")
    for warn, error in ((3.0, 2.0), (0.0, 3.0), (2.0, math.inf)):
        with pytest.raises(ValueError, match="warn_sigmas"):
            individuals_limits(HAND, min_points=5, warn_sigmas=warn, error_sigmas=error)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_moving_range_sigma_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(50.0, 4.0, 500)
    expected = np.mean(np.abs(np.diff(x))) / 1.128
    assert moving_range_sigma(x) == pytest.approx(expected, rel=1e-12)
    assert individuals_limits(x).sigma == pytest.approx(expected, rel=1e-12)
    assert individuals_limits(x).centre == pytest.approx(np.mean(x), rel=1e-12)


def test_moving_range_estimates_sigma_of_normal_data():
    # MR-bar / d2 is unbiased for sigma on independent normal data (up to the table's rounding
    # of d2); 200 000 points with sigma 4: standard error well under 0.5 %.
    x = np.random.default_rng(3).normal(0.0, 4.0, 200_000)
    assert moving_range_sigma(x) == pytest.approx(4.0, rel=0.01)


def test_d2_is_the_expected_range_of_two_normals():
    # d2 (n = 2) = E[max - min of two standard normals] = int 1 - Phi^2 - (1 - Phi)^2 dx, by scipy
    # quadrature; the code uses the 3-decimal table value 1.128 (exact 2 / sqrt(pi) = 1.12838).
    expected_range, _ = integrate.quad(
        lambda x: 1 - sps.norm.cdf(x) ** 2 - sps.norm.sf(x) ** 2, -np.inf, np.inf
    )
    assert expected_range == pytest.approx(2 / math.sqrt(math.pi), rel=1e-9)
    assert D2_MOVING_RANGE == pytest.approx(expected_range, abs=5e-4)


def test_moving_range_is_broken_by_a_missing_value():
    # [1, 2, nan, 10, 11]: ranges |2 - 1| = 1 and |11 - 10| = 1; the 8 between 2 and 10 spans a
    # gap and is not a moving range. sigma = 1 / 1.128.
    assert moving_range_sigma([1.0, 2.0, math.nan, 10.0, 11.0]) == pytest.approx(1 / 1.128)
    limits = individuals_limits([1.0, 2.0, math.nan, 10.0, 11.0], min_points=4)
    assert (limits.n_baseline, limits.centre) == (4, 6.0)
    isolated = individuals_limits([1.0, math.nan, 2.0, math.nan, 3.0], min_points=3)
    assert isolated.state == TOO_SHORT
    assert "no two adjacent finite values" in isolated.reason
    assert math.isnan(moving_range_sigma([5.0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("size", [25, 101, 2_000])
def test_mad_sigma_matches_scipy(seed, size):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, size) * 2.0 + 7.0
    limits = individuals_limits(x, sigma_method=MAD)
    assert limits.sigma == pytest.approx(sps.median_abs_deviation(x, scale="normal"), rel=1e-12)
    assert limits.centre == pytest.approx(np.median(x), rel=1e-14)


def test_sample_std_matches_numpy():
    x = np.random.default_rng(4).gamma(2.0, 3.0, 300)
    limits = individuals_limits(x, sigma_method=SAMPLE_STD)
    assert limits.sigma == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert limits.centre == pytest.approx(np.mean(x), rel=1e-12)


def test_mad_resists_an_outlier_in_the_baseline():
    # One baseline point at +50 sigma: the sample std balloons, the MAD barely moves.
    x = np.random.default_rng(6).normal(0.0, 1.0, 100)
    x[40] = 50.0
    assert individuals_limits(x, sigma_method=SAMPLE_STD).sigma > 4.0
    assert individuals_limits(x, sigma_method=MAD).sigma == pytest.approx(1.0, abs=0.25)


# ------------------------------------------------------------------ judging a point


@pytest.mark.parametrize(
    ("value", "zone", "rule", "direction"),
    [
        (12.0, OK, None, None),
        (14.0, OK, None, ABOVE),  # z = 2 / 1.3298 = 1.50
        (15.0, WARN, "beyond 2 sigma above", ABOVE),  # 15 > 14.6596
        (16.5, ERROR, "beyond 3 sigma above", ABOVE),  # 16.5 > 15.9894
        (9.0, WARN, "beyond 2 sigma below", BELOW),  # 9 < 9.3404
        (8.0, ERROR, "beyond 3 sigma below", BELOW),  # 8 < 8.0106
    ],
)
def test_judge_individual_zones(value, zone, rule, direction):
    judged = judge_individual(value, individuals_limits(HAND, min_points=5))
    assert (judged.zone, judged.rule, judged.direction, judged.reason) == (
        zone,
        rule,
        direction,
        None,
    )
    assert judged.z_score == pytest.approx((value - 12.0) / HAND_MR_SIGMA, rel=1e-12)
    assert (judged.value, judged.centre) == (value, 12.0)
    assert judged.sigma == pytest.approx(HAND_MR_SIGMA)
    assert judged.trials is None


def test_a_point_on_a_limit_is_not_beyond_it():
    limits = individuals_limits(HAND, min_points=5)
    assert judge_individual(limits.upper_error, limits).zone == WARN
    assert judge_individual(limits.upper_warn, limits).zone == OK
    assert judge_individual(limits.lower_error, limits).zone == WARN
    assert judge_individual(np.nextafter(limits.upper_error, math.inf), limits).zone == ERROR


def test_judgement_is_frozen():
    judged = judge_individual(15.0, individuals_limits(HAND, min_points=5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        judged.zone = OK
    with pytest.raises(dataclasses.FrozenInstanceError):
        individuals_limits(HAND, min_points=5).sigma = 1.0


# ------------------------------------------------------------------ edge cases


@pytest.mark.parametrize(
    ("baseline", "n"),
    [([], 0), ([math.nan] * 30, 0), ([1.0, 2.0, 3.0, 4.0, 5.0], 5), ([1.0, math.nan] * 12, 12)],
)
def test_too_short_baseline_cannot_judge(baseline, n):
    limits = individuals_limits(baseline)
    assert limits.state == TOO_SHORT
    assert limits.reason == f"cannot judge: baseline has {n} points, need 20"
    assert math.isnan(limits.centre) and math.isnan(limits.sigma)
    assert math.isnan(limits.upper_error)
    judged = judge_individual(100.0, limits)
    assert judged.zone == CANNOT_JUDGE
    assert judged.reason == limits.reason
    assert judged.rule is None and math.isnan(judged.z_score)


@pytest.mark.parametrize("sigma_method", [MOVING_RANGE, SAMPLE_STD, MAD])
def test_constant_baseline_is_zero_sigma_not_a_tiny_sigma(sigma_method):
    # np.std([0.1] * 30, ddof=1) is 2.8e-17, not 0: without the constancy check a sample-std
    # chart would call 0.1000001 a 3.5e9-sigma event.
    limits = individuals_limits([0.1] * 30, sigma_method=sigma_method)
    assert limits.state == ZERO_SIGMA
    assert (limits.centre, limits.sigma) == (0.1, 0.0)
    assert limits.upper_error == limits.lower_error == 0.1
    assert limits.reason == "cannot judge: baseline is constant (0.1), so sigma is 0"
    same = judge_individual(0.1, limits)
    assert same.zone == CANNOT_JUDGE and same.reason.endswith("; the value equals the centre")
    higher = judge_individual(0.2, limits)
    assert higher.zone == CANNOT_JUDGE
    assert higher.reason.endswith("; the value 0.2 is above the centre 0.1")
    assert higher.direction == ABOVE and math.isnan(higher.z_score)


def test_mad_zero_on_a_mostly_constant_baseline():
    # 15 zeros and 5 other values: the median is 0 and so is the MAD; the moving range is not.
    baseline = [0.0] * 15 + [1.0, 2.0, 3.0, 4.0, 5.0]
    mad = individuals_limits(baseline, sigma_method=MAD)
    assert mad.state == ZERO_SIGMA and "MAD is 0" in mad.reason
    assert judge_individual(3.0, mad).zone == CANNOT_JUDGE
    # ranges: 14 zeros, |1 - 0| = 1, then 1, 1, 1, 1 -> 5 / 19 / 1.128
    assert individuals_limits(baseline).sigma == pytest.approx(5 / 19 / 1.128)


def test_nan_and_infinite_values():
    limits = individuals_limits(HAND, min_points=5)
    judged = judge_individual(math.nan, limits)
    assert (judged.zone, judged.reason) == (CANNOT_JUDGE, "cannot judge: value is NaN (missing)")
    assert judged.direction is None
    with pytest.raises(ValueError, match="finite"):
        judge_individual(math.inf, limits)
    with pytest.raises(ValueError, match="infinite"):
        individuals_limits([1.0, math.inf] * 20)
    with_gaps = individuals_limits(HAND + [math.nan], min_points=5)
    assert (with_gaps.n_baseline, with_gaps.centre) == (5, 12.0)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="sigma_method"):
        individuals_limits(HAND, sigma_method="range")
    with pytest.raises(ValueError, match="min_points"):
        individuals_limits(HAND, min_points=1)
    with pytest.raises(ValueError, match="1-D"):
        individuals_limits([[1.0, 2.0]])


# ------------------------------------------------------------------ p-chart


def p_baseline_2_percent():
    # events 2 + 3 + 5 = 10 in 100 + 100 + 300 = 500 trials: p_bar = 0.02. A missing period
    # (NaN) and an empty one (n = 0) are skipped.
    return p_chart_baseline([2, 3, math.nan, 0, 5], [100, 100, 50, 0, 300], min_points=3)


def test_p_chart_baseline_hand_computed():
    baseline = p_baseline_2_percent()
    assert baseline.state == READY
    assert baseline.p_bar == pytest.approx(0.02, rel=1e-15)
    assert (baseline.events, baseline.trials, baseline.n_periods) == (10.0, 500.0, 3)


@pytest.mark.parametrize(
    ("n", "sigma", "lower_error", "lower_warn", "upper_warn", "upper_error"),
    [
        # sqrt(.02 * .98 / 100) = .014: .02 -/+ .042 -> (0, .062) clipped; -/+ .028 -> (0, .048)
        (100, 0.014, 0.0, 0.0, 0.048, 0.062),
        # sqrt(.0196 / 400) = .007: .02 -/+ .021 -> (0, .041); -/+ .014 -> (.006, .034)
        (400, 0.007, 0.0, 0.006, 0.034, 0.041),
        # sqrt(.0196 / 10 000) = .0014: -/+ .0042 -> (.0158, .0242); -/+ .0028 -> (.0172, .0228)
        (10_000, 0.0014, 0.0158, 0.0172, 0.0228, 0.0242),
    ],
)
def test_p_chart_limits_depend_on_n(n, sigma, lower_error, lower_warn, upper_warn, upper_error):
    limits = p_chart_limits(p_baseline_2_percent(), n)
    assert limits.state == READY and limits.trials == n
    # oracle for sigma: the standard deviation of Binomial(n, p) / n
    assert limits.sigma == pytest.approx(sps.binom(n, 0.02).std() / n, rel=1e-12)
    assert limits.sigma == pytest.approx(sigma, rel=1e-12)
    got = (limits.lower_error, limits.lower_warn, limits.upper_warn, limits.upper_error)
    assert got == pytest.approx((lower_error, lower_warn, upper_warn, upper_error), abs=1e-12)
    assert (limits.lower_bound, limits.upper_bound) == (0.0, 1.0)


def test_same_proportion_judged_differently_at_different_n():
    baseline = p_baseline_2_percent()
    # 5 % of 100 is above the WARN limit .048 but below the ERROR limit .062;
    # 5 % of 400 is above the ERROR limit .041.
    small = judge_proportion(5, 100, baseline)
    assert (small.zone, small.rule, small.trials) == (WARN, "beyond 2 sigma above", 100.0)
    assert small.z_score == pytest.approx((0.05 - 0.02) / 0.014, rel=1e-12)
    large = judge_proportion(20, 400, baseline)
    assert (large.zone, large.rule) == (ERROR, "beyond 3 sigma above")
    assert large.z_score == pytest.approx((0.05 - 0.02) / 0.007, rel=1e-12)
    assert judge_proportion(0, 100, baseline).zone == OK  # lower limits clipped at 0
    assert judge_proportion(150, 10_000, baseline).rule == "beyond 3 sigma below"


def test_p_chart_limits_clipped_at_one():
    # p_bar = .9; n = 4: sigma = sqrt(.9 * .1 / 4) = .15, .9 + .3 = 1.2 and .9 + .45 = 1.35 both
    # clip to 1, so 4 of 4 is not beyond them.
    baseline = p_chart_baseline([9] * 20, [10] * 20)
    limits = p_chart_limits(baseline, 4)
    assert limits.sigma == pytest.approx(0.15)
    assert limits.upper_warn == limits.upper_error == 1.0
    assert limits.lower_error == pytest.approx(0.45)
    judged = judge_proportion(4, 4, baseline)
    assert judged.zone == OK and judged.z_score == pytest.approx(0.1 / 0.15)


def test_p_chart_period_without_trials_cannot_be_judged():
    limits = p_chart_limits(p_baseline_2_percent(), 0)
    assert limits.state == NO_TRIALS and math.isnan(limits.sigma)
    judged = judge_proportion(0, 0, p_baseline_2_percent())
    assert judged.zone == CANNOT_JUDGE
    assert (
        judged.reason == "cannot judge: the period has no trials (n = 0), so there is no proportion"
    )
    assert math.isnan(judged.value)


@pytest.mark.parametrize(
    ("event", "p_bar", "what"), [(0, 0.0, "no events"), (1, 1.0, "only events")]
)
def test_p_chart_degenerate_baseline_proportion(event, p_bar, what):
    baseline = p_chart_baseline([100 * event] * 20, [100] * 20)
    assert baseline.state == ZERO_SIGMA and baseline.p_bar == p_bar
    assert baseline.reason == (
        f"cannot judge: baseline proportion is {p_bar:g} ({what} in 2000 trials), "
        "so the binomial sigma is 0"
    )
    limits = p_chart_limits(baseline, 1_000)
    assert (limits.state, limits.sigma, limits.upper_error) == (ZERO_SIGMA, 0.0, p_bar)
    departs = judge_proportion(500, 1_000, baseline)
    assert departs.zone == CANNOT_JUDGE and math.isnan(departs.z_score)
    direction = BELOW if p_bar == 1.0 else ABOVE
    assert departs.reason.endswith(f"; the value 0.5 is {direction} the centre {p_bar:g}")
    same = judge_proportion(1_000 * event, 1_000, baseline)
    assert same.reason.endswith("; the value equals the centre")


def test_p_chart_short_baseline_and_bad_counts():
    short = p_chart_baseline([1, 0, 3], [100, 0, 100])
    assert short.state == TOO_SHORT and math.isnan(short.p_bar)
    assert short.reason == "cannot judge: baseline has 2 periods with trials, need 20"
    judged = judge_proportion(1, 100, short)
    assert (judged.zone, judged.reason) == (CANNOT_JUDGE, short.reason)
    with pytest.raises(ValueError, match="exceed"):
        p_chart_baseline([5, 1], [4, 10], min_points=2)
    with pytest.raises(ValueError, match="non-negative"):
        p_chart_baseline([-1, 1], [4, 10], min_points=2)
    with pytest.raises(ValueError, match="events <= trials"):
        judge_proportion(11, 10, p_baseline_2_percent())
    with pytest.raises(ValueError, match="differ in length"):
        p_chart_baseline([1, 2], [10], min_points=2)


# ------------------------------------------------------------------ seasonal limits


def test_seasonal_limits_with_fallback_hand_computed():
    # Interleaved in time: day 10, night 2, day 12, night 3, day 11, day 13, day 14.
    # "day" has the HAND values (centre 12, sigma 1.5 / 1.128). "night" has 2 points < 5, so it
    # falls back to the pooled limits over all 7 values in order:
    #   mean 65 / 7 = 9.2857143; ranges 8, 10, 9, 8, 2, 1 -> 38 / 6 = 6.3333 -> sigma 5.6146572
    values = [10.0, 2.0, 12.0, 3.0, 11.0, 13.0, 14.0]
    groups = ["day", "night", "day", "night", "day", "day", "day"]
    seasonal = seasonal_individuals_limits(values, groups, min_points=5, min_group_points=5)
    day = seasonal.for_group("day")
    assert (day.scope, day.group, day.fallback_reason) == (GROUP, "day", None)
    assert day.centre == pytest.approx(12.0)
    assert day.sigma == pytest.approx(HAND_MR_SIGMA)
    night = seasonal.for_group("night")
    assert (night.scope, night.group) == (POOLED, "night")
    assert night.fallback_reason == "group 'night' has 2 baseline points, need 5"
    assert night.centre == pytest.approx(65 / 7)
    assert night.sigma == pytest.approx(38 / 6 / 1.128)
    assert seasonal.pooled.scope == "baseline" and seasonal.pooled.n_baseline == 7
    unseen = seasonal.for_group("dawn")
    assert (unseen.scope, unseen.sigma) == (POOLED, night.sigma)
    assert unseen.fallback_reason == "group 'dawn' has no baseline points, need 5"
    judged = judge_individual(15.0, day)
    assert (judged.zone, judged.scope, judged.group) == (WARN, GROUP, "day")
    with pytest.raises(TypeError):
        seasonal.by_group["day"] = night  # read-only mapping


def test_hour_of_day_limits_follow_the_daily_cycle():
    # 14 days of an hourly metric with a daily cycle of amplitude 4 and noise sd 1 (peak 24 at
    # 15:00, trough 16 at 03:00). Pooled limits are wrong both ways: their centre is the daily
    # mean 20 and their moving-range sigma (consecutive hours) is about 1.3, so the ordinary
    # afternoon peak is an ERROR while the daily mean at 03:00, 4 sigma above that hour's
    # normal, passes. Limits per hour of day get both right.
    rng = np.random.default_rng(24)
    hours = np.tile(np.arange(24), 14)
    cycle = 4.0 * np.sin(2 * np.pi * (hours - 9) / 24)
    values = 20.0 + cycle + rng.normal(0.0, 1.0, hours.size)
    seasonal = seasonal_individuals_limits(values, hours)
    assert all(seasonal.for_group(h).scope == GROUP for h in range(24))
    assert seasonal.for_group(15).centre == pytest.approx(24.0, abs=0.6)
    assert seasonal.for_group(3).centre == pytest.approx(16.0, abs=0.6)
    assert seasonal.pooled.centre == pytest.approx(20.0, abs=0.2)
    assert seasonal.pooled.sigma == pytest.approx(1.3, abs=0.2)

    assert judge_individual(24.0, seasonal.for_group(15)).zone == OK
    assert judge_individual(24.0, seasonal.pooled).zone == ERROR  # a false alarm every afternoon
    at_night = judge_individual(20.0, seasonal.for_group(3))
    assert (at_night.zone, at_night.rule) == (ERROR, "beyond 3 sigma above")
    assert judge_individual(20.0, seasonal.pooled).zone == OK  # a missed anomaly


def test_seasonal_group_with_enough_points_but_constant_keeps_its_own_state():
    # Hour 0 is always 0 (e.g. a nightly maintenance window); hour 1 varies.
    values = [0.0, 5.0, 0.0, 6.0, 0.0, 7.0, 0.0, 5.5, 0.0, 6.5] * 2
    groups = [0, 1] * 10
    seasonal = seasonal_individuals_limits(values, groups, min_points=10, min_group_points=10)
    zero = seasonal.for_group(0)
    assert (zero.scope, zero.state) == (GROUP, ZERO_SIGMA)
    assert judge_individual(3.0, zero).reason.endswith("; the value 3 is above the centre 0")
    assert seasonal.for_group(1).state == READY


def test_seasonal_empty_and_mismatched_input():
    empty = seasonal_individuals_limits([], [])
    assert empty.pooled.state == TOO_SHORT and len(empty.by_group) == 0
    judged = judge_individual(1.0, empty.for_group(7))
    assert judged.zone == CANNOT_JUDGE
    assert judged.reason == "cannot judge: baseline has 0 points, need 20"
    with pytest.raises(ValueError, match="one key per baseline value"):
        seasonal_individuals_limits([1.0, 2.0], [0])


# -- cyclic limits: a centre per cycle position, sigma pooled within positions -----------------


def test_cyclic_limits_follow_a_cycle_with_two_days_of_hours():
    from modelmon_dagster.stats.control_charts import cyclic_individuals_limits

    # two days of hourly values on a daily cycle of amplitude 10, noise +-1 (hand-computable:
    # each hour's two values are cycle +1 and cycle -1)
    hours = np.tile(np.arange(24), 2)
    cycle = 10 * np.sin(2 * np.pi * hours / 24)
    noise = np.where(np.arange(48) < 24, 1.0, -1.0)
    limits = cyclic_individuals_limits(cycle + noise, hours, min_points=20)
    six = limits.for_group(6)  # sin(pi/2) = 1: centre 10
    assert six.scope == "group" and six.centre == pytest.approx(10.0)
    # residuals are +-1: within-hour SS = 48, dof = 48 - 24 = 24, sigma = sqrt(2) * sqrt(1.5)
    assert six.sigma == pytest.approx(math.sqrt(2.0) * math.sqrt(1.5))
    assert six.upper_error == pytest.approx(10.0 + 3 * math.sqrt(3.0))
    # the afternoon trough is normal for 18:00 (no alarm), 0 at 06:00 is far below its centre
    assert judge_individual(-10.5, limits.for_group(18)).zone == "ok"
    assert judge_individual(0.0, six).zone == "error"
    # the pooled chart would call the trough an error: that is what the cycle avoids
    pooled = individuals_limits(cycle + noise, min_points=20)
    assert judge_individual(-10.5, pooled).zone == "error"


def test_cyclic_limits_fall_back_without_a_cycle():
    from modelmon_dagster.stats.control_charts import cyclic_individuals_limits

    rng = np.random.default_rng(4)
    hours = np.tile(np.arange(24), 2)
    values = rng.normal(50, 2, 48)
    p_value = sps.f_oneway(*[values[hours == h] for h in range(24)]).pvalue
    assert p_value > 1e-3  # the oracle agrees there is no cycle
    limits = cyclic_individuals_limits(values, hours, min_points=20)
    assert limits.for_group(3).scope == "pooled"
    assert "no cycle" in limits.for_group(3).fallback_reason
    assert limits.for_group(3).centre == pytest.approx(values.mean())


def test_cyclic_limits_too_short_cannot_judge():
    from modelmon_dagster.stats.control_charts import cyclic_individuals_limits

    limits = cyclic_individuals_limits([1.0, 2.0, 3.0], [0, 1, 2], min_points=20)
    assert judge_individual(5.0, limits.for_group(0)).zone == "cannot_judge"
