"""Shewhart control charts with limits from a stable baseline window.

Three kinds of limits, one judgement:

* :func:`individuals_limits` — individuals (X) chart: a centre and a sigma estimated from the
  baseline values, WARN beyond ``warn_sigmas`` and ERROR beyond ``error_sigmas``.
* :func:`seasonal_individuals_limits` — the same per group (e.g. hour of day), falling back to
  the pooled limits where a group has too few baseline points.
* :func:`p_chart_baseline` and :func:`p_chart_limits` — p-chart for a proportion ``k / n``:
  centre ``p_bar = sum(k) / sum(n)`` over the baseline, limits that depend on the judged
  period's ``n`` and are clipped to ``[0, 1]``.

:func:`judge_individual` and :func:`judge_proportion` compare one new point with limits and
return a :class:`ChartJudgement`.

Conventions
-----------
* A baseline that cannot support limits (too few points, sigma 0, ``n = 0``) gives limits whose
  ``state`` says so and whose ``reason`` is a sentence; judging against them returns the zone
  ``"cannot_judge"`` with that reason. Nothing here turns "no judgement possible" into "ok".
* NaN marks a missing value and is dropped from baselines (for the moving range, a NaN breaks
  the sequence: only ranges between two adjacent finite values count). Infinite values are
  data errors and raise ``ValueError``.
* ``sigma`` is always the standard deviation of one observation (for the p-chart, of the
  proportion at the judged ``n``); limits are ``centre +/- multiplier * sigma``. A point is
  *beyond* a limit when it lies strictly outside it.
"""

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

# zones of a judgement
OK = "ok"
WARN = "warn"
ERROR = "error"
CANNOT_JUDGE = "cannot_judge"

# direction of a point from the centre
ABOVE = "above"
BELOW = "below"

# sigma estimators of the individuals chart
MOVING_RANGE = "moving_range"
SAMPLE_STD = "sample_std"
MAD = "mad"
SIGMA_METHODS = (MOVING_RANGE, SAMPLE_STD, MAD)
# sigma of the p-chart
BINOMIAL = "binomial"

# state of a set of limits
READY = "ready"
TOO_SHORT = "too_short"
ZERO_SIGMA = "zero_sigma"
NO_TRIALS = "no_trials"

# scope of a set of limits
BASELINE = "baseline"
GROUP = "group"
POOLED = "pooled"

# d2 for subgroups of two (moving ranges of span 2), as tabulated by Montgomery (Appendix
# Table VI). The exact value is E|X1 - X2| / sigma = 2 / sqrt(pi) = 1.12838; the table's 1.128
# keeps results equal to textbook worked examples (the difference is 0.03 %).
D2_MOVING_RANGE = 1.128
# Consistency constant of the MAD for the normal distribution, 1 / Phi^-1(3/4) = 1.482602...
# (the same constant as scipy.stats.median_abs_deviation(scale="normal")).
MAD_NORMAL_SCALE = float(1.0 / special.ndtri(0.75))


@dataclass(frozen=True)
class ControlLimits:
    """Centre, sigma and limits of a Shewhart chart, or the reason there are none.

    Attributes
    ----------
    centre : float
        Centre line: baseline mean (median for ``sigma_method="mad"``), or ``p_bar`` for a
        p-chart. NaN when the baseline is too short.
    sigma : float
        Standard deviation of one observation (p-chart: of the proportion at ``trials``).
        NaN when the baseline is too short; ``0.0`` when ``state`` is ``"zero_sigma"``.
    lower_error, lower_warn, upper_warn, upper_error : float
        ``centre -/+ error_sigmas * sigma`` and ``centre -/+ warn_sigmas * sigma``, clipped to
        ``[lower_bound, upper_bound]``. NaN when the baseline is too short or ``n = 0``.
    warn_sigmas, error_sigmas : float
        Multipliers of sigma for the WARN and ERROR limits.
    sigma_method : str
        ``"moving_range"``, ``"sample_std"``, ``"mad"`` or ``"binomial"`` (p-chart).
    centre_method : str
        ``"mean"``, ``"median"`` or ``"pooled_proportion"`` (p-chart).
    n_baseline : int
        Baseline points used: finite values, or p-chart periods with ``n > 0``.
    min_points : int
        Fewest baseline points accepted.
    state : str
        ``"ready"``; ``"too_short"`` (fewer than ``min_points``); ``"zero_sigma"`` (constant
        baseline, MAD 0, or ``p_bar`` 0 or 1); ``"no_trials"`` (p-chart period with ``n = 0``).
    reason : str or None
        Why a point cannot be judged against these limits; ``None`` when ``state == "ready"``.
    scope : str
        ``"baseline"`` (the whole baseline), ``"group"`` (the group's own baseline points) or
        ``"pooled"`` (the pooled baseline, standing in for a group with too few points).
    group : hashable or None
        The group these limits are for (seasonal limits); ``None`` otherwise.
    fallback_reason : str or None
        With ``scope == "pooled"``: why the group's own limits were not used.
    trials : float or None
        p-chart: the ``n`` the limits were computed for; ``None`` for an individuals chart.
    lower_bound, upper_bound : float
        Range the limits are clipped to: ``(-inf, inf)``, or ``(0, 1)`` for a proportion.
    """

    centre: float
    sigma: float
    lower_error: float
    lower_warn: float
    upper_warn: float
    upper_error: float
    warn_sigmas: float
    error_sigmas: float
    sigma_method: str
    centre_method: str
    n_baseline: int
    min_points: int
    state: str
    reason: str | None
    scope: str = BASELINE
    group: Hashable | None = None
    fallback_reason: str | None = None
    trials: float | None = None
    lower_bound: float = -math.inf
    upper_bound: float = math.inf


@dataclass(frozen=True)
class SeasonalLimits:
    """Individuals-chart limits per group (e.g. hour of day), with a pooled fallback.

    Attributes
    ----------
    pooled : ControlLimits
        Limits from every baseline value regardless of group (``scope == "baseline"``).
    by_group : Mapping
        Group key to the limits used for that group, for every group seen in the baseline: the
        group's own (``scope == "group"``) or the pooled ones (``scope == "pooled"``, with
        ``fallback_reason``). Read-only.
    min_group_points : int
        Fewest finite baseline points a group needs for its own limits.
    """

    pooled: ControlLimits
    by_group: Mapping[Hashable, ControlLimits]
    min_group_points: int

    def for_group(self, group: Hashable) -> ControlLimits:
        """Limits to judge a point of ``group`` against.

        A group absent from the baseline gets the pooled limits with ``scope == "pooled"`` and a
        ``fallback_reason`` that says it had no baseline points.
        """
        found = self.by_group.get(group)
        if found is not None:
            return found
        return _pooled_for(
            self.pooled,
            group,
            f"group {group!r} has no baseline points, need {self.min_group_points}",
        )


@dataclass(frozen=True)
class ProportionBaseline:
    """Baseline of a p-chart: the pooled proportion and what it rests on.

    Attributes
    ----------
    p_bar : float
        ``sum(events) / sum(trials)`` over baseline periods; NaN when too short.
    events, trials : float
        Totals over the baseline periods used.
    n_periods : int
        Baseline periods with ``trials > 0``.
    warn_sigmas, error_sigmas : float
        Multipliers of sigma for the WARN and ERROR limits.
    min_points : int
        Fewest periods accepted.
    state : str
        ``"ready"``, ``"too_short"``, or ``"zero_sigma"`` (``p_bar`` is 0 or 1, so the binomial
        sigma is 0 at every ``n``).
    reason : str or None
        Why no period can be judged; ``None`` when ``state == "ready"``.
    """

    p_bar: float
    events: float
    trials: float
    n_periods: int
    warn_sigmas: float
    error_sigmas: float
    min_points: int
    state: str
    reason: str | None


@dataclass(frozen=True)
class ChartJudgement:
    """One point judged against control limits.

    Attributes
    ----------
    value : float
        The judged value (p-chart: the proportion ``events / trials``; NaN when ``n = 0``).
    centre, sigma : float
        Centre line and sigma of the limits (p-chart: sigma at this point's ``n``).
    lower_error, lower_warn, upper_warn, upper_error : float
        The limits the point was compared with.
    z_score : float
        ``(value - centre) / sigma``, a distance in sigma units (not a p-value). NaN when the
        point cannot be judged.
    zone : str
        ``"ok"``, ``"warn"`` (beyond a WARN limit), ``"error"`` (beyond an ERROR limit) or
        ``"cannot_judge"``.
    rule : str or None
        The rule that fired, e.g. ``"beyond 3 sigma above"``; ``None`` for ``"ok"`` and
        ``"cannot_judge"``.
    direction : str or None
        ``"above"`` or ``"below"`` the centre; ``None`` when equal to it or either is NaN.
    reason : str or None
        With ``zone == "cannot_judge"``: why, e.g. ``"cannot judge: baseline has 5 points,
        need 20"``; ``None`` otherwise.
    scope : str
        Scope of the limits used (``"baseline"``, ``"group"`` or ``"pooled"``).
    group : hashable or None
        Group of the limits used (seasonal limits).
    trials : float or None
        p-chart: the point's ``n``; ``None`` for an individuals chart.
    """

    value: float
    centre: float
    sigma: float
    lower_error: float
    lower_warn: float
    upper_warn: float
    upper_error: float
    z_score: float
    zone: str
    rule: str | None
    direction: str | None
    reason: str | None
    scope: str
    group: Hashable | None
    trials: float | None


# --------------------------------------------------------------------------------------------
# validation helpers


def _check_multipliers(warn_sigmas: float, error_sigmas: float) -> tuple[float, float]:
    warn, error = float(warn_sigmas), float(error_sigmas)
    if not (math.isfinite(warn) and math.isfinite(error) and 0 < warn <= error):
        raise ValueError(
            f"need 0 < warn_sigmas <= error_sigmas, got warn_sigmas={warn_sigmas!r}, "
            f"error_sigmas={error_sigmas!r}"
        )
    return warn, error


def _check_min_points(min_points: int, name: str = "min_points") -> int:
    if int(min_points) != min_points or min_points < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {min_points!r}")
    return int(min_points)


def _values(values, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if np.any(np.isinf(x)):
        raise ValueError(f"{name} has infinite values (NaN marks a missing value; inf is an error)")
    return x


def _limits(
    centre: float,
    sigma: float,
    warn: float,
    error: float,
    lower_bound: float = -math.inf,
    upper_bound: float = math.inf,
) -> dict:
    def clip(v: float) -> float:
        return v if math.isnan(v) else min(max(v, lower_bound), upper_bound)

    return {
        "centre": centre,
        "sigma": sigma,
        "lower_error": clip(centre - error * sigma),
        "lower_warn": clip(centre - warn * sigma),
        "upper_warn": clip(centre + warn * sigma),
        "upper_error": clip(centre + error * sigma),
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
    }


def _pooled_for(pooled: ControlLimits, group: Hashable, why: str) -> ControlLimits:
    return replace(pooled, scope=POOLED, group=group, fallback_reason=why)


# --------------------------------------------------------------------------------------------
# individuals chart


def moving_range_sigma(values) -> float:
    """Sigma of an individuals chart from the average moving range, ``MR-bar / d2``.

    Parameters
    ----------
    values : array_like
        Observations in time order. NaN marks a missing value.

    Returns
    -------
    float
        ``mean(|x[t] - x[t-1]|) / 1.128`` over pairs of adjacent finite values; NaN when there is
        no such pair.

    Notes
    -----
    * A NaN breaks the sequence: the ranges on either side of it are not formed (the value
      before a gap and the one after it are not adjacent in time).
    * Constant values give ``0.0``.
    * The moving range estimates the short-term (point-to-point) variation, so a slow drift or a
      daily cycle inside the baseline barely inflates it, unlike the sample standard deviation.
    """
    x = _values(values, "values")
    ranges = np.abs(np.diff(x))
    ranges = ranges[~np.isnan(ranges)]
    if ranges.size == 0:
        return math.nan
    return float(ranges.mean() / D2_MOVING_RANGE)


def individuals_limits(
    baseline,
    *,
    sigma_method: str = MOVING_RANGE,
    warn_sigmas: float = 2.0,
    error_sigmas: float = 3.0,
    min_points: int = 20,
) -> ControlLimits:
    """Individuals-chart limits from a stable baseline window.

    Parameters
    ----------
    baseline : array_like
        Baseline observations in time order (order matters for the moving range). NaN marks a
        missing value.
    sigma_method : {"moving_range", "sample_std", "mad"}, default "moving_range"
        ``"moving_range"``: ``MR-bar / d2`` with ``d2 = 1.128`` (the textbook estimator for
        individuals). ``"sample_std"``: standard deviation with ``ddof=1``. ``"mad"``:
        ``1.4826 * median(|x - median(x)|)``, robust to outliers in the baseline; with this
        method the centre is the median, otherwise the mean.
    warn_sigmas, error_sigmas : float, default 2 and 3
        WARN beyond ``centre +/- warn_sigmas * sigma``, ERROR beyond ``error_sigmas``.
    min_points : int, default 20
        Fewest finite baseline values accepted (at least 2).

    Returns
    -------
    ControlLimits
        With ``scope == "baseline"``; ``state`` says whether points can be judged.

    Notes
    -----
    * Empty, all-NaN or shorter than ``min_points`` (after dropping NaN): ``state ==
      "too_short"``, centre, sigma and limits NaN, and ``reason`` such as ``"cannot judge:
      baseline has 5 points, need 20"``. The same when NaN leaves no two adjacent finite values
      for the moving range.
    * Constant baseline: ``state == "zero_sigma"``, sigma ``0.0``, every limit at the centre
      (detected from the values, so no estimator's rounding noise passes for a tiny sigma).
      With ``"mad"``, a non-constant baseline with at least half its values equal to the
      median also has MAD 0 and the same state.
    * Infinite values raise ``ValueError``.
    """
    if sigma_method not in SIGMA_METHODS:
        raise ValueError(f"sigma_method must be one of {SIGMA_METHODS}, got {sigma_method!r}")
    warn, error = _check_multipliers(warn_sigmas, error_sigmas)
    min_points = _check_min_points(min_points)
    x = _values(baseline, "baseline")
    finite = x[~np.isnan(x)]
    n = int(finite.size)
    centre_method = "median" if sigma_method == MAD else "mean"
    common = {
        "warn_sigmas": warn,
        "error_sigmas": error,
        "sigma_method": sigma_method,
        "centre_method": centre_method,
        "n_baseline": n,
        "min_points": min_points,
    }

    def too_short(reason: str) -> ControlLimits:
        return ControlLimits(
            **_limits(math.nan, math.nan, warn, error), **common, state=TOO_SHORT, reason=reason
        )

    if n < min_points:
        return too_short(f"cannot judge: baseline has {n} points, need {min_points}")
    centre = float(np.median(finite)) if sigma_method == MAD else float(np.mean(finite))
    if np.ptp(finite) == 0:
        centre = float(finite[0])
        return ControlLimits(
            **_limits(centre, 0.0, warn, error),
            **common,
            state=ZERO_SIGMA,
            reason=f"cannot judge: baseline is constant ({centre:g}), so sigma is 0",
        )
    if sigma_method == MOVING_RANGE:
        sigma = moving_range_sigma(x)
        if math.isnan(sigma):
            return too_short(
                "cannot judge: baseline has no two adjacent finite values for a moving range"
            )
    elif sigma_method == SAMPLE_STD:
        sigma = float(np.std(finite, ddof=1))
    else:
        sigma = MAD_NORMAL_SCALE * float(np.median(np.abs(finite - centre)))
        if sigma == 0:
            return ControlLimits(
                **_limits(centre, 0.0, warn, error),
                **common,
                state=ZERO_SIGMA,
                reason=(
                    f"cannot judge: MAD is 0 (at least half the baseline values equal the "
                    f"median {centre:g}); use sigma_method='moving_range' or 'sample_std'"
                ),
            )
    return ControlLimits(**_limits(centre, sigma, warn, error), **common, state=READY, reason=None)


def seasonal_individuals_limits(
    baseline,
    groups,
    *,
    sigma_method: str = MOVING_RANGE,
    warn_sigmas: float = 2.0,
    error_sigmas: float = 3.0,
    min_points: int = 20,
    min_group_points: int = 10,
) -> SeasonalLimits:
    """Individuals-chart limits per group (e.g. hour of day), falling back to pooled limits.

    Parameters
    ----------
    baseline : array_like
        Baseline observations in time order. NaN marks a missing value.
    groups : array_like
        Group key of each observation (e.g. hour of day 0-23), same length as ``baseline``.
    sigma_method, warn_sigmas, error_sigmas : see :func:`individuals_limits`
    min_points : int, default 20
        Fewest finite values for the pooled limits.
    min_group_points : int, default 10
        Fewest finite values a group needs for its own limits; below it, the group uses the
        pooled limits (``scope == "pooled"``, with ``fallback_reason``).

    Returns
    -------
    SeasonalLimits
        Limits per group seen in the baseline, the pooled limits, and
        :meth:`SeasonalLimits.for_group` for any key.

    Notes
    -----
    * A group's values are taken in their order in ``baseline``, so with hourly data the
      moving range of hour 3 is between hour 3 of consecutive days. The pooled moving range is
      over the whole series in order (consecutive hours).
    * The pooled centre ignores the cycle, so a fallback group at a peak or trough of the cycle
      sits off-centre: more points warn there. Longer baselines avoid the fallback.
    * A group with enough values that are constant (or MAD 0) keeps its own ``"zero_sigma"``
      limits rather than falling back: a group that never varies is a fact about the metric,
      not a lack of data.
    * Empty or all-NaN input gives too-short pooled limits, and every group falls back to them;
      judging then says "cannot judge". Infinite values raise ``ValueError``; so does a length
      mismatch between ``baseline`` and ``groups``.
    """
    x = _values(baseline, "baseline")
    keys = np.asarray(groups, dtype=object)
    if keys.ndim != 1 or keys.size != x.size:
        raise ValueError(
            f"groups must be 1-D with one key per baseline value ({x.size}), got shape {keys.shape}"
        )
    min_group_points = _check_min_points(min_group_points, "min_group_points")
    options = {
        "sigma_method": sigma_method,
        "warn_sigmas": warn_sigmas,
        "error_sigmas": error_sigmas,
    }
    pooled = individuals_limits(x, min_points=min_points, **options)
    positions: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys.tolist()):
        positions.setdefault(key, []).append(i)
    by_group: dict[Hashable, ControlLimits] = {}
    for key, where in positions.items():
        values = x[where]
        n = int(np.count_nonzero(~np.isnan(values)))
        if n < min_group_points:
            by_group[key] = _pooled_for(
                pooled, key, f"group {key!r} has {n} baseline points, need {min_group_points}"
            )
            continue
        own = individuals_limits(values, min_points=min_group_points, **options)
        if own.state == TOO_SHORT:
            # enough values, but NaN gaps leave no moving range within the group
            by_group[key] = _pooled_for(pooled, key, f"group {key!r}: {own.reason}")
            continue
        by_group[key] = replace(own, scope=GROUP, group=key)
    return SeasonalLimits(
        pooled=pooled, by_group=MappingProxyType(by_group), min_group_points=min_group_points
    )


def cyclic_individuals_limits(
    baseline,
    groups,
    *,
    sigma_method: str = MOVING_RANGE,
    warn_sigmas: float = 2.0,
    error_sigmas: float = 3.0,
    min_points: int = 20,
    min_cycles: int = 2,
    cycle_alpha: float = 1e-3,
) -> SeasonalLimits:
    """Individuals-chart limits that follow a cycle (e.g. hour of day) seen in a short baseline.

    When the group means differ (one-way ANOVA across groups with at least ``min_cycles``
    values rejects at ``cycle_alpha``), each group gets its own centre (the group's baseline
    mean) and a sigma pooled over every group: the within-group standard deviation of the
    baseline residuals, ``sqrt(sum((x - mean_g)^2) / (N - G))``, times ``sqrt(1 + 1 / m_g)``
    for a new point judged against a centre estimated from ``m_g`` values. Two days of hourly
    baseline are then enough, where :func:`seasonal_individuals_limits` (a sigma per group)
    needs about ten cycles. Without a significant cycle every group gets the pooled
    individuals limits (``sigma_method`` as in :func:`individuals_limits`).

    Parameters
    ----------
    baseline, groups : array_like
        Baseline values in time order and the group (cycle position) of each.
    sigma_method, warn_sigmas, error_sigmas, min_points : see :func:`individuals_limits`
        ``sigma_method`` applies to the pooled (no cycle) limits.
    min_cycles : int, default 2
        Fewest values a group needs for its own centre; fewer: the pooled limits.
    cycle_alpha : float, default 1e-3
        Significance of the ANOVA that decides whether there is a cycle.

    Returns
    -------
    SeasonalLimits
        Group limits have ``scope == "group"``, ``centre_method == "group_mean"`` and
        ``sigma_method == "pooled_within_group"``.

    Notes
    -----
    * A baseline shorter than ``min_points`` (after NaN) cannot be judged, cycle or not.
    * Residuals of every group are constant (the cycle explains everything): ``zero_sigma``.
    * The ANOVA assumes independent errors; an autocorrelated series overstates the evidence
      for a cycle, which at worst gives a cycle-following centre where a flat one would do.
    """
    x = _values(baseline, "baseline")
    keys = np.asarray(groups, dtype=object)
    if keys.ndim != 1 or keys.size != x.size:
        raise ValueError(
            f"groups must be 1-D with one key per baseline value ({x.size}), got shape {keys.shape}"
        )
    min_cycles = _check_min_points(min_cycles, "min_cycles")
    warn, error = _check_multipliers(warn_sigmas, error_sigmas)
    pooled = individuals_limits(
        x,
        sigma_method=sigma_method,
        warn_sigmas=warn_sigmas,
        error_sigmas=error_sigmas,
        min_points=min_points,
    )
    values: dict[Hashable, np.ndarray] = {}
    for key in dict.fromkeys(keys.tolist()):
        group = x[keys == key]
        values[key] = group[~np.isnan(group)]
    full = {k: v for k, v in values.items() if v.size >= min_cycles}
    if pooled.state == TOO_SHORT or len(full) < 2:
        why = pooled.reason or f"fewer than two groups have {min_cycles} values"
        by_group = {k: _pooled_for(pooled, k, why) for k in values}
        return SeasonalLimits(pooled, MappingProxyType(by_group), min_cycles)
    p_value = float(scipy_stats.f_oneway(*full.values()).pvalue)
    if not p_value < cycle_alpha:  # NaN (constant groups) counts as no cycle
        why = f"no cycle across groups (ANOVA p = {p_value:.3g})"
        by_group = {k: _pooled_for(pooled, k, why) for k in values}
        return SeasonalLimits(pooled, MappingProxyType(by_group), min_cycles)
    residual_ss = sum(float(((v - v.mean()) ** 2).sum()) for v in full.values())
    dof = sum(v.size for v in full.values()) - len(full)
    within = math.sqrt(residual_ss / dof) if dof > 0 else math.nan
    by_group = {}
    for key, group in values.items():
        if key not in full:
            by_group[key] = _pooled_for(
                pooled, key, f"group {key!r} has {group.size} baseline values, need {min_cycles}"
            )
            continue
        centre = float(group.mean())
        sigma = within * math.sqrt(1 + 1 / group.size)
        common = {
            "warn_sigmas": warn,
            "error_sigmas": error,
            "sigma_method": "pooled_within_group",
            "centre_method": "group_mean",
            "n_baseline": int(group.size),
            "min_points": min_cycles,
            "scope": GROUP,
            "group": key,
        }
        if not sigma > 0:
            by_group[key] = ControlLimits(
                **_limits(centre, 0.0, warn, error),
                **common,
                state=ZERO_SIGMA,
                reason="cannot judge: the cycle explains every baseline value (sigma 0)",
            )
        else:
            by_group[key] = ControlLimits(
                **_limits(centre, sigma, warn, error), **common, state=READY, reason=None
            )
    return SeasonalLimits(pooled, MappingProxyType(by_group), min_cycles)


# --------------------------------------------------------------------------------------------
# p-chart


def p_chart_baseline(
    events,
    trials,
    *,
    warn_sigmas: float = 2.0,
    error_sigmas: float = 3.0,
    min_points: int = 20,
) -> ProportionBaseline:
    """Pooled baseline proportion of a p-chart, ``p_bar = sum(events) / sum(trials)``.

    Parameters
    ----------
    events, trials : array_like
        Per baseline period: events counted (errors, timeouts, positives) and trials (requests,
        predictions). ``0 <= events <= trials``. A period where either is NaN is missing.
    warn_sigmas, error_sigmas : float, default 2 and 3
        Multipliers of sigma for the WARN and ERROR limits.
    min_points : int, default 20
        Fewest baseline periods with ``trials > 0``.

    Returns
    -------
    ProportionBaseline

    Notes
    -----
    * Periods with ``trials == 0`` carry no information and are skipped; so are NaN periods.
    * Empty, all-missing, or fewer than ``min_points`` periods: ``state == "too_short"`` and
      ``p_bar`` NaN.
    * ``p_bar`` of 0 (no events at all) or 1 (every trial an event): the binomial sigma
      ``sqrt(p_bar (1 - p_bar) / n)`` is 0 for every ``n``, so ``state == "zero_sigma"``: a
      3-sigma rule cannot say how unusual a first error is; a fixed threshold can.
    * Negative counts, ``events > trials`` or infinite values raise ``ValueError``.
    """
    warn, error = _check_multipliers(warn_sigmas, error_sigmas)
    min_points = _check_min_points(min_points)
    k = _values(events, "events")
    n = _values(trials, "trials")
    if k.shape != n.shape:
        raise ValueError(f"events and trials differ in length ({k.size} vs {n.size})")
    present = ~(np.isnan(k) | np.isnan(n))
    k, n = k[present], n[present]
    if np.any(k < 0) or np.any(n < 0):
        raise ValueError("events and trials must be non-negative")
    if np.any(k > n):
        raise ValueError("events exceed trials in some baseline period")
    used = n > 0
    n_periods = int(np.count_nonzero(used))
    total_k, total_n = float(k[used].sum()), float(n[used].sum())
    common = {
        "events": total_k,
        "trials": total_n,
        "n_periods": n_periods,
        "warn_sigmas": warn,
        "error_sigmas": error,
        "min_points": min_points,
    }
    if n_periods < min_points:
        return ProportionBaseline(
            p_bar=math.nan,
            **common,
            state=TOO_SHORT,
            reason=f"cannot judge: baseline has {n_periods} periods with trials, need {min_points}",
        )
    p_bar = total_k / total_n
    if p_bar in (0.0, 1.0):
        what = "no events" if p_bar == 0.0 else "only events"
        return ProportionBaseline(
            p_bar=p_bar,
            **common,
            state=ZERO_SIGMA,
            reason=(
                f"cannot judge: baseline proportion is {p_bar:g} ({what} in {total_n:g} trials), "
                f"so the binomial sigma is 0"
            ),
        )
    return ProportionBaseline(p_bar=p_bar, **common, state=READY, reason=None)


@dataclass(frozen=True)
class SeasonalProportionBaseline:
    """p-chart baselines per group (e.g. hour of day) when the proportion follows a cycle.

    Attributes
    ----------
    pooled : ProportionBaseline
        The baseline over every period.
    by_group : Mapping
        Group key to its own baseline (``cyclic``) — read-only; empty without a cycle.
    cyclic : bool
        Whether the groups' proportions differ (chi-square homogeneity test at ``cycle_alpha``).
    p_value : float
        That test's p-value (NaN when it could not run).
    """

    pooled: ProportionBaseline
    by_group: Mapping[Hashable, ProportionBaseline]
    cyclic: bool
    p_value: float

    def for_group(self, group: Hashable) -> ProportionBaseline:
        """The group's own baseline when the proportion is cyclic, else the pooled one."""
        return self.by_group.get(group, self.pooled) if self.cyclic else self.pooled


def cyclic_p_chart_baseline(
    events,
    trials,
    groups,
    *,
    warn_sigmas: float = 2.0,
    error_sigmas: float = 3.0,
    min_points: int = 20,
    min_cycles: int = 2,
    cycle_alpha: float = 1e-3,
) -> SeasonalProportionBaseline:
    """A p-chart baseline that follows a cycle (e.g. a positive rate higher at night).

    The groups' proportions are compared with a chi-square test of homogeneity on the 2 x G
    table of events and non-events (groups with at least ``min_cycles`` periods); when it
    rejects at ``cycle_alpha`` each such group gets its own ``p_bar``, else every group uses the
    pooled baseline.

    Notes
    -----
    * Groups with fewer periods than ``min_cycles`` use the pooled baseline.
    * A pooled baseline that is not ready (too short, ``p_bar`` 0 or 1) is returned without a
      test.
    """
    k = _values(events, "events")
    n = _values(trials, "trials")
    keys = np.asarray(groups, dtype=object)
    if not (k.shape == n.shape == keys.shape):
        raise ValueError("events, trials and groups differ in length")
    options = {"warn_sigmas": warn_sigmas, "error_sigmas": error_sigmas}
    pooled = p_chart_baseline(k, n, min_points=min_points, **options)
    if pooled.state != READY:
        return SeasonalProportionBaseline(pooled, MappingProxyType({}), False, math.nan)
    min_cycles = _check_min_points(min_cycles, "min_cycles")
    by_group = {}
    for key in dict.fromkeys(keys.tolist()):
        inside = keys == key
        if np.count_nonzero(inside & (n > 0)) >= min_cycles:
            by_group[key] = p_chart_baseline(k[inside], n[inside], min_points=min_cycles, **options)
    if len(by_group) < 2:
        return SeasonalProportionBaseline(pooled, MappingProxyType({}), False, math.nan)
    table = np.array(
        [[b.events for b in by_group.values()], [b.trials - b.events for b in by_group.values()]]
    )
    p_value = float(scipy_stats.chi2_contingency(table, correction=False).pvalue)
    cyclic = bool(p_value < cycle_alpha)
    return SeasonalProportionBaseline(
        pooled, MappingProxyType(by_group if cyclic else {}), cyclic, p_value
    )


def proportion_z_score(events: float, trials: float, baseline: ProportionBaseline) -> float:
    """Distance of ``events / trials`` from ``p_bar`` in sigma units, ``p_bar``'s own error counted.

    ``sigma = sqrt(p_bar (1 - p_bar) (1 / trials + 1 / baseline.trials))``: the period's binomial
    error plus that of a centre estimated from the baseline's trials (which matters when the
    baseline is short, e.g. a centre per hour of day from two days). NaN when ``trials`` is 0 or
    the baseline is not ready.
    """
    if baseline.state != READY or not trials or trials != trials:
        return math.nan
    p = baseline.p_bar
    sigma = math.sqrt(p * (1.0 - p) * (1.0 / trials + 1.0 / baseline.trials))
    return (events / trials - p) / sigma


def p_chart_limits(baseline: ProportionBaseline, trials: float) -> ControlLimits:
    """p-chart limits for a period with ``trials`` trials.

    Parameters
    ----------
    baseline : ProportionBaseline
        From :func:`p_chart_baseline`.
    trials : float
        The judged period's ``n``.

    Returns
    -------
    ControlLimits
        ``p_bar +/- z * sqrt(p_bar (1 - p_bar) / trials)``, clipped to ``[0, 1]``, with
        ``trials`` recorded.

    Notes
    -----
    * ``trials == 0`` (or NaN): ``state == "no_trials"``, sigma and limits NaN: there is no
      proportion to judge.
    * A baseline that is too short or has ``p_bar`` 0 or 1 passes its state and reason on;
      for ``p_bar`` 0 or 1 sigma is ``0.0`` and every limit equals ``p_bar``.
    * Negative or infinite ``trials`` raise ``ValueError``.
    """
    n = float(trials)
    if math.isinf(n) or n < 0:
        raise ValueError(f"trials must be a non-negative finite number, got {trials!r}")
    warn, error = baseline.warn_sigmas, baseline.error_sigmas
    common = {
        "warn_sigmas": warn,
        "error_sigmas": error,
        "sigma_method": BINOMIAL,
        "centre_method": "pooled_proportion",
        "n_baseline": baseline.n_periods,
        "min_points": baseline.min_points,
        "trials": n,
    }
    if baseline.state == TOO_SHORT:
        limits = _limits(math.nan, math.nan, warn, error, 0.0, 1.0)
        return ControlLimits(**limits, **common, state=TOO_SHORT, reason=baseline.reason)
    if math.isnan(n) or n == 0:
        limits = _limits(baseline.p_bar, math.nan, warn, error, 0.0, 1.0)
        reason = "cannot judge: the period has no trials (n = 0), so there is no proportion"
        return ControlLimits(**limits, **common, state=NO_TRIALS, reason=reason)
    if baseline.state == ZERO_SIGMA:
        limits = _limits(baseline.p_bar, 0.0, warn, error, 0.0, 1.0)
        return ControlLimits(**limits, **common, state=ZERO_SIGMA, reason=baseline.reason)
    p = baseline.p_bar
    sigma = math.sqrt(p * (1.0 - p) / n)
    return ControlLimits(
        **_limits(p, sigma, warn, error, 0.0, 1.0), **common, state=READY, reason=None
    )


# --------------------------------------------------------------------------------------------
# judgement


def judge_individual(value: float, limits: ControlLimits) -> ChartJudgement:
    """Judge one new observation against control limits.

    Parameters
    ----------
    value : float
        The new observation (for a p-chart, use :func:`judge_proportion`).
    limits : ControlLimits
        From :func:`individuals_limits`, :meth:`SeasonalLimits.for_group` or
        :func:`p_chart_limits`.

    Returns
    -------
    ChartJudgement
        ERROR when the value lies strictly beyond an ERROR limit, WARN when strictly beyond a
        WARN limit, otherwise OK; a value exactly on a limit is not beyond it.

    Notes
    -----
    * Limits that are not ready (too-short baseline, sigma 0, ``n = 0``): zone
      ``"cannot_judge"`` with the limits' reason; for sigma 0 the reason also says whether the
      value equals the constant centre or departs from it. Never a silent pass.
    * NaN value: ``"cannot_judge"``, reason ``"cannot judge: value is NaN (missing)"``.
    * Infinite value: ``ValueError``.
    """
    v = float(value)
    if math.isinf(v):
        raise ValueError(f"value must be finite or NaN (missing), got {value!r}")
    centre, sigma = limits.centre, limits.sigma
    direction = None
    if not (math.isnan(v) or math.isnan(centre)) and v != centre:
        direction = ABOVE if v > centre else BELOW
    common = {
        "value": v,
        "centre": centre,
        "sigma": sigma,
        "lower_error": limits.lower_error,
        "lower_warn": limits.lower_warn,
        "upper_warn": limits.upper_warn,
        "upper_error": limits.upper_error,
        "direction": direction,
        "scope": limits.scope,
        "group": limits.group,
        "trials": limits.trials,
    }

    def cannot(reason: str) -> ChartJudgement:
        return ChartJudgement(
            **common, z_score=math.nan, zone=CANNOT_JUDGE, rule=None, reason=reason
        )

    if limits.state != READY:
        reason = limits.reason or f"cannot judge: limits are {limits.state}"
        if limits.state == ZERO_SIGMA and not math.isnan(v):
            reason += (
                "; the value equals the centre"
                if direction is None
                else f"; the value {v:g} is {direction} the centre {centre:g}"
            )
        return cannot(reason)
    if math.isnan(v):
        return cannot("cannot judge: value is NaN (missing)")
    z = (v - centre) / sigma
    if v > limits.upper_error or v < limits.lower_error:
        zone, multiplier = ERROR, limits.error_sigmas
    elif v > limits.upper_warn or v < limits.lower_warn:
        zone, multiplier = WARN, limits.warn_sigmas
    else:
        return ChartJudgement(**common, z_score=z, zone=OK, rule=None, reason=None)
    rule = f"beyond {multiplier:g} sigma {direction}"
    return ChartJudgement(**common, z_score=z, zone=zone, rule=rule, reason=None)


def judge_proportion(events: float, trials: float, baseline: ProportionBaseline) -> ChartJudgement:
    """Judge one period's proportion ``events / trials`` on a p-chart.

    Parameters
    ----------
    events, trials : float
        The period's events and trials, ``0 <= events <= trials``.
    baseline : ProportionBaseline
        From :func:`p_chart_baseline`.

    Returns
    -------
    ChartJudgement
        Against :func:`p_chart_limits` at this period's ``trials``; ``trials`` is recorded.

    Notes
    -----
    * ``trials == 0``: ``"cannot_judge"`` ("the period has no trials"), value NaN.
    * Baseline ``p_bar`` 0 or 1: ``"cannot_judge"`` with the reason, and whether the
      proportion departs from ``p_bar`` (a first error after an error-free baseline says
      "... is above the centre 0").
    * Negative counts or ``events > trials``: ``ValueError``.
    """
    k, n = float(events), float(trials)
    if k < 0 or n < 0 or k > n:
        raise ValueError(f"need 0 <= events <= trials, got events={events!r}, trials={trials!r}")
    value = k / n if n > 0 else math.nan
    return judge_individual(value, p_chart_limits(baseline, n))
