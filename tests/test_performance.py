"""Delayed-label performance: metrics against scikit-learn, joins, late labels, the sensor."""

import datetime as dt
import json
import math

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from factories import write_hour, write_labels, write_reference
from pipeline import Pipeline
from scipy import stats
from sklearn import metrics

from modelmon_dagster.config import parse_config
from modelmon_dagster.defs.performance.sensors import days_to_refresh
from modelmon_dagster.performance import ALL, compare_metric, segment_outcome
from modelmon_dagster.stats.performance import auc_from_histograms, wilson_interval
from modelmon_dagster.warehouse import Warehouse

DAY = dt.datetime(2026, 11, 16)
HOURS = [DAY + dt.timedelta(hours=h) for h in (1, 2)]


def labels_for(records, model, rng, fraction):
    out = {}
    for r in records:
        if r["status"] != "ok" or rng.random() > fraction:
            continue
        if model.task.value == "regression":
            out[r["prediction_id"]] = round(r["prediction"] + float(rng.normal(0, 8)), 3)
        else:  # calibrated: P(positive) = score
            out[r["prediction_id"]] = (
                model.classes[1] if rng.random() < r["score"] else model.classes[0]
            )
    return out


@pytest.fixture
def world(settings, demo_config):
    rng = np.random.default_rng(5)
    for model in demo_config.models:
        write_reference(
            settings.data_dir / model.baseline.reference_predictions,
            model,
            3000,
            labels_path=settings.data_dir / model.baseline.reference_labels,
        )
    records = {}
    for model in demo_config.models:
        records[model.name] = [
            r for h in HOURS for r in write_hour(settings.logs_root, model, h, 500, seed=11)
        ]
    pipeline = Pipeline(demo_config, settings)
    pipeline.baseline()
    wh = Warehouse(settings.warehouse_url)
    yield {
        "pipeline": pipeline,
        "wh": wh,
        "records": records,
        "rng": rng,
        "settings": settings,
        "config": demo_config,
    }
    wh.dispose()


def perf(wh, model_name, kind="realised", segment=ALL):
    frame = wh.query_df(
        "SELECT * FROM daily_performance WHERE model_name = :m AND kind = :k "
        "AND segment_column = :s",
        {"m": model_name, "k": kind, "s": segment},
    )
    return frame.set_index("metric")


def test_metrics_equal_scikit_learn_and_coverage_matures(world, fraud, demand):
    w = world
    arrival_1 = DAY + dt.timedelta(hours=5)
    arrival_2 = DAY + dt.timedelta(hours=30)
    truth = {}
    for model in (fraud, demand):
        recs = w["records"][model.name]
        first = labels_for(recs[: len(recs) // 2], model, w["rng"], 0.8)
        second = labels_for(recs[len(recs) // 2 :], model, w["rng"], 0.8)
        # a corrected label for an already-labelled prediction arrives later: the latest wins
        corrected_id = next(iter(first))
        second[corrected_id] = (
            (model.classes[0] if first[corrected_id] == model.classes[1] else model.classes[1])
            if model.task.is_classification
            else first[corrected_id] + 100
        )
        write_labels(w["settings"].logs_root, model, arrival_1, first)
        write_labels(w["settings"].logs_root, model, arrival_2, second)
        truth[model.name] = (first, first | second)

    for h in HOURS:
        w["pipeline"].hour(h)
    w["pipeline"].hour(arrival_1)
    w["pipeline"].day(DAY)
    coverage_early = perf(w["wh"], "fraud_detector")["coverage"].iloc[0]
    w["pipeline"].hour(arrival_2)
    w["pipeline"].day(DAY)
    coverage_late = perf(w["wh"], "fraud_detector")["coverage"].iloc[0]
    ok = [r for r in w["records"]["fraud_detector"] if r["status"] == "ok"]
    assert coverage_early == pytest.approx(len(truth["fraud_detector"][0]) / len(ok))
    assert coverage_late == pytest.approx(len(truth["fraud_detector"][1]) / len(ok))
    assert coverage_late > coverage_early

    # binary classification against scikit-learn on the same labelled rows
    labels = truth["fraud_detector"][1]
    rows = [r for r in ok if r["prediction_id"] in labels]
    y = np.array([labels[r["prediction_id"]] == "1" for r in rows])
    yhat = np.array([r["prediction"] == "1" for r in rows])
    score = np.array([r["score"] for r in rows])
    got = perf(w["wh"], "fraud_detector")["value"]
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(y, yhat))
    assert got["precision"] == pytest.approx(metrics.precision_score(y, yhat))
    assert got["recall"] == pytest.approx(metrics.recall_score(y, yhat))
    assert got["fpr"] == pytest.approx(np.mean(yhat[~y]))
    assert got["brier"] == pytest.approx(metrics.brier_score_loss(y, score))
    assert got["log_loss"] == pytest.approx(metrics.log_loss(y, score))
    # AUC from 100 score bins: ties within a bin count 1/2, so it is close to exact
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, score), abs=0.01)
    # the estimate before labels, from scores calibrated on the (calibrated) reference
    estimated = perf(w["wh"], "fraud_detector", kind="estimated")["value"]
    assert estimated["accuracy"] == pytest.approx(got["accuracy"], abs=0.03)

    # regression
    labels = truth["demand_forecaster"][1]
    rows = [
        r
        for r in w["records"]["demand_forecaster"]
        if r["status"] == "ok" and r["prediction_id"] in labels
    ]
    yt = np.array([labels[r["prediction_id"]] for r in rows])
    yp = np.array([r["prediction"] for r in rows])
    got = perf(w["wh"], "demand_forecaster")["value"]
    assert got["mae"] == pytest.approx(metrics.mean_absolute_error(yt, yp))
    assert got["rmse"] == pytest.approx(math.sqrt(metrics.mean_squared_error(yt, yp)))
    assert got["r2"] == pytest.approx(metrics.r2_score(yt, yp))
    assert got["bias"] == pytest.approx(np.mean(yp - yt))
    assert got["mape"] == pytest.approx(metrics.mean_absolute_percentage_error(yt, yp))


def test_late_label_sensor_requests_exactly_the_affected_days(world, fraud):
    w = world
    recs = w["records"]["fraud_detector"]
    arrival = DAY + dt.timedelta(days=2, hours=3)
    write_labels(w["settings"].logs_root, fraud, arrival, labels_for(recs, fraud, w["rng"], 0.5))
    for h in HOURS:
        w["pipeline"].hour(h)
    w["pipeline"].day(DAY)  # measured before the labels arrive
    defs = w["pipeline"].defs
    sensor = defs.get_sensor_def("late_label_refresh")
    first = sensor.evaluate_tick(
        dg.build_sensor_context(
            repository_def=defs.get_repository_def(), instance=w["pipeline"].instance
        )
    )
    assert first.run_requests == [] and first.skip_message == "no new labels"
    w["pipeline"].hour(arrival)
    context = dg.build_sensor_context(
        repository_def=defs.get_repository_def(),
        instance=w["pipeline"].instance,
        cursor=first.cursor,
    )
    tick = sensor.evaluate_tick(context)
    requests = tick.run_requests
    assert [(r.partition_key, r.tags["modelmon/model"]) for r in requests] == [
        ("2026-11-16", "fraud_detector")
    ]
    assert {k.path[-1] for k in requests[0].asset_selection} == {
        "daily_performance_counts",
        "daily_score_histogram",
        "daily_confusion_counts",
        "daily_performance",
    }
    # evaluated again with its new cursor: nothing new
    again = sensor.evaluate_tick(
        dg.build_sensor_context(
            repository_def=defs.get_repository_def(),
            instance=w["pipeline"].instance,
            cursor=tick.cursor,
        )
    )
    assert again.run_requests == []
    assert json.loads(tick.cursor)["fraud_detector"] > 0
    # a fresh sensor (empty cursor, e.g. after `modelmon backfill`) asks for the day while its
    # performance is older than its newest labels, and no longer once the day is measured again
    fresh = dg.build_sensor_context(
        repository_def=defs.get_repository_def(), instance=w["pipeline"].instance
    )
    assert [r.partition_key for r in sensor.evaluate_tick(fresh).run_requests] == ["2026-11-16"]
    w["pipeline"].day(DAY)
    fresh = dg.build_sensor_context(
        repository_def=defs.get_repository_def(), instance=w["pipeline"].instance
    )
    assert sensor.evaluate_tick(fresh).run_requests == []


def test_days_outside_the_label_delay_window_are_not_refreshed():
    arrival = dt.datetime(2026, 11, 20, 10)
    assert days_to_refresh(["2026-11-19", "2026-11-10", "2026-11-17"], arrival, 72) == [
        "2026-11-19",
        "2026-11-17",
    ]


def test_wilson_interval_matches_scipy():
    for k, n in ((0, 10), (3, 10), (95, 100), (10, 10), (500, 1234)):
        expected = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_interval(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_auc_from_histograms_equals_sklearn_on_binned_scores():
    rng = np.random.default_rng(1)
    y = rng.random(5000) < 0.3
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.15), 0, 1)
    bins = np.minimum((s * 100).astype(int), 99)
    pos = np.bincount(bins[y], minlength=100)
    neg = np.bincount(bins[~y], minlength=100)
    # exact on the binned scores (ties within a bin), close to exact on the raw scores
    assert auc_from_histograms(pos, neg) == pytest.approx(metrics.roc_auc_score(y, bins), abs=1e-12)
    assert auc_from_histograms(pos, neg) == pytest.approx(metrics.roc_auc_score(y, s), abs=0.005)


def segment_frame(overall_acc, overall_n, seg_acc, seg_n):
    rows = [("__all__", "__all__", overall_acc, overall_n)]
    rows += [("country", "XX", seg_acc, seg_n), ("country", "YY", overall_acc, 500)]
    return pd.DataFrame(
        [
            {
                "segment_column": c,
                "segment_value": v,
                "kind": "realised",
                "metric": "accuracy",
                "value": a,
                "n_labelled": n,
                "ci_low": np.nan,
                "ci_high": np.nan,
            }
            for c, v, a, n in rows
        ]
    )


def test_95_percent_overall_and_50_on_one_segment_fails(fraud):
    # 95 % overall over 10,000 labels, one segment of 300 at 50 %
    outcome = segment_outcome(segment_frame(0.95, 10_000, 0.50, 300), fraud, {})
    assert not outcome.passed and outcome.severity == "ERROR"
    assert outcome.metadata["worst_segments"][0]["segment"] == "country=XX"
    # the same gap on 20 labels is not judged (below min_labels)
    small = segment_outcome(segment_frame(0.95, 10_000, 0.50, 20), fraud, {})
    assert small.passed
    # a 2-point gap is not an alarm
    assert segment_outcome(segment_frame(0.95, 10_000, 0.93, 3000), fraud, {}).passed


def test_a_classifier_segment_as_far_below_the_rest_as_in_its_reference_is_not_news(fraud):
    # jewelry is 10 points below the rest of the reference and of the day: the demo's clean days
    reference = {
        ("__all__", "__all__"): {"accuracy": 0.9675, "n_labelled": 18963.0},
        ("country", "XX"): {"accuracy": 0.869, "n_labelled": 925.0},
        ("country", "YY"): {"accuracy": 0.9675, "n_labelled": 900.0},
    }
    day = segment_frame(0.969, 13_700, 0.872, 700)
    assert segment_outcome(day, fraud, {}).passed is False  # without its reference: a gap
    assert segment_outcome(day, fraud, reference).passed is True
    # the same segment falling a further 15 points below the rest is news (WARN: gap 0.15)
    worse = segment_outcome(segment_frame(0.965, 13_700, 0.72, 700), fraud, reference)
    assert worse.passed is False
    assert worse.metadata["worst_segments"][0]["segment"] == "country=XX"
    # a segment at par in its reference that falls to 50 % still fails at ERROR
    at_par = reference | {("country", "XX"): {"accuracy": 0.9675, "n_labelled": 925.0}}
    outcome = segment_outcome(segment_frame(0.95, 10_000, 0.50, 300), fraud, at_par)
    assert outcome.passed is False and outcome.severity == "ERROR"


def test_business_rules_are_validated():
    base = {
        "partitions": {"start_date": "2026-11-16"},
        "models": [
            {
                "name": "m",
                "task": "binary_classification",
                "classes": ["0", "1"],
                "positive_class": "1",
                "features": [{"name": "x", "type": "numeric"}],
                "label_delay": {"expected_hours": 1, "max_hours": 2},
                "baseline": {"model_version": "v1", "reference_predictions": "r.jsonl"},
            }
        ],
    }
    base["models"][0]["business_rules"] = [{"metric": "mae", "max": 1}]
    with pytest.raises(Exception, match="not a binary_classification metric"):
        parse_config(base)
    base["models"][0]["business_rules"] = [{"metric": "fpr", "max": 0.05}]
    assert parse_config(base).models[0].business_rules[0].describe() == "fpr <= 0.05"


def test_confusion_metrics_equal_scikit_learn():
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c", "d"]
    y = rng.choice(classes, 2000, p=[0.5, 0.3, 0.15, 0.05])
    yhat = np.where(rng.random(2000) < 0.7, y, rng.choice(classes[:3], 2000))  # never predicts d
    cells = {}
    for t, p in zip(y, yhat, strict=True):
        cells[(t, p)] = cells.get((t, p), 0) + 1
    from modelmon_dagster.stats.performance import confusion_metrics

    got = confusion_metrics(cells, classes)
    recalls = metrics.recall_score(y, yhat, labels=classes, average=None, zero_division=0)
    for c, r in zip(classes, recalls, strict=True):
        assert got[f"recall_{c}"] == pytest.approx(r)
    for avg in ("macro", "weighted"):
        expected = metrics.f1_score(y, yhat, labels=classes, average=avg, zero_division=0)
        assert got[f"{avg}_f1"] == pytest.approx(expected)


def test_monthly_review_sample_is_stratified_deterministic_and_readable(world, fraud):
    w = world
    recs = w["records"]["fraud_detector"]
    labels = labels_for(recs, fraud, w["rng"], 0.9)
    arrival = DAY + dt.timedelta(hours=6)
    write_labels(w["settings"].logs_root, fraud, arrival, labels)
    for h in (*HOURS, arrival):
        w["pipeline"].hour(h)
    job = w["pipeline"].defs.resolve_job_def("monthly_review_job")
    run = lambda: job.execute_in_process(  # noqa: E731
        instance=w["pipeline"].instance,
        partition_key="2026-11-01",
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    assert run().success
    folder = w["settings"].data_dir / "reviews" / "fraud_detector"
    first = (folder / "2026-11.csv").read_text()
    sample = pd.read_csv(folder / "2026-11.csv")
    assert 0 < len(sample) <= 200
    # the most-wrong rows are the labelled predictions with the largest |label - score|
    errors = {
        r["prediction_id"]: abs((labels[r["prediction_id"]] == "1") - r["score"])
        for r in recs
        if r["prediction_id"] in labels and r["status"] == "ok"
    }
    top = sorted(errors.values(), reverse=True)[:25]
    most_wrong = sample[sample["reason"] == "most_wrong"]
    assert sorted(most_wrong["error"], reverse=True) == pytest.approx(top)
    strata = set(sample.loc[sample["reason"] != "most_wrong", "stratum"])
    assert {"label=0, right", "label=0, wrong", "label=1, right", "label=1, wrong"} <= strata
    page = (folder / "2026-11.html").read_text()
    assert '<table id="review">' in page and "most wrong" in page
    assert page.count("<tr") == len(sample) + 1
    # demand_forecaster has no label yet: an empty page that says so, and no internal columns
    unlabelled = w["settings"].data_dir / "reviews" / "demand_forecaster"
    assert "No labelled prediction in this month yet" in (unlabelled / "2026-11.html").read_text()
    assert "draw" not in pd.read_csv(unlabelled / "2026-11.csv").columns
    assert run().success
    assert (folder / "2026-11.csv").read_text() == first  # a rerun gives the same rows


def test_review_schedule_asks_for_the_month_that_ended(world):
    defs = world["pipeline"].defs
    schedule = defs.get_schedule_def("monthly_review_schedule")
    context = dg.build_schedule_context(
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC),
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-11-01"


def test_pr_auc_equals_sklearn_average_precision_on_binned_scores():
    from modelmon_dagster.stats.performance import average_precision_from_histograms

    rng = np.random.default_rng(4)
    y = rng.random(4000) < 0.1
    s = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    bins = np.minimum((s * 100).astype(int), 99)
    pos = np.bincount(bins[y], minlength=100)
    neg = np.bincount(bins[~y], minlength=100)
    got = average_precision_from_histograms(pos, neg)
    assert got == pytest.approx(metrics.average_precision_score(y, bins), abs=1e-12)


def test_only_binary_models_get_score_based_checks(world):
    graph = world["pipeline"].defs.resolve_asset_graph()
    checks = {(k.asset_key.path[0], k.name) for k in graph.asset_check_keys}
    assert ("fraud_detector", "estimated_performance") in checks
    assert ("fraud_detector", "calibration") in checks
    assert ("demand_forecaster", "estimated_performance") not in checks
    assert ("demand_forecaster", "calibration") not in checks


def test_reliability_rows_from_the_score_histogram():
    from modelmon_dagster.performance import reliability_rows

    hist = pd.DataFrame(
        [
            ("positive", 95, 3, 2.85),
            ("negative", 95, 1, 0.95),
            ("negative", 5, 4, 0.2),
            ("unlabelled", 50, 100, 50.0),
        ],
        columns=["label_state", "score_bin", "n", "sum_score"],
    )
    assert reliability_rows(hist) == [
        {"scores": "0.0-0.1", "n": 4, "mean_score": 0.05, "positive_rate": 0.0},
        {"scores": "0.9-1.0", "n": 4, "mean_score": 0.95, "positive_rate": 0.75},
    ]


def test_a_recall_of_zero_on_two_positives_is_not_certainly_worse(fraud):
    # The first labels of a day: 112, two of them positive, both missed. The Wald error of a
    # recall of 0 is 0, which made this an ERROR at p = 0; under the null hypothesis (the
    # reference's recall on the day's 2 positives) it is a one-sided z of about 1.
    t = fraud.thresholds
    reference = {"recall": 0.325, "n_labelled": 18963.0, "n_positive": 600.0}
    day = {"recall": 0.0, "n_labelled": 112.0, "n_positive": 2.0}
    severity, details = compare_metric("recall", day, reference, t)
    assert severity is None
    se = np.hypot(np.sqrt(0.325 * 0.675 / 2), np.sqrt(0.325 * 0.675 / 600))
    assert details["p_value"] == pytest.approx(stats.norm.sf(0.325 / se), rel=1e-12)
    # the same recall on 200 positives is a clear ERROR
    many = {"recall": 0.0, "n_labelled": 5000.0, "n_positive": 200.0}
    assert compare_metric("recall", many, reference, t)[0] == "ERROR"
