"""The health dashboard: tier colours, numbers equal to the warehouse, and the page in a browser.

The pages are built by the real Dagster job over two simulated days of demand_forecaster
(the demo preset: an error burst on day 1, 20:00-21:00), on a real DuckDB warehouse.
"""

import base64
import dataclasses
import datetime as dt
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from browser import browser_page
from pipeline import Pipeline, only, simulated

from modelmon_dagster.checks import FAILED, NOT_JUDGED, PASSED
from modelmon_dagster.dashboard import figures
from modelmon_dagster.dashboard.data import DashboardData, load_dashboard_data
from modelmon_dagster.dashboard.page import model_page
from modelmon_dagster.dashboard.status import (
    AMBER,
    GREEN,
    GREY,
    RED,
    colour_of,
    daily_grid,
    tier_of,
    tier_statuses,
)
from modelmon_dagster.defs.dashboard.assets import DASHBOARD_JOB
from modelmon_dagster.sim import demo_scenarios
from modelmon_dagster.warehouse import Warehouse

DAY0 = dt.datetime(2026, 11, 16)
DAY1 = DAY0 + dt.timedelta(days=1)
MODEL = "demand_forecaster"


def result(asset, check, status, severity="ERROR", at=DAY0, grain="hourly", description=""):
    return {
        "asset_name": asset,
        "check_name": check,
        "grain": grain,
        "status": status,
        "severity": severity,
        "period_start": pd.Timestamp(at),
        "partition_key": f"{at:%Y-%m-%d-%H:%M}",
        "description": description,
        "run_id": None,
    }


def frame(*rows):
    return pd.DataFrame(list(rows))


# --- tier status logic -------------------------------------------------------------------------


def test_a_verdict_is_red_amber_green_or_grey_and_not_judged_is_never_red():
    assert colour_of(FAILED, "ERROR") == RED
    assert colour_of(FAILED, "WARN") == AMBER
    assert colour_of(PASSED, "ERROR") == GREEN
    assert colour_of(NOT_JUDGED, "ERROR") == GREY
    with pytest.raises(ValueError):
        colour_of("skipped", "ERROR")


def test_checks_belong_to_the_tier_they_report_on():
    assert tier_of("hourly_prediction_stats", "latency") == "system"
    assert tier_of("hourly_prediction_stats", "volume") == "system"
    assert tier_of("raw_predictions", "schema") == "data"
    assert tier_of("daily_drift", "segment_drift") == "data"
    assert tier_of("daily_performance", "calibration") == "model"
    assert tier_of("hourly_metrics", "cusum") == "model"


def test_a_tier_takes_its_worst_check_and_each_check_its_latest_partition():
    later = DAY0 + dt.timedelta(hours=1)
    statuses = tier_statuses(
        frame(
            # latency failed at 00:00 and recovered at 01:00: the latest verdict is green
            result("hourly_prediction_stats", "latency", FAILED, "ERROR", DAY0),
            result("hourly_prediction_stats", "latency", PASSED, "ERROR", later),
            result("hourly_prediction_stats", "error_rate", FAILED, "WARN", later, description="x"),
            result("raw_predictions", "schema", FAILED, "ERROR", later, description="broken"),
            result("raw_predictions", "data_quality", PASSED, "WARN", later),
            result("daily_performance", "performance", NOT_JUDGED, "ERROR", DAY0, "daily"),
        )
    )
    assert statuses["system"].colour == AMBER
    assert statuses["data"].colour == RED
    assert statuses["data"].findings[0].check == "raw_predictions.schema"
    assert "broken" in statuses["data"].headline
    assert statuses["data"].advice.startswith("Records missing features")
    assert statuses["model"].advice is None
    assert statuses["model"].colour == GREY  # not judged only: grey, not red
    assert "not judged" in statuses["model"].headline


def test_a_not_judged_check_does_not_hide_a_passing_one():
    statuses = tier_statuses(
        frame(
            result("hourly_prediction_stats", "volume", NOT_JUDGED, "ERROR"),
            result("hourly_prediction_stats", "latency", PASSED, "ERROR"),
        )
    )
    assert statuses["system"].colour == GREEN
    assert statuses["system"].headline == "1 checks passed, 1 not judged"
    assert tier_statuses(frame())["system"].colour == GREY


def test_the_day_grid_keeps_an_incident_that_recovered_on_its_day_and_tier():
    results = frame(
        result(
            "hourly_prediction_stats", "error_rate", FAILED, "ERROR", DAY1 + dt.timedelta(hours=20)
        ),
        result(
            "hourly_prediction_stats", "error_rate", PASSED, "ERROR", DAY1 + dt.timedelta(hours=23)
        ),
        result("hourly_drift", "feature_drift", PASSED, "WARN", DAY0),
    )
    grid = daily_grid(results, [pd.Timestamp(DAY0), pd.Timestamp(DAY1)])
    assert grid.loc[pd.Timestamp(DAY1), "system"] == RED
    assert grid.loc[pd.Timestamp(DAY0), "system"] == GREY
    assert grid.loc[pd.Timestamp(DAY0), "data"] == GREEN
    assert tier_statuses(results)["system"].colour == GREEN  # the latest hour passed


# --- pages built by the Dagster job over two simulated days ------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory, demo_config):
    config = dataclasses.replace(only(demo_config, MODEL), partitions_start=DAY0)
    pipeline, settings = simulated(
        tmp_path_factory.mktemp("dashboard"), config, DAY0, 2, demo_scenarios(DAY0)
    )
    for day in (DAY0, DAY1):
        pipeline.backfill("hourly", day, day + dt.timedelta(hours=23))
        pipeline.day(day)
    run = pipeline.run(DASHBOARD_JOB, partition_key=f"{DAY1:%Y-%m-%d}")
    folder = settings.data_dir / "dashboard"
    warehouse = Warehouse(settings.warehouse_url)
    yield {
        "folder": folder,
        "page": folder / f"{DAY1:%Y-%m-%d}" / f"{MODEL}.html",
        "run": run,
        "warehouse": warehouse,
    }
    warehouse.dispose()


def figures_of(page: Path) -> dict:
    """Each embedded chart's figure, by its title."""
    blobs = re.findall(
        r'<script type="application/json" class="figure" data-target="[^"]+">(.*?)</script>',
        page.read_text(),
        flags=re.S,
    )
    figures = [pio.from_json(b) for b in blobs]
    return {f.layout.title.text: f for f in figures}


def values_of(array) -> np.ndarray:
    """A figure's array as numbers (plotly writes numeric arrays as typed base64 blobs)."""
    if isinstance(array, dict):
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        shape = array.get("shape")
        return flat.reshape([int(n) for n in shape.split(",")]) if shape else flat
    return np.asarray(array)


def trace(figure, name):
    return next(t for t in figure.data if t.name == name)


def test_a_deploy_by_a_person_has_no_run_and_the_page_still_renders(built, demo_config):
    # registry events without a run id (a person's deploy) come back from SQL as NaN, which a
    # template takes for true; `make demo` failed on it
    data = load_dashboard_data(built["warehouse"], demo_config.model(MODEL), DAY1)
    deploy = {
        "kind": "promoted",
        "version": "hotfix-1",
        "from_version": "v1",
        "at": pd.Timestamp(DAY1),
        "actor": "user:ci",
        "reason": "hotfix",
        "trigger_check": None,
        "trigger_partition": None,
        "trigger_severity": None,
        "trigger_rule": None,
        "run_id": None,
    }
    actions = pd.DataFrame([deploy, deploy | {"version": "hotfix-2", "run_id": "abcdef0123456789"}])
    assert actions["run_id"].isna().iloc[0]
    html, _ = model_page(dataclasses.replace(data, actions=actions))
    assert "hotfix-1" in html and "runs/abcdef0123456789" in html


def test_the_pages_are_written_offline_with_one_plotly_bundle(built):
    folder = built["folder"]
    bundles = list(folder.glob("plotly-*.min.js"))
    assert len(bundles) == 1 and bundles[0].stat().st_size > 1_000_000
    html = built["page"].read_text()
    assert f'src="../{bundles[0].name}"' in html
    assert "cdn" not in html.lower() and "https://" not in html
    index = (folder / "index.html").read_text()
    assert f'href="{DAY1:%Y-%m-%d}/{MODEL}.html"' in index


def test_hourly_numbers_on_the_page_are_the_warehouse_s(built):
    figures = figures_of(built["page"])
    wh = built["warehouse"]
    stored = wh.query_df(
        "SELECT period_start, metric, value FROM metric_series WHERE model_name = :m "
        "AND grain = 'hourly' AND dimension = '' AND metric IN ('volume', 'latency_p99_ms', "
        "'error_rate')",
        {"m": MODEL},
    )
    expected = {(r.metric, pd.Timestamp(r.period_start)): r.value for r in stored.itertuples()}
    for title, name, metric in (
        ("Volume per hour", "predictions", "volume"),
        ("Latency per hour (ms)", "p99", "latency_p99_ms"),
        ("Error, timeout and schema-error rates per hour", "error rate", "error_rate"),
    ):
        t = trace(figures[title], name)
        y = values_of(t.y)
        assert len(t.x) == len(y) == 48
        for i in (0, 17, 44, 47):  # sampled cells, 44 = day 1 20:00, the error burst
            assert y[i] == pytest.approx(expected[(metric, pd.Timestamp(t.x[i]))])
    burst = values_of(
        trace(figures["Error, timeout and schema-error rates per hour"], "error rate").y
    )
    assert burst.argmax() in (44, 45) and burst.max() > 0.05


def test_drift_cells_and_flags_are_the_warehouse_s(built):
    figure = figures_of(built["page"])["Drift effect size per column and day (x = flagged)"]
    heat = figure.data[0]
    stored = built["warehouse"].query_df(
        "SELECT day_start, column_name, effect_size, drifted FROM daily_column_drift "
        "WHERE model_name = :m AND effect_size IS NOT NULL",
        {"m": MODEL},
    )
    assert list(heat.x) == [f"{DAY0:%Y-%m-%d}", f"{DAY1:%Y-%m-%d}"]
    for r in stored.sample(min(len(stored), 8), random_state=1).itertuples():
        cell = values_of(heat.z)[list(heat.y).index(r.column_name)][
            list(heat.x).index(f"{r.day_start:%Y-%m-%d}")
        ]
        assert cell == pytest.approx(r.effect_size)
    flagged = {(x, y) for f in figure.data[1:] for x, y in zip(f.x, f.y, strict=True)}
    assert flagged == {
        (f"{r.day_start:%Y-%m-%d}", r.column_name) for r in stored.itertuples() if r.drifted
    }


def test_segment_performance_on_the_page_is_the_warehouse_s(built):
    figure = figures_of(built["page"])["Segments: mae by prediction day"]
    stored = built["warehouse"].query_df(
        "SELECT period_start, dimension, value FROM metric_series WHERE model_name = :m "
        "AND grain = 'daily' AND metric = 'realised_mae' AND dimension <> ''",
        {"m": MODEL},
    )
    assert {t.name for t in figure.data} == set(stored["dimension"])
    for r in stored.itertuples():
        line = trace(figure, r.dimension)
        i = [pd.Timestamp(x) for x in line.x].index(pd.Timestamp(r.period_start))
        assert values_of(line.y)[i] == pytest.approx(r.value)


def test_the_status_line_and_day_grid_follow_the_stored_verdicts(built):
    html = built["page"].read_text()
    wh = built["warehouse"]
    results = wh.query_df("SELECT * FROM check_results WHERE model_name = :m", {"m": MODEL})
    results["period_start"] = pd.to_datetime(results["period_start"])
    expected = tier_statuses(results[results["period_start"] >= DAY1])
    for tier, status in expected.items():
        assert f'id="tier-{tier}" data-status="{status.colour}"' in html
    # the error burst (day 1, 20:00-21:00) is red in the system tier on day 1 only
    burst = results[(results["check_name"] == "error_rate") & (results["status"] == FAILED)]
    assert set(burst["period_start"].dt.normalize()) == {pd.Timestamp(DAY1)}
    cells = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>\s*(.*?)</tr>", html, flags=re.S)
    grid = {d: re.findall(r'data-status="(\w+)"', row) for d, row in cells}
    assert grid[f"{DAY1:%Y-%m-%d}"][0] == RED
    assert grid[f"{DAY0:%Y-%m-%d}"][0] != RED
    # and the index's week shows it on the same day and tier
    index = (built["folder"] / "index.html").read_text()
    week = re.search(r'<table id="week">(.*?)</table>', index, flags=re.S).group(1)
    heads = re.findall(r"<th>(\d\d-\d\d)</th>", week)
    cells = re.findall(r"<td>(<span.*?)</td>", week, flags=re.S)
    by_day = dict(zip(heads, cells, strict=True))
    assert 'title="system: red"' in by_day[f"{DAY1:%m-%d}"]
    assert 'title="system: red"' not in by_day[f"{DAY0:%m-%d}"]


def test_the_asset_describes_the_day_in_its_metadata(built):
    meta = Pipeline.metadata(built["run"], MODEL, "health_dashboard")
    assert "| system |" in meta["summary"] and f"{DAY1:%Y-%m-%d}" in meta["summary"]
    assert meta["url"].endswith(f"/{DAY1:%Y-%m-%d}/{MODEL}.html")
    assert meta["page"] == str(built["page"])
    assert {meta[f"{t}_status"] for t in ("system", "data", "model")} <= {0, 1, 2, 3}
    volume = built["warehouse"].scalar(
        "SELECT value FROM metric_series WHERE model_name = :m AND grain = 'daily' "
        "AND metric = 'volume' AND dimension = '' AND period_start = :d",
        {"m": MODEL, "d": DAY1},
    )
    assert meta["volume"] == volume > 1000
    assert 0 < meta["realised_mae"] and 0 < meta["label_coverage"] <= 1


# --- the page in a real browser ----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_the_page_renders_every_chart_in_headless_chromium(built, tmp_path):
    began = time.perf_counter()
    with browser_page() as (page, errors):
        page.goto(built["page"].as_uri())
        charts = page.locator("div.chart")
        assert charts.count() == len(figures_of(built["page"])) >= 8
        page.wait_for_selector("body[data-charts-drawn]", timeout=30_000)
        assert page.locator("body").get_attribute("data-charts-drawn") == str(charts.count())
        drawn = page.eval_on_selector_all(
            "div.chart", "els => els.map(e => e.querySelectorAll('.trace, .hm').length)"
        )
        assert all(n > 0 for n in drawn), drawn
        assert page.locator("#tier-system").get_attribute("data-status") in (
            GREEN,
            AMBER,
            RED,
            GREY,
        )
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        page.goto((built["folder"] / "index.html").as_uri())
        assert page.locator("#models td.cell").count() == 3
    assert errors == []
    assert time.perf_counter() - began < 60


# --- control charts and CUSUM (the 2-day fixture is still inside the charts' baseline) --------


def test_control_chart_and_cusum_figures_show_a_shift_after_the_baseline(demand):
    rng = np.random.default_rng(3)
    hours = pd.date_range(DAY0, periods=96, freq="h")
    values = 100 + rng.normal(0, 5, len(hours))
    values[80:] += 40  # day 3, 08:00 onward: beyond 3 sigma
    charted = pd.DataFrame(
        {
            "model_name": MODEL,
            "grain": "hourly",
            "period_start": hours,
            "metric": "latency_p99_ms",
            "dimension": "",
            "value": values,
            "n": 100.0,
            "events": None,
            "model_version": "v1",
        }
    )
    empty = pd.DataFrame()
    data = DashboardData(
        model=demand,
        day=DAY0 + dt.timedelta(days=3),
        start=DAY0,
        end=DAY0 + dt.timedelta(days=4),
        hourly=empty,
        daily=empty,
        checks=empty,
        column_drift=empty,
        segment_drift=empty,
        performance=empty,
        charted=charted,
        open_alerts=empty,
        actions=empty,
    )
    chart = figures.control_charts(data)
    line = trace(chart, "latency_p99_ms")
    y = values_of(line.y)
    assert len(y) == 48  # judged after the 2 baseline days
    assert y == pytest.approx(values[48:])
    upper3 = values_of(chart.data[0].y)  # the 3-sigma band's upper edge
    assert (y[32:] > upper3[32:]).all() and (y[:32] < upper3[:32]).all()
    assert sum(t.name in ("3 sigma", "2 sigma") and t.showlegend for t in chart.data) == 2
    path = figures.cusum(data)
    h = path.layout.shapes[0].y0
    upward = values_of(trace(path, "latency_p99_ms C+").y)
    assert upward[:32].max() < h < upward[33:].max()


def test_check_evaluations_name_their_partition_and_link_the_day_s_page():
    import dagster as dg

    from modelmon_dagster.checks import CheckOutcome
    from modelmon_dagster.defs.checks import check_evaluation

    outcome = CheckOutcome("error_rate", False, "ERROR", "error rate 12 %", {"rate": 0.123456})
    key = dg.AssetKey([MODEL, "hourly_prediction_stats"])
    evaluation = check_evaluation(outcome, key, "2026-11-17-20:00")
    assert evaluation.metadata["partition"].value == "2026-11-17-20:00"
    assert evaluation.metadata["dashboard"].value == (
        f"http://127.0.0.1:8050/2026-11-17/{MODEL}.html"
    )
    assert evaluation.metadata["rate"].value == 0.1235


def test_every_check_of_the_code_location_has_guidance_on_the_page():
    from modelmon_dagster.dashboard.guidance import GUIDANCE

    inventory = json.loads((Path(__file__).parent / "snapshots" / "inventory.json").read_text())
    names = {check.rsplit(":", 1)[-1] for check in inventory["checks"]}
    assert names and names <= set(GUIDANCE)
