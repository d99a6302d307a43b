"""The dashboard's charts as Plotly figures, one function per chart (no Dagster, no SQL).

Each function takes a :class:`DashboardData` and returns a figure, or ``None`` when the model
has nothing of that kind (a regression model has no calibration curve of a classifier).
Hover texts carry rounded numbers; the figure data keeps the stored values.
"""

import json

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from modelmon_dagster.config import Task
from modelmon_dagster.dashboard.data import DashboardData
from modelmon_dagster.dashboard.status import AMBER, GREEN, GREY, RANK, RED, with_colour
from modelmon_dagster.metrics.charts import build_charts, cusum_decision_interval
from modelmon_dagster.performance import KEY_METRICS
from modelmon_dagster.stats.cusum import tabular_cusum

COLOURS = {GREEN: "#2e7d32", AMBER: "#f9a825", RED: "#c62828", GREY: "#9e9e9e"}
CONTROL_CHARTS_SHOWN = 4


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.18},
        template="plotly_white",
        hovermode="x unified",
    )
    return fig


def _series(frame: pd.DataFrame, metric: str, dimension: str = "") -> pd.DataFrame:
    if not len(frame):
        return frame
    rows = frame[(frame["metric"] == metric) & (frame["dimension"] == dimension)]
    return rows.sort_values("period_start")


def check_timeline(data: DashboardData, tier: str) -> go.Figure | None:
    """Every stored verdict of a tier's checks, one row per check, coloured by outcome."""
    if not len(data.checks):
        return None
    frame = with_colour(data.checks)
    frame = frame[frame["tier"] == tier]
    if not len(frame):
        return None
    frame["label"] = frame["asset_name"] + "." + frame["check_name"]
    fig = go.Figure()
    for colour in sorted(COLOURS, key=RANK.__getitem__):
        rows = frame[frame["colour"] == colour]
        if not len(rows):
            continue
        fig.add_trace(
            go.Scatter(
                x=rows["period_start"],
                y=rows["label"],
                mode="markers",
                name={GREY: "not judged", GREEN: "passed", AMBER: "WARN", RED: "ERROR"}[colour],
                marker={"symbol": "square", "size": 9, "color": COLOURS[colour]},
                text=rows["partition_key"] + ": " + rows["description"].fillna(""),
                hovertemplate="%{y}<br>%{text}<extra></extra>",
            )
        )
    fig = _layout(
        fig, f"{tier.capitalize()} checks per partition", 120 + 28 * frame["label"].nunique()
    )
    fig.update_layout(hovermode="closest")
    return fig


def volume(data: DashboardData) -> go.Figure | None:
    """Hourly predictions against the band the volume check allows around its expectation."""
    rows = _series(data.hourly, "volume")
    if not len(rows):
        return None
    fig = go.Figure()
    checks = data.checks
    if len(checks):
        vol = checks[(checks["check_name"] == "volume") & (checks["status"] != "not_judged")]
        expected = vol["metadata"].map(lambda m: json.loads(m or "{}").get("expected"))
        band = pd.DataFrame({"x": vol["period_start"], "expected": expected}).dropna()
        t = data.model.thresholds
        if len(band):
            _band(
                fig,
                band["x"],
                band["expected"] * t.volume_ratio_warn,
                band["expected"] / t.volume_ratio_warn,
                "rgba(46,125,50,0.15)",
                "expected band (volume_ratio_warn)",
            )
            fig.add_trace(
                go.Scatter(
                    x=band["x"],
                    y=band["expected"],
                    mode="lines",
                    line={"dash": "dot", "color": "#2e7d32"},
                    name="expected (same hour, last 7 days)",
                )
            )
    fig.add_trace(go.Scatter(x=rows["period_start"], y=rows["value"], name="predictions"))
    return _layout(fig, "Volume per hour")


def latency(data: DashboardData) -> go.Figure | None:
    """Latency percentiles per hour."""
    fig = go.Figure()
    for name in ("p50", "p95", "p99"):
        rows = _series(data.hourly, f"latency_{name}_ms")
        if len(rows):
            fig.add_trace(go.Scatter(x=rows["period_start"], y=rows["value"], name=name))
    if not fig.data:
        return None
    fig.update_yaxes(title_text="ms", type="log")
    return _layout(fig, "Latency per hour (ms)")


def error_rates(data: DashboardData) -> go.Figure | None:
    """Error, timeout and schema-error rates per hour."""
    fig = go.Figure()
    for metric in ("error_rate", "timeout_rate", "schema_error_rate"):
        rows = _series(data.hourly, metric)
        if len(rows):
            fig.add_trace(
                go.Scatter(x=rows["period_start"], y=rows["value"], name=metric.replace("_", " "))
            )
    if not fig.data:
        return None
    fig.update_yaxes(tickformat=".1%")
    return _layout(fig, "Error, timeout and schema-error rates per hour")


def host(data: DashboardData) -> go.Figure | None:
    """Mean CPU and memory of the serving hosts per hour."""
    cpu, mem = _series(data.hourly, "host_cpu_pct"), _series(data.hourly, "host_memory_mb")
    if not len(cpu) and not len(mem):
        return None
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=cpu["period_start"], y=cpu["value"], name="CPU %"))
    fig.add_trace(
        go.Scatter(x=mem["period_start"], y=mem["value"], name="memory MB"), secondary_y=True
    )
    fig.update_yaxes(title_text="CPU %", secondary_y=False)
    fig.update_yaxes(title_text="memory MB", secondary_y=True)
    return _layout(fig, "Serving hosts: CPU and memory per hour")


def _flag_marks(flags: pd.DataFrame, x: str, y: str) -> go.Scatter:
    return go.Scatter(
        x=flags[x],
        y=flags[y],
        mode="markers",
        marker={"symbol": "x", "size": 10, "color": "black"},
        name="flagged (drifted)",
        hoverinfo="skip",
    )


def _day_heatmap(
    grid: pd.DataFrame,
    flags: pd.DataFrame,
    row: str,
    colours: str,
    label: str,
    title: str,
    name: str | None = None,
) -> go.Figure:
    """Rows x days of effect sizes, ``flags`` (``day`` and ``row`` columns) marked with a cross."""
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=list(grid.columns),
            y=list(grid.index),
            colorscale=colours,
            zmin=0,
            colorbar={"title": label},
            hovertemplate=f"%{{y}} on %{{x}}: {label} %{{z:.3f}}<extra></extra>",
            name=name,
        )
    )
    if len(flags):
        fig.add_trace(_flag_marks(flags, "day", row))
    fig.update_xaxes(type="category")
    fig = _layout(fig, title, 140 + 22 * len(grid))
    fig.update_layout(hovermode="closest")
    return fig


def drift_heatmap(data: DashboardData) -> go.Figure | None:
    """Drift effect size per column and day; drifted cells marked with a cross."""
    frame = data.column_drift
    if not len(frame):
        return None
    frame = frame.dropna(subset=["effect_size"])
    frame = frame.assign(day=frame["day_start"].dt.strftime("%Y-%m-%d"))
    grid = frame.pivot_table(index="column_name", columns="day", values="effect_size")
    flags = frame[frame["drifted"].fillna(False).astype(bool)]
    title = "Drift effect size per column and day (x = flagged)"
    return _day_heatmap(grid, flags, "column_name", "Reds", "effect", title, name="effect size")


def segment_drift_heatmap(data: DashboardData) -> go.Figure | None:
    """Largest drift effect per segment and day, against the segment's own reference."""
    frame = data.segment_drift
    if not len(frame):
        return None
    frame = frame.dropna(subset=["effect_size"])
    frame = frame.assign(
        day=frame["day_start"].dt.strftime("%Y-%m-%d"),
        segment=frame["segment_column"] + "=" + frame["segment_value"].astype(str),
    )
    by_cell = frame.groupby(["segment", "day"]).agg(
        effect_size=("effect_size", "max"), drifted=("drifted", "any")
    )
    grid = by_cell["effect_size"].unstack("day")
    flags = by_cell[by_cell["drifted"]].reset_index()
    title = "Segment drift: largest effect per segment and day"
    return _day_heatmap(grid, flags, "segment", "Oranges", "max effect", title)


def _band(
    fig: go.Figure, x, low, high, colour: str, name: str, legend: bool = True, **where
) -> None:
    """A filled band between ``low`` and ``high`` (an invisible upper line, then the fill)."""
    fig.add_trace(
        go.Scatter(
            x=x, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
        ),
        **where,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=colour,
            name=name,
            showlegend=legend,
            hoverinfo="skip",
        ),
        **where,
    )


def performance(data: DashboardData) -> go.Figure | None:
    """The key metric realised from labels (with its CI) and estimated, and label coverage."""
    perf = data.performance
    if not len(perf):
        return None
    metric = KEY_METRICS[data.model.task][0]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for kind, colour, fill in (
        ("realised", "#1565c0", "rgba(21,101,192,0.15)"),
        ("estimated", "#6a1b9a", "rgba(106,27,154,0.12)"),
    ):
        rows = perf[(perf["kind"] == kind) & (perf["metric"] == metric)]
        if not len(rows):
            continue
        if rows["ci_low"].notna().any():
            _band(
                fig,
                rows["day_start"],
                rows["ci_low"],
                rows["ci_high"],
                fill,
                f"{kind} 95 % CI",
                secondary_y=False,
            )
        fig.add_trace(
            go.Scatter(
                x=rows["day_start"],
                y=rows["value"],
                name=f"{kind} {metric}",
                line={"color": colour},
                mode="lines+markers",
            ),
            secondary_y=False,
        )
    coverage = perf.drop_duplicates("day_start")
    fig.add_trace(
        go.Bar(
            x=coverage["day_start"],
            y=coverage["coverage"],
            name="label coverage",
            marker={"color": "rgba(120,120,120,0.25)"},
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text=metric, secondary_y=False)
    fig.update_yaxes(title_text="coverage", tickformat=".0%", range=[0, 1], secondary_y=True)
    return _layout(fig, f"Performance by prediction day: {metric}, realised vs estimated")


def segment_performance(data: DashboardData) -> go.Figure | None:
    """The key metric realised from labels in each segment, per prediction day."""
    metric = f"realised_{KEY_METRICS[data.model.task][0]}"
    if not len(data.daily):
        return None
    rows = data.daily[(data.daily["metric"] == metric) & (data.daily["dimension"] != "")]
    if not len(rows):
        return None
    fig = go.Figure()
    for segment, series in rows.sort_values("period_start").groupby("dimension"):
        fig.add_trace(
            go.Scatter(
                x=series["period_start"], y=series["value"], name=segment, mode="lines+markers"
            )
        )
    return _layout(fig, f"Segments: {metric.removeprefix('realised_')} by prediction day", 380)


def calibration(data: DashboardData) -> go.Figure | None:
    """Calibration per day: ECE and Brier score (classifiers) or bias (regression)."""
    metrics = (
        ("realised_bias",)
        if data.model.task is Task.REGRESSION
        else ("realised_ece", "realised_brier")
    )
    fig = go.Figure()
    for metric in metrics:
        rows = _series(data.daily, metric)
        if len(rows):
            fig.add_trace(
                go.Scatter(
                    x=rows["period_start"],
                    y=rows["value"],
                    name=metric.removeprefix("realised_"),
                    mode="lines+markers",
                )
            )
    if not fig.data:
        return None
    return _layout(fig, "Calibration by prediction day")


def _in_window(data: DashboardData, chart) -> list:
    return sorted(t for t in chart.points if data.start <= t < data.end)


def _charts(data: DashboardData) -> list:
    """Judged series (all their points, as the checks see them), furthest out first."""
    settings = data.model.control_charts
    shown = [
        c
        for c in build_charts(data.charted, settings, "hourly")
        if c.points and _in_window(data, c)
    ]
    return sorted(shown, key=lambda c: -max(abs(c.points[t][3]) for t in _in_window(data, c)))


def control_charts(data: DashboardData) -> go.Figure | None:
    """The charted series that strayed furthest, with their 2 and 3 sigma limits."""
    charts = _charts(data)[:CONTROL_CHARTS_SHOWN]
    if not charts:
        return None
    fig = make_subplots(
        rows=len(charts),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[f"{c.title} ({c.version})" for c in charts],
        vertical_spacing=0.06,
    )
    for row, chart in enumerate(charts, start=1):
        times = _in_window(data, chart)
        value, centre, sigma = (pd.Series([chart.points[t][i] for t in times]) for i in (0, 1, 2))
        floor = 0.0 if chart.proportion else None
        for k, colour in ((3, "rgba(198,40,40,0.10)"), (2, "rgba(249,168,37,0.18)")):
            low = (centre - k * sigma).clip(lower=floor)
            _band(
                fig, times, low, centre + k * sigma, colour, f"{k} sigma", row == 1, row=row, col=1
            )
        fig.add_trace(
            go.Scatter(
                x=times,
                y=centre,
                line={"dash": "dot", "color": "#555"},
                name="centre",
                showlegend=row == 1,
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(x=times, y=value, name=chart.label, line={"color": "#1565c0"}),
            row=row,
            col=1,
        )
    return _layout(
        fig, "Control charts (2 and 3 sigma; the series furthest out)", 200 + 180 * len(charts)
    )


def cusum(data: DashboardData) -> go.Figure | None:
    """Page's CUSUM (C+ upward, C- downward) of the same series, with the decision interval."""
    charts = _charts(data)
    if not charts:
        return None
    settings = data.model.control_charts
    h = cusum_decision_interval(charts, settings)
    fig = go.Figure()
    for chart in charts[:CONTROL_CHARTS_SHOWN]:
        every = sorted(chart.points)  # the path from the end of the baseline, as the check's
        result = tabular_cusum([chart.points[t][3] for t in every], k=settings.cusum.k, h=h)
        keep = [i for i, t in enumerate(every) if data.start <= t < data.end]
        times = [every[i] for i in keep]
        upper = [float(result.upper[i]) for i in keep]
        lower = [-float(result.lower[i]) for i in keep]
        fig.add_trace(go.Scatter(x=times, y=upper, name=f"{chart.label} C+"))
        fig.add_trace(go.Scatter(x=times, y=lower, name=f"{chart.label} C-"))
    fig.add_hline(y=h, line={"dash": "dash", "color": COLOURS[RED]})
    fig.add_hline(y=-h, line={"dash": "dash", "color": COLOURS[RED]})
    return _layout(fig, f"CUSUM of the same series (decision interval h = {h:.2f})")
