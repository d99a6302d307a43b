"""Control charts and CUSUM over the metric store: two asset checks per period (no Dagster).

Each charted series (a metric and dimension, e.g. ``latency_p99_ms`` or ``mean`` of
``temperature_c``) gets limits per model version from that version's first ``baseline_days``
(a new version's baseline resets them): a p-chart for proportions (limits that depend on the
period's n), an individuals chart otherwise, following an hour-of-day cycle when the baseline
shows one (``stats.control_charts.cyclic_individuals_limits``).

``control_charts``: ERROR when a point lies beyond 3 sigma; WARN when two of the last three
points lie beyond 2 sigma on the same side (Western Electric rule 2: a single point beyond
2 sigma happens every 22 points of a stable process). The multipliers are widened for the
number of charts judged together (Sidak), so the check as a whole has the false-alarm rate of
one 3-sigma chart (about one in 370 periods), not one per chart: a model with 20 charts would
otherwise page every day on noise.

``cusum``: Page's two-sided tabular CUSUM on each series' standardised values from the end of
its baseline window, the decision interval set so that the whole check's in-control ARL is
``arl0``; the check fails for ``hold_periods`` after a signal (signals reset the statistic,
and a shift that persists keeps signalling). It sees shifts that stay inside 3 sigma: a slow
ramp is signalled long before a 3-sigma chart or a fixed drift threshold reacts.

Both are functions of the stored series, so rerunning any partition recomputes the same values.
"""

import datetime as dt
import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from modelmon_dagster import readable
from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.metrics.settings import ControlChartSettings
from modelmon_dagster.metrics.store import is_proportion
from modelmon_dagster.stats.control_charts import (
    READY,
    ControlLimits,
    cyclic_individuals_limits,
    cyclic_p_chart_baseline,
    individuals_limits,
    judge_individual,
    proportion_z_score,
)
from modelmon_dagster.stats.cusum import cusum_arl, decision_interval_for_arl0, tabular_cusum

PERIOD = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1)}
RECENT_POINTS = 12


def _two_sided_alpha(sigmas: float) -> float:
    return float(2.0 * special.ndtr(-sigmas))


def family_multiplier(sigmas: float, charts: int) -> float:
    """The multiplier giving ``charts`` charts together the false-alarm rate of one.

    Sidak: each chart is judged at ``1 - (1 - alpha) ** (1 / charts)``, where ``alpha`` is the
    two-sided tail beyond ``sigmas`` of one normal chart.
    """
    if charts <= 1:
        return sigmas
    alpha = _two_sided_alpha(sigmas)
    per_chart = -math.expm1(math.log1p(-alpha) / charts)
    return float(-special.ndtri(per_chart / 2.0))


# Brook-Evans chains of 100 (and, extrapolated, 200) states: within 1e-5 of the finer default
# for h <= 10, at a quarter of its cost (h is solved for on every model's first check).
N_STATES = 100


@functools.lru_cache(maxsize=64)
def _decision_interval(k: float, arl0: float) -> float:
    return decision_interval_for_arl0(k, arl0, n_states=N_STATES)


@functools.lru_cache(maxsize=64)
def _arls(k: float, h: float) -> tuple[float, float]:
    """In-control ARL and ARL at a 1-sigma shift of one chart (two-sided)."""
    return (
        cusum_arl(k, h, n_states=N_STATES).two_sided,
        cusum_arl(k, h, shift=1.0, n_states=N_STATES).two_sided,
    )


@dataclass
class ChartSeries:
    """One charted series of one model version: its baseline, limits and judged points."""

    metric: str
    dimension: str
    version: str
    window: tuple[dt.datetime, dt.datetime]
    proportion: bool
    limits_state: str
    reason: str | None
    # judged points after the window: period -> (value, centre, sigma, z, lower3, upper3)
    points: dict[dt.datetime, tuple] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """E.g. ``mean[temperature_c]`` or ``error_rate``."""
        return f"{self.metric}[{self.dimension}]" if self.dimension else self.metric

    @property
    def title(self) -> str:
        """The series in words for messages: ``mean of temperature_c``, ``latency p99 ms``."""
        words = readable.name(self.metric)
        return f"{words} of {self.dimension}" if self.dimension else words


def _charted(series: pd.DataFrame, settings: ControlChartSettings) -> pd.DataFrame:
    wanted = series["metric"].isin(settings.metrics)
    return series[wanted & series["model_version"].notna()]


def _judge_series(rows: pd.DataFrame, chart: ChartSeries, settings, grain: str) -> None:
    """Fill ``chart.points`` (every period after the window) from the version's rows."""
    base = rows[rows["period_start"] < chart.window[1]]
    later = rows[rows["period_start"] >= chart.window[1]]
    options = {"warn_sigmas": settings.warn_sigmas, "error_sigmas": settings.error_sigmas}
    if chart.proportion:
        groups = (
            base["period_start"].dt.hour.to_numpy() if grain == "hourly" else np.zeros(len(base))
        )
        seasonal = cyclic_p_chart_baseline(
            base["events"].fillna(0).to_numpy(),
            base["n"].fillna(0).to_numpy(),
            groups,
            min_points=settings.min_points,
            **options,
        )
        chart.limits_state, chart.reason = seasonal.pooled.state, seasonal.pooled.reason
        if seasonal.pooled.state != READY:
            return
        for r in later.itertuples():
            ts = r.period_start.to_pydatetime()
            baseline = seasonal.for_group(ts.hour if grain == "hourly" else 0)
            z = proportion_z_score(r.events or 0.0, r.n or 0.0, baseline)
            if z == z:  # not NaN
                p_bar = baseline.p_bar
                sigma = math.sqrt(p_bar * (1 - p_bar) * (1 / r.n + 1 / baseline.trials))
                chart.points[ts] = (
                    r.events / r.n,
                    p_bar,
                    sigma,
                    z,
                    max(p_bar - settings.error_sigmas * sigma, 0.0),
                    min(p_bar + settings.error_sigmas * sigma, 1.0),
                )
        return
    values = base["value"].to_numpy(dtype=float)
    if grain == "hourly":
        groups = base["period_start"].dt.hour.to_numpy()
        seasonal = cyclic_individuals_limits(
            values, groups, sigma_method=settings.sigma, min_points=settings.min_points, **options
        )
        limits_of = lambda ts: seasonal.for_group(ts.hour)  # noqa: E731
        pooled = seasonal.pooled
    else:
        pooled = individuals_limits(
            values, sigma_method=settings.sigma, min_points=settings.min_points, **options
        )
        limits_of = lambda ts: pooled  # noqa: E731
    chart.limits_state, chart.reason = pooled.state, pooled.reason
    if pooled.state != READY:
        return
    for r in later.itertuples():
        limits: ControlLimits = limits_of(r.period_start)
        judged = judge_individual(r.value, limits)
        if judged.zone != "cannot_judge":
            chart.points[r.period_start.to_pydatetime()] = (
                judged.value,
                judged.centre,
                judged.sigma,
                judged.z_score,
                judged.lower_error,
                judged.upper_error,
            )


def build_charts(
    series: pd.DataFrame, settings: ControlChartSettings, grain: str
) -> list[ChartSeries]:
    """Every charted series of a model's stored metrics, per model version, judged."""
    charts = []
    rows = _charted(series, settings).sort_values("period_start")
    span = dt.timedelta(days=settings.baseline_days)
    for (metric, dimension, version), group in rows.groupby(
        ["metric", "dimension", "model_version"], sort=True
    ):
        start = group["period_start"].min().to_pydatetime()
        chart = ChartSeries(
            metric=metric,
            dimension=dimension,
            version=version,
            window=(start, start + span),
            proportion=is_proportion(metric),
            limits_state="too_short",
            reason=None,
        )
        _judge_series(group, chart, settings, grain)
        charts.append(chart)
    return charts


def _in_window(charts: list[ChartSeries], period: dt.datetime) -> list[ChartSeries]:
    return [c for c in charts if c.window[0] <= period < c.window[1]]


def _not_judged(name: str, charts, period, severity="ERROR") -> CheckOutcome:
    building = _in_window(charts, period)
    if building:
        version = building[0].version
        until = max(c.window[1] for c in building)
        why = (
            f"building the control limits of {version} from its first days "
            f"(until {until:%Y-%m-%d %H:%M})"
        )
    elif charts:
        reasons = sorted({c.reason for c in charts if c.reason})
        why = "no chart could judge this period" + (f" ({reasons[0]})" if reasons else "")
    else:
        why = "no charted metric in the series yet"
    return CheckOutcome.not_judged(name, why, {"charts_building": len(building)}, severity)


def _describe(chart: ChartSeries, period, z_err: float, z_warn: float) -> dict:
    value, centre, sigma, z, low3, high3 = chart.points[period]
    recent = sorted(p for p in chart.points if p <= period)[-RECENT_POINTS:]
    return {
        "chart": chart.label,
        "value": value,
        "centre": centre,
        "sigma": sigma,
        "z": z,
        "limits_3_sigma": [low3, high3],
        "judged_beyond_sigma": {"error": round(z_err, 3), "warn": round(z_warn, 3)},
        "baseline": f"{chart.version} {chart.window[0]:%Y-%m-%d %H:%M} to "
        f"{chart.window[1]:%Y-%m-%d %H:%M}",
        "recent": [[f"{p:%Y-%m-%d %H:%M}", round(chart.points[p][0], 6)] for p in recent],
    }


def chart_outcomes(
    charts: list[ChartSeries], periods: list[dt.datetime], settings: ControlChartSettings
) -> dict[dt.datetime, CheckOutcome]:
    """The ``control_charts`` outcome of each period (family-wise 2 and 3 sigma rules)."""
    out = {}
    for period in periods:
        judged = [c for c in charts if period in c.points]
        if not judged:
            out[period] = _not_judged("control_charts", charts, period)
            continue
        z_err = family_multiplier(settings.error_sigmas, len(judged))
        z_warn = family_multiplier(settings.warn_sigmas, len(judged))
        errors, warnings = [], []
        for chart in judged:
            z = chart.points[period][3]
            if abs(z) > z_err:
                errors.append(chart)
                continue
            last = sorted(p for p in chart.points if p <= period)[-3:]
            side = math.copysign(1.0, z)
            beyond = [p for p in last if chart.points[p][3] * side > z_warn]
            if abs(z) > z_warn and len(beyond) >= 2:
                warnings.append(chart)
        meta = {
            "charts_judged": len(judged),
            "error_beyond_sigma": round(z_err, 3),
            "warn_beyond_sigma": round(z_warn, 3),
            "rule": "ERROR: 1 point beyond 3 sigma; WARN: 2 of 3 beyond 2 sigma (family-wise)",
            "beyond": [_describe(c, period, z_err, z_warn) for c in errors + warnings],
        }
        if not errors and not warnings:
            out[period] = CheckOutcome(
                "control_charts", True, "ERROR", f"{len(judged)} charts within their limits", meta
            )
            continue
        texts = [
            f"{c.title} {c.points[period][0]:.4g} ({c.points[period][3]:+.1f} sigma from "
            f"{c.points[period][1]:.4g})"
            for c in errors + warnings
        ]
        severity = "ERROR" if errors else "WARN"
        rule = "beyond 3 sigma" if errors else "2 of 3 beyond 2 sigma"
        out[period] = CheckOutcome(
            "control_charts", False, severity, f"{rule}: " + "; ".join(texts[:5]), meta
        )
    return out


def cusum_decision_interval(charts: list[ChartSeries], settings: ControlChartSettings) -> float:
    """The CUSUM decision interval ``h`` the check uses for these charts.

    ``cusum.h`` when the config sets it; otherwise the interval giving the family of charted
    series (metric and dimension) an in-control ARL of ``cusum.arl0``.
    """
    c = settings.cusum
    family = max(len({(ch.metric, ch.dimension) for ch in charts if ch.points}), 1)
    return c.h if c.h is not None else _decision_interval(c.k, c.arl0 * family)


def cusum_outcomes(
    charts: list[ChartSeries], periods: list[dt.datetime], settings: ControlChartSettings
) -> dict[dt.datetime, CheckOutcome]:
    """The ``cusum`` outcome of each period: a signal in the last ``hold_periods`` fails it."""
    c = settings.cusum
    ready = [ch for ch in charts if ch.points]
    h = cusum_decision_interval(charts, settings)
    arl, arl_shifted = _arls(c.k, h)
    signals: dict[str, list[tuple[dt.datetime, str, float]]] = {}
    paths: dict[str, tuple[list, list, list]] = {}
    for chart in ready:
        times = sorted(chart.points)
        z = np.array([chart.points[t][3] for t in times])
        result = tabular_cusum(z, k=c.k, h=h)
        signals[chart.label + f"@{chart.version}"] = [
            (times[i], d, max(result.upper[i], result.lower[i]))
            for i, d in zip(result.signal_indices, result.signal_directions, strict=True)
        ]
        paths[chart.label + f"@{chart.version}"] = (times, result.upper, result.lower)
    out = {}
    step_of = {}
    for chart in ready:
        step_of[chart.label + f"@{chart.version}"] = sorted(chart.points)
    for period in periods:
        judged = [ch for ch in ready if period in ch.points]
        if not judged:
            out[period] = _not_judged("cusum", charts, period, c.severity)
            continue
        meta = {
            "k": c.k,
            "h": round(h, 4),
            "arl0_check": c.arl0,
            "arl0_per_chart": round(arl, 1),
            "arl_1_sigma_shift": round(arl_shifted, 2),
            "charts": len(judged),
            "hold_periods": c.hold_periods,
        }
        recent = []
        for chart in judged:
            key = chart.label + f"@{chart.version}"
            times = step_of[key]
            index = times.index(period)
            horizon = times[max(0, index - c.hold_periods + 1)]
            for when, direction, statistic in signals[key]:
                if horizon <= when <= period:
                    times_, up, down = paths[key]
                    tail = range(max(0, index - RECENT_POINTS + 1), index + 1)
                    recent.append(
                        {
                            "chart": chart.label,
                            "series": chart.title,
                            "signalled_at": f"{when:%Y-%m-%d %H:%M}",
                            "direction": direction,
                            "statistic": round(statistic, 3),
                            "c_plus": [round(up[i], 3) for i in tail],
                            "c_minus": [round(down[i], 3) for i in tail],
                        }
                    )
        meta["signals"] = recent
        if not recent:
            out[period] = CheckOutcome(
                "cusum", True, c.severity, f"no CUSUM signal in {len(judged)} charts", meta
            )
            continue
        text = "; ".join(
            f"{s['series']} shifted {s['direction']} (signal at {s['signalled_at']})"
            for s in recent[:5]
        )
        out[period] = CheckOutcome("cusum", False, c.severity, f"CUSUM: {text}", meta)
    return out
