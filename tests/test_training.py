"""Labelled windows from the warehouse, the trainer contract, trainers and saved artifacts."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from factories import write_hour, write_labels

from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.training.artifacts import builtin_uri, load_model, save_model
from modelmon_dagster.training.contract import TrainingSet, resolve_trainer
from modelmon_dagster.training.data import (
    MISSING_CATEGORY,
    feature_frame,
    load_labelled,
    split_by_time,
    target,
)
from modelmon_dagster.training.trainers import default_regressor

H0 = dt.datetime(2026, 11, 16, 10)


def test_labelled_window_joins_the_latest_arrived_label(warehouse, fraud, tmp_path):
    logs = tmp_path / "logs"
    records = write_hour(logs, fraud, H0, 60) + write_hour(
        logs, fraud, H0 + dt.timedelta(hours=1), 40
    )
    ok = [r for r in records if r["status"] == "ok"]
    first, corrected, late = ok[0]["prediction_id"], ok[1]["prediction_id"], ok[2]["prediction_id"]
    labelled = {r["prediction_id"]: "0" for r in ok[:30]}
    write_labels(logs, fraud, H0 + dt.timedelta(hours=2), labelled)
    write_labels(logs, fraud, H0 + dt.timedelta(hours=3), {corrected: "1", first: "0"})
    write_labels(logs, fraud, H0 + dt.timedelta(hours=5), {late: "1"})  # after labels_until
    errors = [r["prediction_id"] for r in records if r["status"] != "ok"]
    write_labels(logs, fraud, H0 + dt.timedelta(hours=4), dict.fromkeys(errors, "1"))
    for h in range(6):
        load_prediction_hour(warehouse, fraud, logs, H0 + dt.timedelta(hours=h))
        load_label_hour(warehouse, fraud, logs, H0 + dt.timedelta(hours=h))

    frame = load_labelled(
        warehouse, fraud, H0, H0 + dt.timedelta(hours=2), labels_until=H0 + dt.timedelta(hours=5)
    )
    assert sorted(frame["prediction_id"]) == sorted(labelled)  # ok rows only, arrived only
    by_id = frame.set_index("prediction_id")
    assert by_id.loc[corrected, "label_text"] == "1" and by_id.loc[late, "label_text"] == "0"
    assert frame["ts"].is_monotonic_increasing
    assert {f"f_{f.name}" for f in fraud.features} <= set(frame.columns)
    expected = pd.DataFrame(ok[:30]).set_index("prediction_id")["score"]
    np.testing.assert_allclose(by_id.loc[expected.index, "score"], expected)
    everything = load_labelled(warehouse, fraud, H0, H0 + dt.timedelta(hours=2))
    assert len(everything) == 0  # labels_until defaults to the window end: none arrived yet


def test_split_is_strictly_later_and_features_are_canonical(fraud):
    ts = pd.to_datetime(
        ["2026-11-16 10:00"] * 3 + ["2026-11-16 11:00"] * 5 + ["2026-11-16 12:00"] * 2
    )
    frame = pd.DataFrame({"ts": ts, "x": range(10)})
    split = split_by_time(frame, 0.3)
    assert split.train["ts"].max() < split.holdout["ts"].min()
    assert len(split.holdout) == 7  # rows sharing the split time all go to the holdout
    raw = pd.DataFrame(
        {
            f.column: [None, "3"] if f.type.value == "categorical" else [None, 2.5]
            for f in fraud.features
        }
    )
    X = feature_frame(fraud.features, raw)
    assert list(X.columns) == [f.name for f in fraud.features]
    assert X["country"].tolist() == [MISSING_CATEGORY, "3"]
    assert np.isnan(X["amount"].iloc[0]) and X["amount"].iloc[1] == 2.5


def _classification_set(model, n, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            f.name: rng.normal(0, 1, n) if f.type.value == "numeric" else rng.choice(["a", "b"], n)
            for f in model.features
        }
    )
    logit = 2.0 * X["amount"] - 1.0 + (X["country"] == "a")
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), model.positive_class, "0")
    return TrainingSet(model, feature_frame(model.features, X), y, np.arange(n), seed)


@pytest.mark.parametrize("trainer", ["default_classifier", "fraud_detector"])
def test_classifiers_are_calibrated_and_round_trip_through_their_artifact(fraud, tmp_path, trainer):
    data = _classification_set(fraud, 3000)
    path = f"modelmon_dagster.training.trainers:{trainer}"
    estimator = resolve_trainer(path)(data)
    uri = save_model(tmp_path / "v2", estimator, fraud, path)
    fresh = _classification_set(fraud, 4000, seed=1)
    loaded = load_model(uri).predict(fresh.X)
    positive = fresh.y == fraud.positive_class
    assert set(loaded.prediction) <= {"0", "1"}
    assert loaded.score.mean() == pytest.approx(positive.mean(), abs=0.03)  # calibrated in mean
    bins = np.digitize(loaded.score, [0.2, 0.4, 0.6, 0.8])
    for b in np.unique(bins):
        if (bins == b).sum() > 200:  # calibrated per score band
            assert positive[bins == b].mean() == pytest.approx(
                loaded.score[bins == b].mean(), abs=0.08
            )
    np.testing.assert_allclose(loaded.score, estimator.predict_proba(fresh.X)[:, 1])
    with pytest.raises(FileExistsError):
        save_model(tmp_path / "v2", estimator, fraud, path)


@pytest.mark.parametrize(
    "trainer",
    [default_regressor, resolve_trainer("modelmon_dagster.training.trainers:demand_forecaster")],
)
def test_regressors_learn_a_multiplicative_demand(demand, trainer):
    rng = np.random.default_rng(4)
    n = 3000
    X = pd.DataFrame(
        {
            f.name: rng.uniform(1, 10, n)
            if f.type.value == "numeric"
            else rng.choice(["a", "b"], n)
            for f in demand.features
        }
    )
    truth = X["lag_7d_units"] * np.where(X["promo"] == "a", 1.5, 1.0) * X["price"] ** -0.5
    y = truth * np.exp(rng.normal(0, 0.1, n))
    model = trainer(TrainingSet(demand, feature_frame(demand.features, X), y.to_numpy(), None))
    prediction = model.predict(feature_frame(demand.features, X))
    assert np.mean(np.abs(prediction - truth)) < 0.25 * np.mean(np.abs(truth - truth.mean()))
    assert target(demand, pd.DataFrame({"label_value": [1, 2.5]})).tolist() == [1.0, 2.5]


def test_trainer_paths_and_builtin_artifacts_fail_loudly():
    for bad, match in [
        ("no_colon", "expected"),
        ("no_such_module_xyz:train", "cannot import"),
        ("modelmon_dagster.training.trainers:nope", "no function"),
    ]:
        with pytest.raises(ValueError, match=match):
            resolve_trainer(bad)
    with pytest.raises(ValueError, match="no artifact"):
        load_model(builtin_uri("v1"))
