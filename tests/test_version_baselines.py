"""Model versions with and without a baseline of their own (both engines).

A version with its own baseline is judged against it, silently; a version without one falls
back to the default version's baseline and says so (once per window).
"""

import dataclasses
import datetime as dt
import json

import pytest
from factories import store_baseline, write_hour, write_reference
from sklearn import metrics

from modelmon_dagster.baseline import baseline_for_window, baselines_by_hour
from modelmon_dagster.config import Baseline
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.logformat import PREDICTIONS, hour_folder
from modelmon_dagster.performance import ALL, baseline_metrics

DAY = dt.datetime(2026, 11, 16)
SERVED = {DAY: "v2", DAY + dt.timedelta(hours=1): "v2", DAY + dt.timedelta(hours=2): "v9"}


def store_version(warehouse, model, spec, tmp_path, seed):
    preds, labels = tmp_path / f"{spec.model_version}.jsonl", tmp_path / f"{seed}_labels.jsonl"
    write_reference(preds, model, 1500, seed=seed, labels_path=labels)
    return store_baseline(warehouse, model, preds, labels, spec, digest=str(seed))


@pytest.fixture
def versions(warehouse, tmp_path, fraud):
    v2 = Baseline(model_version="v2", reference_predictions="v2.jsonl")
    model = dataclasses.replace(fraud, extra_baselines=(v2,))
    ids = {
        "v1": store_version(warehouse, model, model.baseline, tmp_path, seed=1),
        "v2": store_version(warehouse, model, v2, tmp_path, seed=2),
    }
    logs = tmp_path / "logs"
    for hour, version in SERVED.items():
        records = write_hour(logs, model, hour, 100)
        folder = hour_folder(logs, PREDICTIONS, model.name, hour)
        lines = [json.dumps(r | {"model_version": version}) for r in records]
        (folder / "test.jsonl").write_text("\n".join(lines) + "\n")
        load_prediction_hour(warehouse, model, logs, hour)
    return model, ids


def test_each_hour_is_judged_against_its_versions_baseline(warehouse, versions):
    model, ids = versions
    warnings = []
    by_hour = baselines_by_hour(warehouse, model, list(SERVED), warnings.append)
    assert {h: b.model_version for h, b in by_hour.items()} == {
        DAY: "v2",
        DAY + dt.timedelta(hours=1): "v2",
        DAY + dt.timedelta(hours=2): "v1",  # v9 has none: the default's, and a warning
    }
    assert by_hour[DAY].baseline_id == ids["v2"][0]
    assert len(warnings) == 1 and "'v9'" in warnings[0]


def test_a_window_takes_the_baseline_of_the_version_that_served_most(warehouse, versions):
    model, ids = versions
    warnings = []
    day = baseline_for_window(warehouse, model, DAY, DAY + dt.timedelta(days=1), warnings.append)
    assert day.baseline_id == ids["v2"][0] and warnings == []
    last = DAY + dt.timedelta(hours=2)
    fallback = baseline_for_window(
        warehouse, model, last, last + dt.timedelta(hours=1), warnings.append
    )
    assert fallback.baseline_id == ids["v1"][0] and "'v9'" in warnings[0]


def test_reference_performance_is_the_versions_own(warehouse, versions):
    model, ids = versions
    for version, (baseline_id, frame) in ids.items():
        ref = baseline_metrics(warehouse, model, baseline_id)[(ALL, ALL)]
        y, yhat = frame["label_text"], frame["prediction_label"]
        assert ref["accuracy"] == pytest.approx(metrics.accuracy_score(y, yhat), abs=1e-12), version
