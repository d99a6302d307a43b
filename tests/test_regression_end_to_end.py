"""A regression model end to end through Dagster, on raw rows (issue #10).

Raw prediction and label log lines of the demo's regression model go through the real hourly
runs (ingestion, hourly aggregates) and daily runs (performance counts, daily performance, the
checks). Two days are labelled, 80 % of their predictions, and 40 % of those labels are
corrected an hour later: every metric, overall and per ``store_region``, equals scikit-learn's
on the raw rows with the latest label of each prediction, to 1e-9. The corrections of the
second day are far off, so only the latest labels make it a degraded day; the third day has no
labels at all.
"""

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from factories import labels_then_corrections, write_hour, write_labels, write_reference
from pipeline import Pipeline, only
from sklearn import metrics

from modelmon_dagster.check_results import latest_results
from modelmon_dagster.performance import ALL
from modelmon_dagster.warehouse import Warehouse

DAYS = [dt.datetime(2026, 11, 16) + dt.timedelta(days=d) for d in range(3)]
CLEAN, DEGRADED, UNLABELLED = DAYS
PREDICTION_HOURS = (2, 3)
ROWS_PER_HOUR = 600
REFERENCE_NOISE = 5.0  # write_reference's labels: prediction + N(0, 5)
CORRECTION_NOISE = {CLEAN: REFERENCE_NOISE, DEGRADED: 20.0}
RELATIVE = 1e-9


def write_day(logs_root, model, day, rng):
    """Write the day's raw lines; return its ok records, first labels and latest labels."""
    records = [
        r
        for h in PREDICTION_HOURS
        for r in write_hour(logs_root, model, day + dt.timedelta(hours=h), ROWS_PER_HOUR, seed=21)
    ]
    ok = [r for r in records if r["status"] == "ok"]
    if day not in CORRECTION_NOISE:
        return ok, {}, {}

    def draw(record, previous):
        noise = REFERENCE_NOISE if previous is None else CORRECTION_NOISE[day]
        return round(record["prediction"] + float(rng.normal(0.0, noise)), 4)

    first, corrections = labels_then_corrections(ok, rng, draw)
    arrival = day + dt.timedelta(days=1, hours=5)
    write_labels(logs_root, model, arrival, first)
    write_labels(logs_root, model, arrival + dt.timedelta(hours=1), corrections)
    return ok, first, first | corrections


def sklearn_metrics(y_true, y_pred) -> dict[str, float]:
    return {
        "mae": metrics.mean_absolute_error(y_true, y_pred),
        "rmse": math.sqrt(metrics.mean_squared_error(y_true, y_pred)),
        "r2": metrics.r2_score(y_true, y_pred),
        "bias": float(np.mean(y_pred - y_true)),
        "mape": metrics.mean_absolute_percentage_error(y_true, y_pred),
    }


@pytest.fixture
def ran(settings, demo_config, demand):
    config = only(demo_config, demand.name)
    write_reference(
        settings.data_dir / demand.baseline.reference_predictions,
        demand,
        4000,
        labels_path=settings.data_dir / demand.baseline.reference_labels,
    )
    rng = np.random.default_rng(2026)
    days = {day: write_day(settings.logs_root, demand, day, rng) for day in DAYS}
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    # every hour from the first predictions to the last label arrival, in one ranged run
    last_arrival = DEGRADED + dt.timedelta(days=1, hours=6)
    pipeline.backfill("hourly", CLEAN + dt.timedelta(hours=PREDICTION_HOURS[0]), last_arrival)
    checks = {}
    for day in DAYS:
        result = pipeline.day(day)
        checks[day] = {e.check_name: e for e in result.get_asset_check_evaluations()}
    wh = Warehouse(settings.warehouse_url)
    yield {"wh": wh, "days": days, "checks": checks, "pipeline": pipeline, "config": config}
    wh.dispose()


def test_metrics_equal_scikit_learn_on_the_raw_rows_with_the_latest_labels(ran, demand):
    perf = ran["wh"].query_df(
        "SELECT * FROM daily_performance WHERE model_name = :m AND kind = 'realised'",
        {"m": demand.name},
    )
    perf["day_start"] = pd.to_datetime(perf["day_start"])
    for day in (CLEAN, DEGRADED):
        ok, _, latest = ran["days"][day]
        rows = pd.DataFrame(
            {
                "region": [r["features"]["store_region"] for r in ok],
                "y_pred": [r["prediction"] for r in ok],
                "y_true": [latest.get(r["prediction_id"], math.nan) for r in ok],
            }
        )
        labelled = rows.dropna(subset=["y_true"])
        scopes = {(ALL, ALL): labelled} | {
            ("store_region", region): part for region, part in labelled.groupby("region")
        }
        assert len(scopes) == 5  # overall and the four regions
        for (column, value), part in scopes.items():
            got = perf[
                (perf["day_start"] == day)
                & (perf["segment_column"] == column)
                & (perf["segment_value"] == value)
            ].set_index("metric")
            expected = sklearn_metrics(part["y_true"].to_numpy(), part["y_pred"].to_numpy())
            for metric, oracle in expected.items():
                assert got.loc[metric, "value"] == pytest.approx(oracle, rel=RELATIVE), (
                    day,
                    value,
                    metric,
                )
            assert (got["n_labelled"] == len(part)).all(), (day, value)
        overall = perf[(perf["day_start"] == day) & (perf["segment_column"] == ALL)]
        assert overall["coverage"].iloc[0] == pytest.approx(len(labelled) / len(ok), rel=1e-12)
    # the corrections decide the second day: by its first labels alone it is as clean as the
    # first day (and the reference, MAE 5 * sqrt(2 / pi)), by the latest it is not
    ok, first, latest = ran["days"][DEGRADED]
    pred = {r["prediction_id"]: r["prediction"] for r in ok}
    for labels, low, high in ((first, 3.7, 4.3), (latest, 7.0, 11.0)):
        mae = np.mean([abs(pred[pid] - y) for pid, y in labels.items()])
        assert low < mae < high, (low, mae, high)


def test_clean_day_passes_degraded_day_fails_unlabelled_day_is_not_judged(ran, settings, demand):
    clean = ran["checks"][CLEAN]["performance"]
    assert clean.passed, clean.description
    degraded = ran["checks"][DEGRADED]["performance"]
    assert not degraded.passed and degraded.severity.value == "ERROR"
    assert degraded.description.startswith("MAE ")
    # not judged is no evaluation in Dagster (the check shows as skipped) and is stored as such
    assert "performance" not in ran["checks"][UNLABELLED]
    stored = latest_results(ran["wh"], demand.name)
    stored = stored[stored["check_name"] == "performance"]
    status = dict(zip(pd.to_datetime(stored["period_start"]), stored["status"], strict=True))
    assert status == {CLEAN: "passed", DEGRADED: "failed", UNLABELLED: "not_judged"}
    reason = stored.loc[stored["status"] == "not_judged", "description"].iloc[0]
    assert reason.startswith("not judged: only 0 labels")

    # The MAE rose by about 120 %: with performance_drop_error above that, the same day warns.
    rise = degraded.metadata["mae"].value["drop"]
    assert 0.5 < rise < 2.0
    lenient = dataclasses.replace(
        demand, thresholds=dataclasses.replace(demand.thresholds, performance_drop_error=2.0)
    )
    config = dataclasses.replace(ran["config"], models=(lenient,))
    result = Pipeline(config, settings, ran["pipeline"].instance).day(DEGRADED)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["performance"].passed and checks["performance"].severity.value == "WARN"
