"""retrain() on simulated worlds ingested into a real warehouse, with real scikit-learn models."""

import dataclasses
import datetime as dt
import shutil

import pytest
import sqlalchemy as sa

from modelmon_dagster.baseline import (
    BASELINE_COLUMNS,
    baseline_for_window,
    load_baseline,
)
from modelmon_dagster.config import LabelDelay
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.registry import EmbeddedRegistry, EventKind, Trigger, VersionStatus
from modelmon_dagster.registry.serving import read_serving_plan
from modelmon_dagster.remediation.retrain import retrain
from modelmon_dagster.remediation.settings import RemediationConfig, TrainingSettings
from modelmon_dagster.sim import ConceptDrift, LabelDrift, simulate
from modelmon_dagster.training.artifacts import builtin_uri, load_model
from modelmon_dagster.warehouse import Warehouse

START = dt.datetime(2026, 11, 16)
NOW = START + dt.timedelta(days=1)
TRIGGER = Trigger(
    actor="sensor:remediation",
    reason="performance failed",
    check="performance",
    asset="daily_performance",
    partition="2026-11-16",
    severity="ERROR",
    rule="decay_retrain",
    run_id="run-7",
)


def _fast_labels(config, name):
    """The model with labels arriving within hours, so one simulated day is mostly labelled."""
    model = dataclasses.replace(config.model(name), label_delay=LabelDelay(2.0, 6.0))
    return dataclasses.replace(config, models=(model,)), model


def _world(tmp_path_factory, config, name, scenarios):
    config, model = _fast_labels(config, name)
    root = tmp_path_factory.mktemp(name)
    simulate(config, root / "data", START, 1, reference_size=0, scenarios=scenarios)
    wh = Warehouse(f"duckdb:///{root / 'warehouse.duckdb'}")
    for h in range(24):
        hour = START + dt.timedelta(hours=h)
        load_prediction_hour(wh, model, root / "data" / "logs", hour)
        load_label_hour(wh, model, root / "data" / "logs", hour)
    wh.dispose()
    return root / "warehouse.duckdb", model


@pytest.fixture(scope="module")
def drifted_fraud(tmp_path_factory, demo_config):
    """A day of fraud traffic after a concept drift: the served v1 is wrong about it."""
    drift = ConceptDrift(model_name="fraud_detector", start=START, strength=1.0)
    return _world(tmp_path_factory, demo_config, "fraud_detector", [drift])


@pytest.fixture(scope="module")
def clean_fraud(tmp_path_factory, demo_config):
    return _world(tmp_path_factory, demo_config, "fraud_detector", [])


@pytest.fixture(scope="module")
def drifted_demand(tmp_path_factory, demo_config):
    """A day of demand with 30 % more units sold than v1 forecasts (label drift)."""
    drift = LabelDrift(model_name="demand_forecaster", start=START, outcome_scale=1.3)
    return _world(tmp_path_factory, demo_config, "demand_forecaster", [drift])


def _setup(world, tmp_path, trainer, seed=True, **training):
    """A copy of the world's warehouse, a registry whose champion is the built-in v1."""
    path, model = world
    shutil.copy(path, tmp_path / "warehouse.duckdb")
    wh = Warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    registry = EmbeddedRegistry(wh)
    if seed:
        initial = Trigger(actor="test", reason="initial champion")
        registry.register(model.name, builtin_uri("v1"), initial, START, version="v1")
        registry.promote(model.name, "v1", initial, START)
    settings = TrainingSettings(
        trainer=f"modelmon_dagster.training.trainers:{trainer}", window_hours=24, **training
    )
    model = dataclasses.replace(model, remediation=RemediationConfig(training=settings))
    return wh, registry, model


def test_retrain_promotes_a_real_improvement_after_concept_drift(drifted_fraud, tmp_path):
    wh, registry, model = _setup(drifted_fraud, tmp_path, "fraud_detector")
    outcome = retrain(wh, registry, model, TRIGGER, NOW, data_dir=tmp_path / "data")

    assert outcome.status == "promoted", outcome.reason
    assert (outcome.version, outcome.champion_before, outcome.champion_after) == ("v2", "v1", "v2")
    test = outcome.test
    assert test.metric == "roc_auc" and test.method == "delong"
    assert test.improvement > 0.05 and test.p_value < 1e-6
    assert outcome.training_window.end < outcome.holdout_window.start  # a later holdout
    assert outcome.compared_rows == outcome.holdout_rows > 1000

    v2 = registry.get(model.name, "v2")
    assert v2.status is VersionStatus.CHAMPION and registry.champion(model.name).version == "v2"
    assert v2.trainer.endswith(":fraud_detector") and v2.training_metrics["rows"] > 3000
    assert v2.evaluation_metrics["gate"]["test"]["p_value"] == pytest.approx(test.p_value)
    assert v2.baseline_id == outcome.baseline_id
    history = registry.history(model.name)
    promoted = next(e for e in history if e.kind is EventKind.PROMOTED and e.version == "v2")
    assert promoted.trigger.check == "performance" and promoted.trigger.run_id == "run-7"
    assert promoted.trigger.partition == "2026-11-16" and "delong" in promoted.trigger.reason
    assert promoted.trigger.reason.endswith("trigger: performance failed")
    assert registry.get(model.name, "v1").status is VersionStatus.RETIRED

    # The artifact predicts, the serving plan names it, the baseline is found for v2's hours.
    plan = read_serving_plan(tmp_path / "data", model.name)
    assert plan.at(NOW).version == "v2" and plan.at(START).version == "v1"
    assert load_model(plan.champion.artifact_uri).predict(
        wh.query_df(f"SELECT * FROM {model.name}__raw_predictions LIMIT 5")
    ).score.shape == (5,)
    baseline = load_baseline(wh, model, "v2")
    assert baseline.baseline_id == outcome.baseline_id
    origin = wh.scalar(
        f"SELECT min(origin) FROM {BASELINE_COLUMNS.name} WHERE baseline_id = :b",
        {"b": outcome.baseline_id},
    )
    assert origin == "registry"
    # Hours served by v2 are binned and judged on v2's baseline.
    last = NOW - dt.timedelta(hours=1)
    with wh.transaction() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {model.name}__raw_predictions SET model_version = 'v2' "
                "WHERE partition_hour = :h"
            ),
            {"h": last},
        )
    warnings = []
    assert (
        baseline_for_window(wh, model, last, NOW, warnings.append).baseline_id
        == outcome.baseline_id
    )
    assert not warnings
    wh.dispose()


def test_retrain_rejects_a_worse_challenger_and_keeps_it(clean_fraud, tmp_path):
    # On clean traffic v1 is the true model; a challenger that sees one feature is worse.
    wh, registry, model = _setup(clean_fraud, tmp_path, "default_classifier")
    weak = dataclasses.replace(model, features=model.features[:1])  # amount only
    outcome = retrain(wh, registry, weak, TRIGGER, NOW, data_dir=tmp_path / "data")

    assert outcome.status == "rejected"
    assert outcome.test.improvement < 0 and outcome.test.p_value > 0.5
    v2 = registry.get(model.name, "v2")
    assert v2.status is VersionStatus.REJECTED and "not significantly better" in v2.status_reason
    assert v2.evaluation_metrics["gate"]["test"]["improvement"] < 0
    assert registry.champion(model.name).version == "v1"
    rejected = registry.history(model.name)[-1]
    assert rejected.kind is EventKind.REJECTED and rejected.trigger.rule == "decay_retrain"
    assert read_serving_plan(tmp_path / "data", model.name) is None  # nothing republished
    assert v2.baseline_id is None
    wh.dispose()


def test_without_a_registered_champion_the_configs_version_is_the_one_to_beat(
    clean_fraud, tmp_path
):
    # A model monitored from its own config has never been registered: its config's version
    # (here v1) serves. Before: "no champion to compare with", and the worse challenger was
    # promoted and published as the version to serve.
    wh, registry, model = _setup(clean_fraud, tmp_path, "default_classifier", seed=False)
    weak = dataclasses.replace(model, features=model.features[:1], segments=())
    outcome = retrain(wh, registry, weak, TRIGGER, NOW, data_dir=tmp_path / "data")

    assert outcome.status == "rejected", outcome.reason
    assert outcome.test.improvement < 0 and outcome.compared_rows >= 200
    assert "not significantly better" in outcome.reason
    assert outcome.metrics["champion"] == "v1" and outcome.champion_before is None
    assert registry.champion(model.name) is None
    assert read_serving_plan(tmp_path / "data", model.name) is None
    wh.dispose()


def test_retrain_gates_regressors_on_paired_absolute_errors(drifted_demand, tmp_path):
    wh, registry, model = _setup(drifted_demand, tmp_path, "demand_forecaster")
    outcome = retrain(wh, registry, model, TRIGGER, NOW, data_dir=tmp_path / "data")
    assert outcome.status == "promoted", outcome.reason
    assert outcome.test.method == "paired_t_abs_error" and outcome.test.improvement > 0.1
    holdout = outcome.metrics["holdout"]
    assert holdout["mae"] == pytest.approx(outcome.test.challenger, rel=0.2)
    assert holdout["mae"] < outcome.test.champion
    assert load_baseline(wh, model, outcome.version).baseline_id == outcome.baseline_id
    wh.dispose()


def test_retrain_skips_without_enough_labelled_rows(drifted_demand, tmp_path):
    wh, registry, model = _setup(
        drifted_demand, tmp_path, "demand_forecaster", min_training_rows=10**6
    )
    outcome = retrain(wh, registry, model, TRIGGER, NOW, data_dir=tmp_path / "data")
    assert outcome.status == "skipped" and "min_training_rows" in outcome.reason
    assert [v.version for v in registry.versions(model.name)] == ["v1"]
    assert not (tmp_path / "data" / "models").exists()
    later = retrain(wh, registry, model, TRIGGER, START, data_dir=tmp_path / "data")
    assert later.status == "skipped" and later.training_rows == 0
    wh.dispose()
