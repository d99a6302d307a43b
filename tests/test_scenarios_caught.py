"""The simulator's injected problems are caught on the right partitions; clean ones are not.

The real pipeline functions run over five simulated days of the demo preset (day 0 =
2026-11-16), on DuckDB and on PostgreSQL; both engines must reach the same verdicts on the same
numbers. Hourly SQL models and drift run over whole-day windows (they are
window-generic), which keeps this test fast; the Dagster wiring is tested elsewhere.
"""

import datetime as dt

import pandas as pd
import pytest
from engines import ENGINES, PerEngine, assert_same_tables

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_COLUMNS,
    BASELINE_SEGMENT_BINS,
    baseline_id_for,
    baseline_tables,
    build_baseline,
    load_baseline,
    segment_reference_table,
    with_labels,
)
from modelmon_dagster.checks import blocked_columns, schema_outcome
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.drift import (
    FEATURE_ROLES,
    OUTPUT_ROLES,
    compute_drift,
    compute_segment_drift,
    segment_drift_outcome,
    write_drift,
    write_segment_drift,
)
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.ingest.parser import parse_label_files, parse_prediction_files
from modelmon_dagster.quality.suite import validate_batch
from modelmon_dagster.sim import demo_scenarios, simulate
from modelmon_dagster.sql import SqlProject, run_model_window
from modelmon_dagster.volume import volume_outcome
from modelmon_dagster.warehouse import Replacement

START = dt.datetime(2026, 11, 16)
DAYS = 5


def day(d: int, h: int = 0) -> dt.datetime:
    return START + dt.timedelta(days=d, hours=h)


def build_world(wh, root, config) -> dict:
    """Ingest the simulated days and run the SQL models and drift on ``wh``."""
    project = SqlProject.load(SQL_PROJECT_DIR)
    ingested = {}
    for model in config.models:
        ref = parse_prediction_files([root / model.baseline.reference_predictions], model)
        labels = parse_label_files([root / model.baseline.reference_labels], model)
        frame = with_labels(ref.rows.to_pandas(), labels.rows.to_pandas())
        fixed = build_baseline(model, frame, baseline_id_for(model, model.baseline, ["sim"]))
        bins, cols = baseline_tables(fixed, frame)
        where, params = "model_name = :m", {"m": model.name}
        wh.replace_many(
            [
                Replacement(BASELINE_BINS, where, params, rows=bins),
                Replacement(BASELINE_COLUMNS, where, params, rows=cols),
                Replacement(
                    BASELINE_SEGMENT_BINS,
                    where,
                    params,
                    rows=segment_reference_table(model, fixed, frame),
                ),
            ]
        )
        baseline = load_baseline(wh, model)
        for d in range(DAYS):
            for h in range(24):
                ingested[(model.name, day(d, h))] = load_prediction_hour(
                    wh, model, root / "logs", day(d, h)
                )
                load_label_hour(wh, model, root / "logs", day(d, h))
            for grain, end in (("hourly", day(d + 1)), ("daily", day(d + 1))):
                for sql_model in project.by_grain(grain):
                    run_model_window(wh, project, sql_model, model, day(d), end, baseline)
                write_drift(
                    wh, grain, model, day(d), end, compute_drift(wh, model, grain, day(d), end)
                )
            write_segment_drift(
                wh, model, day(d), day(d + 1), compute_segment_drift(wh, model, day(d), day(d + 1))
            )
    return {"wh": wh, "config": config, "ingested": ingested}


@pytest.fixture(scope="module")
def worlds(request, tmp_path_factory, demo_config):
    root = tmp_path_factory.mktemp("scenarios")
    simulate(demo_config, root, START, DAYS, seed=42, scenarios=demo_scenarios(START))
    per_engine = PerEngine(request, lambda wh: build_world(wh, root, demo_config))
    yield per_engine
    per_engine.close()


@pytest.fixture(scope="module", params=ENGINES)
def world(request, worlds):
    return worlds[request.param]


def drifted(wh, grain: str, model: str, roles) -> pd.DataFrame:
    time_col = "hour_start" if grain == "hourly" else "day_start"
    frame = wh.query_df(
        f"SELECT * FROM {grain}_column_drift WHERE model_name = :m AND drifted", {"m": model}
    )
    frame = frame[frame["column_role"].isin(roles)]
    return frame.assign(day=(frame[time_col] - START).dt.days)


def test_fraud_feature_drift_on_day_3_only(world):
    daily = drifted(world["wh"], "daily", "fraud_detector", FEATURE_ROLES)
    by_day = daily.groupby("day")["column_name"].apply(set).to_dict()
    assert {"amount", "country"} <= by_day[3] and {"amount", "country"} <= by_day[4]
    assert 0 not in by_day and 1 not in by_day and 2 not in by_day
    hourly = drifted(world["wh"], "hourly", "fraud_detector", FEATURE_ROLES)
    assert hourly[hourly["day"] <= 2].empty, hourly[hourly["day"] <= 2]
    day3_hours = hourly[hourly["day"] == 3]["hour_start"].nunique()
    assert day3_hours >= 20


def test_fraud_prediction_drift_follows_the_input_drift(world):
    daily = drifted(world["wh"], "daily", "fraud_detector", OUTPUT_ROLES)
    assert set(daily["day"]) == {3, 4}
    assert "score" in set(daily["column_name"])


def test_demand_slow_temperature_ramp_from_day_2(world):
    # +4 degC over 8 days (0.5 degC a day): the daily check sees it from its second day
    daily = drifted(world["wh"], "daily", "demand_forecaster", FEATURE_ROLES)
    assert set(daily["column_name"]) == {"temperature_c"}
    assert set(daily["day"]) == {3, 4}
    effects = (
        world["wh"]
        .query_df(
            "SELECT day_start, effect_size FROM daily_column_drift "
            "WHERE model_name = 'demand_forecaster' AND column_name = 'temperature_c' ORDER BY 1"
        )["effect_size"]
        .tolist()
    )
    assert effects[2] < effects[3] < effects[4]  # the ramp grows


def test_clean_hours_raise_no_hourly_drift(world):
    for model in ("fraud_detector", "demand_forecaster"):
        hourly = drifted(world["wh"], "hourly", model, FEATURE_ROLES + OUTPUT_ROLES)
        assert hourly[hourly["day"] <= 1].empty, hourly[hourly["day"] <= 1][
            ["hour_start", "column_name"]
        ]


def test_volume_drop_flagged_on_exactly_its_hours(world):
    model = world["config"].model("demand_forecaster")
    failed = {h for h in range(24) if not volume_outcome(world["wh"], model, day(4, h)).passed}
    assert failed == set(range(6, 12))
    assert all(volume_outcome(world["wh"], model, day(3, h)).passed for h in range(24))


def test_schema_break_is_an_error_only_in_its_hours(world):
    model = world["config"].model("fraud_detector")
    baseline = load_baseline(world["wh"], model)
    complete = {c.column.name: c.categories_complete for c in baseline.columns}
    severities, blocked = {}, {}
    for h in (11, 12, 13, 14):
        ingest = world["ingested"][(model.name, day(4, h))]
        rows = ingest.table.to_pandas()
        report = validate_batch(rows, model, baseline, complete)
        blocked[h] = blocked_columns(ingest, rows, model)
        outcome = schema_outcome(ingest, report, blocked[h], model.thresholds)
        severities[h] = "pass" if outcome.passed else outcome.severity
    assert severities == {11: "pass", 12: "ERROR", 13: "ERROR", 14: "pass"}
    # 30 % of account_age_days mistyped and 20 % of merchant_category missing: both blocked
    assert set(blocked[12]) == {"account_age_days", "merchant_category"}
    assert not blocked[11] and not blocked[14]


def test_malformed_lines_are_quarantined_in_their_hour(world):
    quarantined = {
        h: world["ingested"][("fraud_detector", day(4, h))].quarantined for h in range(24)
    }
    assert quarantined[9] > 0
    assert sum(quarantined.values()) == quarantined[9]


def test_segment_drift_against_each_segments_own_reference(world):
    rows = world["wh"].query_df(
        "SELECT * FROM daily_segment_drift WHERE model_name = 'fraud_detector'"
    )
    rows["day"] = (rows["day_start"] - START).dt.days
    model = world["config"].model("fraud_detector")
    for d in (0, 1, 2):
        outcome = segment_drift_outcome(rows[rows["day"] == d], model)
        assert outcome.passed, (d, outcome.description)
        assert outcome.metadata["pairs_tested"] > 50
    day3 = segment_drift_outcome(rows[rows["day"] == 3], model)
    assert not day3.passed and day3.severity == "ERROR"
    drifted = rows[(rows["day"] == 3) & rows["drifted"].astype(bool)]
    amount_segments = set(drifted.loc[drifted["column_name"] == "amount", "segment_value"])
    assert len(amount_segments) >= 5  # the amount shift shows inside most countries and merchants
    small = rows[rows["severity"] == "TOO_FEW_ROWS"]
    assert (small[["n_cur", "n_ref"]].min(axis=1) < 200).all()


def null_changes(wh, grain: str, model: str) -> pd.DataFrame:
    time_col = "hour_start" if grain == "hourly" else "day_start"
    frame = wh.query_df(
        f"SELECT * FROM {grain}_column_drift WHERE model_name = :m AND null_changed",
        {"m": model},
    )
    return frame.assign(day=(pd.to_datetime(frame[time_col]) - START).dt.days)


def test_null_rates_flag_the_missing_features_and_nothing_on_clean_days(world):
    # Day 4 12:00-14:00: account_age_days sent as "n/a" (30 %, stored as null) and
    # merchant_category missing (20 %). device_type is optional and often absent on every day:
    # its null rate is the reference's, so it is never flagged.
    hourly = null_changes(world["wh"], "hourly", "fraud_detector")
    flagged = {
        (r.hour_start.hour, r.column_name): r.null_severity
        for r in hourly.itertuples()
        if r.day == 4
    }
    assert flagged == {
        (12, "account_age_days"): "ERROR",
        (12, "merchant_category"): "ERROR",
        (13, "account_age_days"): "ERROR",
        (13, "merchant_category"): "ERROR",
    }
    assert hourly[hourly["day"] != 4].empty, hourly[["hour_start", "column_name"]]
    daily = null_changes(world["wh"], "daily", "fraud_detector")
    assert set(zip(daily["day"], daily["column_name"], strict=True)) == {
        (4, "account_age_days"),
        (4, "merchant_category"),
    }
    assert null_changes(world["wh"], "hourly", "demand_forecaster").empty
    device = world["wh"].query_df(
        "SELECT null_rate_ref FROM daily_column_drift WHERE column_name = 'device_type'"
    )
    assert (device["null_rate_ref"] > 0.01).all()  # a real, stable null rate


@pytest.mark.postgres
def test_both_engines_reach_the_same_verdicts_on_the_same_numbers(worlds):
    # Every drift row (p-values, effects, floors, drifted flags, severities) and the tables they
    # are computed from, row for row; floats to 1e-9 relative.
    tables = [
        "hourly_column_drift",
        "daily_column_drift",
        "daily_segment_drift",
        "hourly_feature_histograms",
        "daily_feature_histograms",
        "hourly_feature_stats",
        "daily_feature_stats",
    ]
    assert_same_tables(worlds["duckdb"]["wh"], worlds["postgres"]["wh"], tables)
