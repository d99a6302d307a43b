"""HTML pages: one per model and day, and an index across models (no Dagster, no SQL).

Pages are static files that work offline: Plotly's JavaScript is written once next to them
(``plotly-<version>.min.js``), each chart's figure is embedded as JSON and drawn by a few lines
of script. Layout under the dashboard folder::

    index.html                 every model's tiers for the latest day built, links to the days
    plotly-<version>.min.js
    <day>/<model>.html         one model's page for one day
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
import plotly
import plotly.io as pio
from plotly.offline import get_plotlyjs

from modelmon_dagster.dashboard import figures
from modelmon_dagster.dashboard.data import DashboardData
from modelmon_dagster.dashboard.figures import COLOURS
from modelmon_dagster.dashboard.status import (
    TIER_QUESTIONS,
    TIERS,
    TierStatus,
    daily_grid,
    tier_statuses,
)
from modelmon_dagster.dashboard.urls import run_url

SECTIONS = {
    "system": (
        lambda d: figures.check_timeline(d, "system"),
        figures.volume,
        figures.latency,
        figures.error_rates,
        figures.host,
    ),
    "data": (
        lambda d: figures.check_timeline(d, "data"),
        figures.drift_heatmap,
        figures.segment_drift_heatmap,
    ),
    "model": (
        lambda d: figures.check_timeline(d, "model"),
        figures.performance,
        figures.segment_performance,
        figures.calibration,
        figures.control_charts,
        figures.cusum,
    ),
}
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("modelmon_dagster.dashboard", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def plotly_bundle_name() -> str:
    """File name of the Plotly bundle the pages load."""
    return f"plotly-{plotly.__version__}.min.js"


def write_plotly_bundle(folder: Path) -> Path:
    """Write Plotly's JavaScript into ``folder`` once (kept when it is there already)."""
    path = folder / plotly_bundle_name()
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(get_plotlyjs(), encoding="utf-8")
        tmp.replace(path)
    return path


def fmt(value, digits: int = 3) -> str:
    """A value for a person: rounded, and an em dash for missing ones."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return "—"
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


@dataclass(frozen=True)
class Chart:
    """One drawn chart: element id and figure JSON."""

    id: str
    figure_json: str


def _charts(data: DashboardData) -> dict[str, list[Chart]]:
    out = {}
    for tier, builders in SECTIONS.items():
        out[tier] = []
        for i, build in enumerate(builders):
            fig = build(data)
            if fig is not None:
                out[tier].append(Chart(f"chart-{tier}-{i}", pio.to_json(fig, validate=False)))
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows for a template, missing values as None (NaN is true: a person's deploy has no run)."""
    if not len(frame):
        return []
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def model_page(data: DashboardData) -> tuple[str, dict[str, TierStatus]]:
    """The model's page for ``data.day`` and the tiers' status it shows."""
    statuses = tier_statuses(data.day_checks)
    first = data.checks["period_start"].min().normalize() if len(data.checks) else data.day
    grid = daily_grid(data.checks, [d for d in data.days if d >= first])
    page = _ENV.get_template("model.html.j2").render(
        model=data.model,
        day=data.day,
        statuses=statuses,
        questions=TIER_QUESTIONS,
        tiers=TIERS,
        colours=COLOURS,
        grid=grid,
        alerts=_records(data.open_alerts),
        actions=_records(data.actions),
        charts=_charts(data),
        bundle=f"../{plotly_bundle_name()}",
        run_url=run_url,
        fmt=fmt,
    )
    return page, statuses


def write_model_page(folder: Path, data: DashboardData) -> tuple[Path, dict[str, TierStatus]]:
    """Write ``<folder>/<day>/<model>.html`` (and the Plotly bundle); return path and status."""
    write_plotly_bundle(folder)
    page, statuses = model_page(data)
    path = folder / f"{data.day:%Y-%m-%d}" / f"{data.model.name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path, statuses


@dataclass(frozen=True)
class IndexRow:
    """One model on the index: its tiers on the day, open alerts, and the last days' grid."""

    model_name: str
    statuses: dict[str, TierStatus]
    open_alerts: int
    grid: pd.DataFrame  # days x tiers, colours


def index_row(data: DashboardData) -> IndexRow:
    """A model's index row from its dashboard data."""
    return IndexRow(
        data.model.name,
        tier_statuses(data.day_checks),
        len(data.open_alerts),
        daily_grid(data.checks, data.days),
    )


def write_index(folder: Path, day: dt.datetime, rows: list[IndexRow]) -> Path:
    """Write ``index.html``: each model's tiers on ``day`` and over the days before it.

    Lists every day that has pages, so older days stay one click away.
    """
    folder.mkdir(parents=True, exist_ok=True)
    days = sorted(
        (p.name for p in folder.iterdir() if p.is_dir() and p.name[:2] == "20"), reverse=True
    )
    page = _ENV.get_template("index.html.j2").render(
        day=day, rows=rows, tiers=TIERS, colours=COLOURS, days=days
    )
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def markdown_summary(model_name: str, day: dt.datetime, statuses: dict[str, TierStatus]) -> str:
    """The tiers' status and their worst findings, as Markdown for the Dagster UI."""
    lines = [f"**{model_name}** on {day:%Y-%m-%d}", "", "| tier | status | worst finding |"]
    lines.append("|---|---|---|")
    for tier in TIERS:
        s = statuses[tier]
        lines.append(f"| {tier} | {s.colour} | {s.headline.replace('|', '/')} |")
    return "\n".join(lines)
