"""Verdicts that used to pass (or warn) without judging: each path judges or says it cannot.

Regression tests for issue #10: every test here failed on the code before the fix (the
comment of each says what it did then).
"""

import dataclasses
import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from factories import write_hour, write_reference
from pipeline import Pipeline, only

from modelmon_dagster.check_results import latest_results
from modelmon_dagster.config import BusinessRule
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.logformat import PREDICTIONS, hour_folder
from modelmon_dagster.performance import (
    business_outcome,
    performance_outcome,
    segment_outcome,
)
from modelmon_dagster.sql import SqlProject
from modelmon_dagster.volume import volume_outcome, volume_outcomes
from modelmon_dagster.warehouse import Warehouse

HOUR = dt.datetime(2026, 11, 20, 3)


def store_volumes(warehouse, model_name, counts: dict[dt.datetime, int]):
    schema = SqlProject.load(SQL_PROJECT_DIR).models["hourly_prediction_stats"].schema
    frame = pd.DataFrame(
        [{"model_name": model_name, "hour_start": h, "n_predictions": n} for h, n in counts.items()]
    ).reindex(columns=schema.column_names)
    warehouse.replace_rows(
        schema, "model_name = :m", {"m": model_name}, rows=pa.Table.from_pandas(frame)
    )


def history(n_now, past, days=7):
    return {HOUR: n_now} | {HOUR - dt.timedelta(days=d): past for d in range(1, days + 1)}


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_silent_hour_with_silent_history_passes(warehouse, fraud):
    # before: WARN "volume spike: infx the usual 0" on every normally silent hour
    store_volumes(warehouse, fraud.name, history(0, 0))
    outcome = volume_outcome(warehouse, fraud, HOUR)
    assert outcome.passed is True and "as usual" in outcome.description


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_traffic_where_there_was_none_is_a_spike(warehouse, fraud):
    store_volumes(warehouse, fraud.name, history(40, 0))
    outcome = volume_outcome(warehouse, fraud, HOUR)
    assert outcome.passed is False and outcome.severity == "WARN"
    assert "usually has none" in outcome.description


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
@pytest.mark.parametrize("n_now", [0, 500])
def test_volume_without_history_is_not_judged(warehouse, fraud, n_now):
    # before: 500 passed ("not compared"), 0 failed at ERROR without anything to compare with
    store_volumes(warehouse, fraud.name, history(n_now, 480, days=1))
    outcome = volume_outcome(warehouse, fraud, HOUR)
    assert outcome.passed is None and "history" in outcome.description


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_volume_significance_is_read_from_the_config(warehouse, fraud):
    store_volumes(warehouse, fraud.name, history(180, 400))
    assert volume_outcome(warehouse, fraud, HOUR).severity == "WARN"  # 45 %, p ~ 1e-45
    strict = dataclasses.replace(
        fraud, thresholds=dataclasses.replace(fraud.thresholds, volume_significance=1e-60)
    )
    assert volume_outcome(warehouse, strict, HOUR).passed is True


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
@pytest.mark.parametrize(
    ("n_now", "expected"),
    [
        (3999, "ERROR"),  # below 25 % of the usual 16000
        (4000, "WARN"),  # at 25 %: no longer an ERROR, still below 50 %
        (7999, "WARN"),
        (8000, True),  # at 50 %
        (32000, True),  # at 2x: not yet a spike
        (32001, "WARN"),
    ],
)
def test_volume_ratio_boundaries(warehouse, fraud, n_now, expected):
    store_volumes(warehouse, fraud.name, history(n_now, 16000))
    outcome = volume_outcome(warehouse, fraud, HOUR)
    if expected is True:
        assert outcome.passed is True
    else:
        assert outcome.passed is False and outcome.severity == expected


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_volume_p_values_are_the_poisson_tails(warehouse, fraud):
    store_volumes(warehouse, fraud.name, history(130, 100))
    meta = volume_outcome(warehouse, fraud, HOUR).metadata
    # P(X <= 130) and P(X >= 130) for X ~ Poisson(100), summed from the probability mass
    mass = [math.exp(k * math.log(100) - 100 - math.lgamma(k + 1)) for k in range(400)]
    assert meta["p_low"] == pytest.approx(sum(mass[:131]), rel=1e-9)
    assert meta["p_high"] == pytest.approx(sum(mass[130:]), rel=1e-9)


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_a_low_hour_at_low_traffic_is_not_significant(warehouse, fraud):
    # 0 where 4 are usual: ratio 0, but P(X = 0) = e^-4 = 0.018 is no evidence at 1e-3
    store_volumes(warehouse, fraud.name, history(0, 4))
    outcome = volume_outcome(warehouse, fraud, HOUR)
    assert outcome.passed is True and outcome.name == "volume"


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_volume_of_a_range_equals_each_hour_judged_alone(warehouse, fraud):
    # A backfill judges its hours from one query over the range: the same outcomes as one
    # query per hour, with every kind of hour (no history, a gap, silent, spikes, drops).
    rng = np.random.default_rng(5)
    start = HOUR - dt.timedelta(days=3)
    hours = [start + dt.timedelta(hours=h) for h in range(24 * 12)]
    counts = {h: int(rng.poisson(400 if h.hour % 5 else 3)) for h in hours}
    counts |= {hours[100]: 0, hours[150]: 2000, hours[200]: 90}
    for gap in hours[40:47]:
        counts.pop(gap)
    store_volumes(warehouse, fraud.name, counts)
    judged = hours[10:] + [hours[-1] + dt.timedelta(hours=1)]  # the last hour has no stats
    together = volume_outcomes(warehouse, fraud, judged)
    alone = {h: volume_outcome(warehouse, fraud, h) for h in judged}
    assert together == alone
    statuses = {o.status for o in together.values()}
    assert {"passed", "failed", "not_judged"} <= statuses


def day_frame(rows):
    return pd.DataFrame(
        [
            {
                "segment_column": seg[0],
                "segment_value": seg[1],
                "kind": kind,
                "metric": metric,
                "value": value,
                "n_labelled": n,
                "n_predictions": n,
                "coverage": 1.0,
                "ci_low": np.nan,
                "ci_high": np.nan,
            }
            for seg, kind, metric, value, n in rows
        ]
    )


ALL = ("__all__", "__all__")


def test_estimate_without_a_reference_estimate_is_not_judged(fraud):
    # before: an estimated accuracy of 0.50 against a reference without an estimate passed
    frame = day_frame([(ALL, "estimated", "accuracy", 0.50, 0)])
    outcome = performance_outcome(frame, fraud, {ALL: {"accuracy": 0.96}}, "estimated")
    assert outcome.passed is None
    assert "estimated accuracy (baseline)" in outcome.description


def test_a_key_metric_missing_on_one_side_is_named_not_skipped(fraud):
    frame = day_frame(
        [
            (ALL, "realised", "accuracy", 0.969, 5000),
            (ALL, "realised", "recall", 0.30, 5000),
            (ALL, "realised", "n_positive", 200, 5000),
        ]
    )
    ref = {ALL: {"accuracy": 0.97, "recall": 0.31, "n_positive": 400, "n_labelled": 10000}}
    outcome = performance_outcome(frame, fraud, ref, "realised")
    assert outcome.passed is True
    assert outcome.metadata["not_compared"] == ["roc_auc (day)"]
    assert "not compared: ROC AUC (day)" in outcome.description


def test_too_few_labels_is_not_judged_not_a_warning(fraud):
    # before: every day's first run failed at WARN ("only 0 labels so far")
    frame = day_frame([(ALL, "realised", "accuracy", 0.5, 12)])
    outcome = performance_outcome(frame, fraud, {ALL: {"accuracy": 0.97}}, "realised")
    assert outcome.passed is None and "only 12 labels" in outcome.description


def regression_frame(segments):
    """``segments``: value -> (mae, rmse, n); the overall row is their pooled total."""
    n = sum(x[2] for x in segments.values())
    mae = sum(x[0] * x[2] for x in segments.values()) / n
    rmse = (sum(x[1] ** 2 * x[2] for x in segments.values()) / n) ** 0.5
    rows = [(ALL, "realised", "mae", mae, n), (ALL, "realised", "rmse", rmse, n)]
    for value, (s_mae, s_rmse, s_n) in segments.items():
        seg = ("store_region", value)
        rows += [(seg, "realised", "mae", s_mae, s_n), (seg, "realised", "rmse", s_rmse, s_n)]
    return day_frame(rows)


def test_new_regression_segment_with_8x_the_mae_fails(demand):
    # before: compared only with its own reference, which it does not have: passed
    frame = regression_frame(
        {"north": (7.0, 9.0, 2000), "south": (7.5, 9.5, 2000), "moon": (56.0, 70.0, 300)}
    )
    baseline = {
        ALL: {"mae": 7.2},
        ("store_region", "north"): {"mae": 7.0, "mae_se": 0.2, "n_labelled": 2000},
        ("store_region", "south"): {"mae": 7.4, "mae_se": 0.2, "n_labelled": 2000},
    }
    outcome = segment_outcome(frame, demand, baseline)
    assert outcome.passed is False and outcome.severity == "ERROR"
    assert outcome.metadata["worst_segments"][0]["segment"] == "store_region=moon"
    assert outcome.metadata["without_own_reference"] == ["store_region=moon"]


def test_regions_that_always_differ_are_not_news(demand):
    # a region with twice the MAE of the others, as on the reference: no alarm
    frame = regression_frame({"north": (7.0, 9.0, 2000), "south": (14.0, 18.0, 2000)})
    baseline = {
        ALL: {"mae": 10.5},
        ("store_region", "north"): {"mae": 7.0, "mae_se": 0.2, "n_labelled": 2000},
        ("store_region", "south"): {"mae": 14.1, "mae_se": 0.4, "n_labelled": 2000},
    }
    assert segment_outcome(frame, demand, baseline).passed is True


@pytest.mark.parametrize(
    ("rule", "value", "broken"),
    [
        (BusinessRule("fpr", max=0.05), 0.0499, False),
        (BusinessRule("fpr", max=0.05), 0.05, False),  # the bound itself is allowed
        (BusinessRule("fpr", max=0.05), 0.0501, True),
        (BusinessRule("recall", min=0.2), 0.2001, False),
        (BusinessRule("recall", min=0.2), 0.2, False),
        (BusinessRule("recall", min=0.2), 0.1999, True),
    ],
)
def test_business_rule_bounds(fraud, rule, value, broken):
    model = dataclasses.replace(fraud, business_rules=(rule,))
    frame = day_frame([(ALL, "realised", rule.metric, value, 5000)])
    outcome = business_outcome(frame, model)
    assert outcome.passed is (not broken)
    if broken:
        assert outcome.severity == "ERROR"


def test_unmeasurable_business_rules_are_not_judged(fraud):
    model = dataclasses.replace(fraud, business_rules=(BusinessRule("fpr", max=0.05),))
    frame = day_frame([(ALL, "realised", "accuracy", 0.97, 5000)])
    outcome = business_outcome(frame, model)
    # before: "fpr not measurable" failed the check at WARN
    assert outcome.passed is None and "not measurable" in outcome.description


def test_a_version_without_baseline_is_judged_against_the_default_and_says_so(
    settings, demo_config, fraud
):
    # before: judged against v1's baseline, the warning discarded
    config = only(demo_config, "fraud_detector")
    write_reference(
        settings.data_dir / fraud.baseline.reference_predictions,
        fraud,
        3000,
        labels_path=settings.data_dir / fraud.baseline.reference_labels,
    )
    day = dt.datetime(2026, 11, 16)
    for h in range(3):
        records = write_hour(settings.logs_root, fraud, day + dt.timedelta(hours=h), 200)
        folder = hour_folder(
            settings.logs_root, PREDICTIONS, fraud.name, day + dt.timedelta(hours=h)
        )
        lines = [json.dumps(r | {"model_version": "v9"}) for r in records]
        (folder / "test.jsonl").write_text("\n".join(lines) + "\n")
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    pipeline.backfill("hourly", day, day + dt.timedelta(hours=23))
    pipeline.day(day)
    warehouse = Warehouse(settings.warehouse_url)
    frame = latest_results(warehouse, "fraud_detector")
    warehouse.dispose()
    perf = frame[frame["check_name"] == "performance"].iloc[0]
    meta = json.loads(perf["metadata"])
    assert meta["baseline_version"] == "v1"
    assert "v9" in meta["baseline_fallback"]
    assert "reference: the v1 baseline" in perf["description"]


def test_segments_worse_than_their_reference_are_named_worst_first_in_any_row_order(demand):
    # before: in the order the rows came from the warehouse (DuckDB and PostgreSQL, and
    # different days, named the same three segments in different orders)
    segments = {"north": (9.0, 11.0, 2000), "south": (12.0, 15.0, 2000), "east": (10.0, 12.0, 2000)}
    baseline = {
        ALL: {"mae": 7.2},
        ("store_region", "north"): {"mae": 7.0, "mae_se": 0.2, "n_labelled": 2000},
        ("store_region", "south"): {"mae": 7.4, "mae_se": 0.2, "n_labelled": 2000},
        ("store_region", "east"): {"mae": 7.1, "mae_se": 0.2, "n_labelled": 2000},
    }
    frame = regression_frame(segments)
    texts = {
        segment_outcome(rows, demand, baseline).description
        for rows in (frame, frame.iloc[::-1].reset_index(drop=True))
    }
    assert texts == {
        "3 segment(s) worse than their own reference: store_region=south, store_region=east, "
        "store_region=north"
    }
