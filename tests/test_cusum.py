"""Tabular CUSUM against hand-computed paths; its ARL against Montgomery's table, an independent
integral-equation solution and simulation."""

import dataclasses
import math
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats as sps

from modelmon_dagster.stats.cusum import (
    ABOVE,
    BELOW,
    CusumARL,
    cusum_arl,
    decision_interval_for_arl0,
    tabular_cusum,
)

# Montgomery, Introduction to Statistical Quality Control, Table 9.3: ARL of the two-sided
# tabular CUSUM with k = 0.5, for a mean shift in sigma units. Strings keep the printed precision.
MONTGOMERY_TABLE_9_3 = {
    4.0: {
        0.0: "168",
        0.25: "74.2",
        0.5: "26.6",
        0.75: "13.3",
        1.0: "8.38",
        1.5: "4.75",
        2.0: "3.34",
        2.5: "2.62",
        3.0: "2.19",
        4.0: "1.71",
    },
    5.0: {
        0.0: "465",
        0.25: "139",
        0.5: "38.0",
        0.75: "17.0",
        1.0: "10.4",
        1.5: "5.75",
        2.0: "4.01",
        2.5: "3.11",
        3.0: "2.57",
        4.0: "2.01",
    },
}
TABLE_ENTRIES = [(h, d, v) for h, row in MONTGOMERY_TABLE_9_3.items() for d, v in row.items()]


def integral_equation_arl(k, h, shift, nodes=64):
    """Upper one-sided ARL from the integral equation, by Gauss-Legendre Nystrom quadrature.

    L(u) = 1 + L(0) Phi(k - u - shift) + int_0^h L(y) phi(y + k - u - shift) dy, solved at the
    nodes and at u = 0 (Goel and Wu 1971; Knoth 2006). A method independent of Brook-Evans whose
    error falls exponentially with the number of nodes.
    """
    x, w = np.polynomial.legendre.leggauss(nodes)
    y, w = h * (x + 1) / 2, w * h / 2
    u = np.concatenate([[0.0], y])
    kernel = np.empty((nodes + 1, nodes + 1))
    kernel[:, 0] = sps.norm.cdf(k - u - shift)
    kernel[:, 1:] = w[None, :] * sps.norm.pdf(y[None, :] + k - u[:, None] - shift)
    return np.linalg.solve(np.eye(nodes + 1) - kernel, np.ones(nodes + 1))[0]


def simulated_run_lengths(k, h, shift, n_runs, rng, two_sided=True):
    """Run lengths of n_runs independent CUSUMs started at 0 on N(shift, 1) data (vectorised)."""
    c_up = np.zeros(n_runs)
    c_down = np.zeros(n_runs)
    run_length = np.zeros(n_runs, dtype=np.int64)
    active = np.arange(n_runs)
    t = 0
    while active.size:
        t += 1
        z = rng.standard_normal(active.size) + shift
        c_up[active] = np.maximum(0.0, c_up[active] + z - k)
        c_down[active] = np.maximum(0.0, c_down[active] - z - k)
        signal = c_up[active] > h
        if two_sided:
            signal |= c_down[active] > h
        run_length[active[signal]] = t
        active = active[~signal]
    return run_length


# ------------------------------------------------------------------ tabular CUSUM paths


def test_paths_hand_computed():
    # k = 0.5, h = 2.
    # z = 0.0, 1.0, 2.0, -1.0, -2.0, -1.5
    # C+ = max(0, C+ + z - .5):
    #   t0: 0 + 0 - .5 -> 0       t1: 0 + 1 - .5 = .5     t2: .5 + 2 - .5 = 2.0 (not > 2)
    #   t3: 2 - 1 - .5 = .5       t4: .5 - 2 - .5 -> 0    t5: 0 - 1.5 - .5 -> 0
    # C- = max(0, C- - z - .5):
    #   t0: 0 - 0 - .5 -> 0       t1: 0 - 1 - .5 -> 0     t2: -> 0
    #   t3: 0 + 1 - .5 = .5       t4: .5 + 2 - .5 = 2.0   t5: 2 + 1.5 - .5 = 3.0 > 2: signal below
    result = tabular_cusum([0.0, 1.0, 2.0, -1.0, -2.0, -1.5], k=0.5, h=2.0)
    assert result.upper == pytest.approx([0.0, 0.5, 2.0, 0.5, 0.0, 0.0], abs=1e-15)
    assert result.lower == pytest.approx([0.0, 0.0, 0.0, 0.5, 2.0, 3.0], abs=1e-15)
    assert result.signal_indices == (5,)
    assert result.signal_directions == (BELOW,)
    assert (result.k, result.h, result.n_missing) == (0.5, 2.0, 0)


def test_statistic_resets_after_a_signal_so_a_persisting_shift_signals_again():
    # z = 1.5 throughout, k = 0.5, h = 2: C+ grows by 1 a step: 1, 2, 3 > 2 -> signal at t = 2,
    # restart at 0: 1, 2, 3 -> signal at t = 5, then t = 8. Without the reset C+ would stay above
    # h and there would be one signal per step from t = 2 on.
    result = tabular_cusum(np.full(9, 1.5), k=0.5, h=2.0)
    assert result.signal_indices == (2, 5, 8)
    assert result.signal_directions == (ABOVE, ABOVE, ABOVE)
    assert result.upper == pytest.approx([1, 2, 3, 1, 2, 3, 1, 2, 3])
    assert result.lower == (0.0,) * 9


def test_the_other_side_is_zero_at_every_signal():
    # While both sides are positive their sum falls by 2k a step and starts at most h - 2k, so a
    # side can only exceed h while the other is 0: resetting both at a signal is the same as
    # resetting the one that fired, and the two never signal together.
    rng = np.random.default_rng(5)
    z = rng.standard_normal(20_000) * 1.5
    result = tabular_cusum(z, k=0.5, h=3.0)
    assert len(result.signal_indices) > 100
    both_positive = (np.array(result.upper) > 0) & (np.array(result.lower) > 0)
    assert both_positive.any()  # the case exists (h > 2k) ...
    for t, direction in zip(result.signal_indices, result.signal_directions, strict=True):
        other = result.lower[t] if direction == ABOVE else result.upper[t]
        assert other == 0.0  # ... but never at a signal
    assert set(result.signal_directions) == {ABOVE, BELOW}


def test_nan_points_are_skipped_and_the_statistic_carried():
    # Rule: a NaN point adds nothing and erases nothing; both statistics carry over.
    # z = 1.5, nan, 1.5, 1.5 with k = .5, h = 2: C+ = 1, 1 (carried), 2, 3 -> signal at t = 3.
    result = tabular_cusum([1.5, math.nan, 1.5, 1.5], k=0.5, h=2.0)
    assert result.upper == pytest.approx([1.0, 1.0, 2.0, 3.0])
    assert result.signal_indices == (3,)
    assert result.n_missing == 1
    # The same series without the gap signals one step earlier and otherwise identically.
    assert tabular_cusum([1.5, 1.5, 1.5], k=0.5, h=2.0).signal_indices == (2,)
    # A NaN right after a signal keeps the reset (statistic 0), it does not restore the old value.
    after = tabular_cusum([1.5, 1.5, 1.5, math.nan, 1.5], k=0.5, h=2.0)
    assert after.upper == pytest.approx([1.0, 2.0, 3.0, 0.0, 1.0])


def test_empty_and_invalid_input():
    empty = tabular_cusum([], k=0.5, h=4.0)
    assert (empty.upper, empty.lower, empty.signal_indices) == ((), (), ())
    with pytest.raises(ValueError, match="infinite"):
        tabular_cusum([0.0, math.inf])
    with pytest.raises(ValueError, match="h must be > 0"):
        tabular_cusum([0.0], h=0.0)
    with pytest.raises(ValueError, match="k must be"):
        tabular_cusum([0.0], k=-0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        empty.h = 3.0


def test_path_is_a_function_of_the_series_prefix():
    # Recomputing the series up to any partition gives the values the full run gave there: the
    # statistic is idempotent per partition and does not depend on later data.
    rng = np.random.default_rng(8)
    z = rng.standard_normal(600) + np.r_[np.zeros(300), np.full(300, 0.8)]
    z[rng.integers(0, 600, 20)] = np.nan
    full = tabular_cusum(z, k=0.5, h=4.0)
    assert len(full.signal_indices) >= 3  # the shifted half signals repeatedly
    for end in (1, 57, 299, 300, 301, 450, 600):
        prefix = tabular_cusum(z[:end], k=0.5, h=4.0)
        assert prefix.upper == full.upper[:end]
        assert prefix.lower == full.lower[:end]
        assert prefix.signal_indices == tuple(i for i in full.signal_indices if i < end)
    again = tabular_cusum(z, k=0.5, h=4.0)
    assert again == full


def test_signals_of_a_long_shifted_series_arrive_every_arl_points():
    # With the reset, the gaps between signals are independent run lengths, so on N(1, 1) data
    # their mean is the two-sided ARL(1) of (k, h) = (0.5, 4): 8.38 (Montgomery; 8.383 here).
    # 100 000 points give about 12 000 runs; standard error about 0.5 %.
    rng = np.random.default_rng(31)
    result = tabular_cusum(rng.standard_normal(100_000) + 1.0, k=0.5, h=4.0)
    gaps = np.diff(np.r_[-1, result.signal_indices])
    assert gaps.mean() == pytest.approx(8.38, rel=0.02)
    assert set(result.signal_directions) == {ABOVE}


# ------------------------------------------------------------------ CUSUM versus Shewhart on a ramp


def test_deterministic_ramp_inside_3_sigma_is_signalled_by_cusum_only():
    # z_t = 0.02 t for t = 0..149 never reaches 3 (max 2.98): a 3-sigma Shewhart chart never
    # fires. CUSUM (k = .5, h = 5): z_t - k <= 0 up to t = 25, then C+_t = sum_{s=26}^{t}
    # 0.02 (s - 25) = 0.01 m (m + 1) with m = t - 25; first > 5 at m = 22 (22 * 23 = 506), i.e.
    # t = 47, C+ = 5.06, when the mean has moved only 0.94 sigma.
    z = 0.02 * np.arange(150)
    assert np.abs(z).max() < 3.0
    result = tabular_cusum(z, k=0.5, h=5.0)
    assert result.signal_indices[0] == 47
    assert result.upper[47] == pytest.approx(5.06)
    assert result.upper[46] == pytest.approx(4.62)
    assert result.signal_directions[0] == ABOVE


def test_noisy_slow_ramp_cusum_signals_days_before_a_3_sigma_chart():
    # An hourly metric whose mean creeps up 0.005 sigma an hour (0.12 sigma a day) for 500 hours,
    # ending at 2.5 sigma, inside the 3-sigma limits; N(0, 1) noise; 300 seeded series.
    # CUSUM (k = .5, h = 5; ARL0 465 h) against a two-sided 3-sigma individuals chart (ARL0 370 h,
    # so the CUSUM has the fewer false alarms). Measured with this seed: median first signal
    # CUSUM 86.5 h (mean then 0.43 sigma), Shewhart 138.5 h (0.69 sigma): about two days
    # earlier, and CUSUM first in 71 % of series.
    rng = np.random.default_rng(20261127)
    hours = 500
    mean = 0.005 * np.arange(hours)
    first_cusum, first_shewhart = [], []
    for _ in range(300):
        z = mean + rng.standard_normal(hours)
        signals = tabular_cusum(z, k=0.5, h=5.0).signal_indices
        first_cusum.append(signals[0] if signals else hours)
        beyond = np.flatnonzero(np.abs(z) > 3.0)
        first_shewhart.append(beyond[0] if beyond.size else hours)
    first_cusum, first_shewhart = np.array(first_cusum), np.array(first_shewhart)
    assert np.median(first_shewhart) - np.median(first_cusum) > 36  # hours
    assert np.mean(first_cusum < first_shewhart) > 0.6
    assert np.median(first_cusum) == pytest.approx(86.5, abs=1e-9)
    assert np.median(first_shewhart) == pytest.approx(138.5, abs=1e-9)


# ------------------------------------------------------------------ ARL


@pytest.mark.parametrize(("h", "shift", "published"), TABLE_ENTRIES)
def test_arl_matches_montgomery_table_9_3(h, shift, published):
    # All 20 entries of Table 9.3 (k = 0.5; h = 4 and 5; shifts 0 to 4 sigma). Tolerance: our
    # value rounds to the printed one, i.e. within half a unit of its last digit (at most 0.36 %,
    # for "139"), and within 1 % as the brief asks.
    ours = cusum_arl(0.5, h, shift).two_sided
    half_unit = float(Decimal(1).scaleb(Decimal(published).as_tuple().exponent)) / 2
    assert abs(ours - float(published)) <= half_unit
    assert ours == pytest.approx(float(published), rel=0.01)


def test_one_sided_and_two_sided_relation():
    arl = cusum_arl(0.5, 4.0, 1.0)
    assert isinstance(arl, CusumARL)
    assert 1 / arl.two_sided == pytest.approx(1 / arl.upper + 1 / arl.lower, rel=1e-12)
    # The lower side at +1 sigma is the upper side at -1 sigma.
    assert arl.lower == pytest.approx(cusum_arl(0.5, 4.0, -1.0).upper, rel=1e-12)
    # One-sided in-control ARL of k = .5, h = 4 is twice the two-sided 168: 336.
    assert cusum_arl(0.5, 4.0).upper == pytest.approx(336, rel=0.002)
    # h = 0 signals on the first point beyond k: ARL+ = 1 / P(X > k) with X ~ N(1, 1).
    assert cusum_arl(0.5, 0.0, 1.0).upper == pytest.approx(1 / sps.norm.sf(0.5, loc=1.0), rel=1e-9)


@pytest.mark.parametrize(
    ("h", "shift"), [(4.0, 0.0), (5.0, 0.0), (4.0, 1.0), (8.0, 0.0), (2.0, 3.0)]
)
def test_arl_converges_to_the_integral_equation_solution(h, shift):
    # Oracle: a 64-node Gauss-Legendre solution of the ARL integral equation (converged: 128
    # nodes agree to 1e-9). Brook-Evans with Richardson extrapolation must approach it as
    # n_states grows, and be within 1e-6 at the default.
    exact = integral_equation_arl(0.5, h, shift)
    assert integral_equation_arl(0.5, h, shift, nodes=128) == pytest.approx(exact, rel=1e-9)
    errors = [abs(cusum_arl(0.5, h, shift, n_states=m).upper / exact - 1) for m in (25, 50, 100)]
    assert errors[0] > errors[1] > errors[2]
    assert abs(cusum_arl(0.5, h, shift).upper / exact - 1) < 1e-6


def test_arl_matches_simulation():
    # Monte-Carlo with a fixed generator: run lengths of independent two-sided CUSUMs started at
    # 0. Tolerance 3 %: about 3 standard errors for the in-control cases (10 000 runs) and more
    # for the others (20 000 runs). Takes about 1 s.
    rng = np.random.default_rng(20261128)
    cases = [(4.0, 0.0, 10_000), (5.0, 0.0, 10_000), (4.0, 0.5, 20_000), (4.0, 1.0, 20_000)]
    cases += [(5.0, 2.0, 20_000)]
    for h, shift, n_runs in cases:
        simulated = simulated_run_lengths(0.5, h, shift, n_runs, rng)
        exact = cusum_arl(0.5, h, shift).two_sided
        standard_error = simulated.std() / math.sqrt(n_runs)
        assert abs(simulated.mean() - exact) < 0.03 * exact, (h, shift, simulated.mean(), exact)
        assert abs(simulated.mean() - exact) < 4 * standard_error
    one_sided = simulated_run_lengths(0.5, 4.0, 0.5, 20_000, rng, two_sided=False)
    assert one_sided.mean() == pytest.approx(cusum_arl(0.5, 4.0, 0.5).upper, rel=0.03)


def test_arl_rejects_bad_parameters():
    for bad in ({"k": -1.0, "h": 4.0}, {"k": 0.5, "h": math.nan}, {"k": math.inf, "h": 4.0}):
        with pytest.raises(ValueError):
            cusum_arl(**bad)
    with pytest.raises(ValueError, match="shift"):
        cusum_arl(0.5, 4.0, math.nan)
    with pytest.raises(ValueError, match="n_states"):
        cusum_arl(0.5, 4.0, n_states=5)


# ------------------------------------------------------------------ h from a target ARL0


def test_decision_interval_reproduces_montgomerys_pairs():
    # Table 9.3 pairs h = 4 with ARL0 168 and h = 5 with 465 (k = 0.5); the printed ARL0 is
    # rounded to 3 digits, so h is recovered to within 0.01.
    assert decision_interval_for_arl0(0.5, 168) == pytest.approx(4.0, abs=0.01)
    assert decision_interval_for_arl0(0.5, 465) == pytest.approx(5.0, abs=0.01)


def test_decision_interval_for_arl0_500_gives_arl0_500():
    h = decision_interval_for_arl0(0.5, 500)
    assert 5.0 < h < 5.2  # between Montgomery's h = 5 (465) and the next larger ARL0
    assert cusum_arl(0.5, h).two_sided == pytest.approx(500, rel=1e-9)
    # and by simulation (5 000 runs: standard error about 1.4 %)
    simulated = simulated_run_lengths(0.5, h, 0.0, 5_000, np.random.default_rng(500))
    assert simulated.mean() == pytest.approx(500, rel=0.05)


def test_decision_interval_unreachable_targets():
    # h = 0 already gives ARL0 = 1 / (2 P(Z > 0.5)) = 1.62; no h gives less.
    floor = 1 / (2 * sps.norm.sf(0.5))
    assert cusum_arl(0.5, 0.0).two_sided == pytest.approx(floor, rel=1e-12)
    with pytest.raises(ValueError, match="must exceed"):
        decision_interval_for_arl0(0.5, 1.5)
    with pytest.raises(ValueError, match="max_h"):
        decision_interval_for_arl0(0.5, 1e6, max_h=4.0)
