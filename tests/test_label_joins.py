"""Every place that reads labels takes the latest one, on both engines; multiclass end to end.

Regression tests for issue #10: before them, reading the earliest label instead of the latest
in the score histogram went unnoticed (absorbed by a loose tolerance on ROC AUC), and no test
ran a multiclass model through ``daily_confusion_counts``. The comparisons here are exact:
binned ROC AUC equals scikit-learn's on the binned scores to 1e-12.
"""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from factories import labels_then_corrections, write_hour, write_labels
from sklearn import metrics

from modelmon_dagster.config import Task
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.performance import ALL, compute_performance, performance_outcome
from modelmon_dagster.review import review_sample
from modelmon_dagster.sql import SqlProject, run_model_window

DAY = dt.datetime(2026, 11, 16)
HOURS = [DAY + dt.timedelta(hours=h) for h in (1, 2)]
FIRST_ARRIVAL = DAY + dt.timedelta(hours=5)
LATER_ARRIVAL = DAY + dt.timedelta(days=1, hours=6)
LABEL_MODELS = ("daily_performance_counts", "daily_score_histogram", "daily_confusion_counts")


def labelled_world(warehouse, logs_root, model, classes, seed=7):
    """Two hours of predictions; labels for 80 %, 40 % of them corrected a day later.

    Returns the ok records and the latest label of each labelled prediction.
    """
    rng = np.random.default_rng(seed)
    records = [r for h in HOURS for r in write_hour(logs_root, model, h, 400, seed=seed)]
    ok = [r for r in records if r["status"] == "ok"]

    def draw(_record, previous):
        if previous is None:
            return str(rng.choice(classes))
        return next(c for c in rng.permutation(classes) if c != previous)

    first, corrected = labels_then_corrections(ok, rng, draw)
    write_labels(logs_root, model, FIRST_ARRIVAL, first)
    write_labels(logs_root, model, LATER_ARRIVAL, corrected)
    for hour in HOURS:
        load_prediction_hour(warehouse, model, logs_root, hour)
    for hour in (FIRST_ARRIVAL, LATER_ARRIVAL):
        load_label_hour(warehouse, model, logs_root, hour)
    project = SqlProject.load(SQL_PROJECT_DIR)
    for name in LABEL_MODELS:
        run_model_window(
            warehouse, project, project.models[name], model, DAY, DAY + dt.timedelta(days=1)
        )
    assert 0 < len(corrected) < len(first)
    return ok, first | corrected


def score_bins(scores) -> np.ndarray:
    return np.minimum(np.floor(np.asarray(scores) * 100), 99).astype(int)


def test_score_histogram_confusion_and_counts_take_the_latest_label(warehouse, tmp_path, fraud):
    ok, latest = labelled_world(warehouse, tmp_path, fraud, list(fraud.classes))
    rows = [r for r in ok if r["prediction_id"] in latest]
    y = np.array([latest[r["prediction_id"]] == fraud.positive_class for r in rows])
    bins = score_bins([r["score"] for r in rows])

    hist = warehouse.query_df(
        "SELECT label_state, score_bin, n FROM daily_score_histogram WHERE model_name = :m",
        {"m": fraud.name},
    )
    got = {
        state: hist[hist["label_state"] == state]
        .set_index("score_bin")["n"]
        .reindex(range(100), fill_value=0)
        for state in ("positive", "negative", "unlabelled")
    }
    np.testing.assert_array_equal(got["positive"], np.bincount(bins[y], minlength=100))
    np.testing.assert_array_equal(got["negative"], np.bincount(bins[~y], minlength=100))
    assert got["unlabelled"].sum() == len(ok) - len(rows)

    confusion = warehouse.query_df(
        "SELECT label, prediction, n FROM daily_confusion_counts WHERE model_name = :m",
        {"m": fraud.name},
    )
    expected = pd.DataFrame(
        {
            "label": [latest[r["prediction_id"]] for r in rows],
            "prediction": [r["prediction"] for r in rows],
        }
    ).value_counts()
    assert confusion.set_index(["label", "prediction"])["n"].sort_index().to_dict() == (
        expected.sort_index().to_dict()
    )

    frame = compute_performance(warehouse, fraud, DAY, DAY + dt.timedelta(days=1), None)
    overall = frame[(frame["segment_column"] == ALL) & (frame["kind"] == "realised")]
    value = overall.set_index("metric")["value"]
    # exact: AUC from 100 bins is the AUC of the binned scores (ties count 1/2)
    assert value["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, bins), abs=1e-12)
    assert value["pr_auc"] == pytest.approx(metrics.average_precision_score(y, bins), abs=1e-12)
    yhat = np.array([r["prediction"] == fraud.positive_class for r in rows])
    assert value["accuracy"] == pytest.approx(metrics.accuracy_score(y, yhat), abs=1e-12)
    assert value["recall"] == pytest.approx(metrics.recall_score(y, yhat), abs=1e-12)
    assert value["fpr"] == pytest.approx(np.mean(yhat[~y]), abs=1e-12)


def test_review_sample_shows_the_latest_label(warehouse, tmp_path, fraud):
    _, latest = labelled_world(warehouse, tmp_path, fraud, list(fraud.classes))
    sample = review_sample(warehouse, fraud, DAY, DAY + dt.timedelta(days=1))
    assert len(sample) > 0
    shown = dict(zip(sample["prediction_id"], sample["label_text"], strict=True))
    assert shown == {pid: latest[pid] for pid in shown}


@pytest.fixture
def triage(fraud):
    """A multiclass model (no fixture had one): three classes, no score-based checks."""
    return dataclasses.replace(
        fraud,
        name="triage",
        task=Task.MULTICLASS_CLASSIFICATION,
        classes=("0", "1", "2"),
        positive_class=None,
        business_rules=(),
    )


def test_multiclass_end_to_end(warehouse, tmp_path, triage):
    ok, latest = labelled_world(warehouse, tmp_path, triage, list(triage.classes))
    rows = [r for r in ok if r["prediction_id"] in latest]
    y = [latest[r["prediction_id"]] for r in rows]
    yhat = [r["prediction"] for r in rows]
    assert set(y) == {"0", "1", "2"}

    frame = compute_performance(warehouse, triage, DAY, DAY + dt.timedelta(days=1), None)
    overall = frame[(frame["segment_column"] == ALL) & (frame["kind"] == "realised")]
    value = overall.set_index("metric")["value"]
    classes = list(triage.classes)
    assert value["accuracy"] == pytest.approx(metrics.accuracy_score(y, yhat), abs=1e-12)
    for c, r in zip(
        classes, metrics.recall_score(y, yhat, labels=classes, average=None), strict=True
    ):
        assert value[f"recall_{c}"] == pytest.approx(r, abs=1e-12)
    for avg in ("macro", "weighted"):
        expected = metrics.f1_score(y, yhat, labels=classes, average=avg, zero_division=0)
        assert value[f"{avg}_f1"] == pytest.approx(expected, abs=1e-12)
    assert not {"roc_auc", "recall", "fpr"} & set(value.index)  # binary metrics stay binary

    # the multiclass branch of the performance check: accuracy against the reference's
    accuracy = float(value["accuracy"])
    n = int(overall["n_labelled"].iloc[0])
    good = {(ALL, ALL): {"accuracy": accuracy, "n_labelled": 10_000}}
    assert performance_outcome(frame, triage, good, "realised").passed is True
    better = {(ALL, ALL): {"accuracy": accuracy + 0.3, "n_labelled": 10_000}}
    outcome = performance_outcome(frame, triage, better, "realised")
    assert outcome.passed is False and outcome.severity == "ERROR"
    assert outcome.metadata["accuracy"]["value"] == pytest.approx(accuracy, abs=1e-4)
    assert n == len(rows)


def test_multiclass_review_puts_confident_mistakes_first(warehouse, tmp_path, triage):
    # before: every wrong prediction counted alike, so "the most wrong" were any 25 of them
    ok, latest = labelled_world(warehouse, tmp_path, triage, list(triage.classes))
    wrong = sorted(
        (
            r
            for r in ok
            if r["prediction_id"] in latest and r["prediction"] != latest[r["prediction_id"]]
        ),
        key=lambda r: -r["score"],
    )
    sample = review_sample(warehouse, triage, DAY, DAY + dt.timedelta(days=1))
    most_wrong = sample[sample["reason"] == "most_wrong"]
    assert len(most_wrong) == 25 and len(wrong) > 25
    assert list(most_wrong["score"]) == pytest.approx([r["score"] for r in wrong[:25]], abs=1e-12)
    assert (most_wrong["prediction_label"] != most_wrong["label_text"]).all()
