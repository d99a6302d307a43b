"""rollback() picks the last *healthy* version; registry-built baselines survive config rebuilds."""

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from factories import write_reference
from pipeline import Pipeline, only

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_PERFORMANCE,
    load_baseline,
    write_version_baseline,
)
from modelmon_dagster.registry import EmbeddedRegistry, EventKind, Trigger, VersionStatus
from modelmon_dagster.registry.serving import read_serving_plan
from modelmon_dagster.remediation.rollback import HourHealth, assess_health, rollback
from modelmon_dagster.remediation.settings import RemediationConfig, RollbackSettings
from modelmon_dagster.training.artifacts import builtin_uri

T0 = dt.datetime(2026, 11, 16)
SEED = Trigger(actor="test")


def hours(version, start, n, passed=True, failed=()):
    return [HourHealth(version, start + dt.timedelta(hours=h), passed, failed) for h in range(n)]


@pytest.fixture
def history(warehouse):
    """v1 served day 0 cleanly, v2 days 1-2 with errors, v3 serves from day 3 and is failing."""
    registry = EmbeddedRegistry(warehouse)
    for day, version in enumerate(["v1", "v2", "v3"]):
        at = T0 + dt.timedelta(days=day if version != "v3" else 3)
        registry.register("fraud_detector", builtin_uri(version), SEED, at, version=version)
        registry.promote("fraud_detector", version, SEED, at)
    evidence = (
        hours("v1", T0, 24)
        + hours("v2", T0 + dt.timedelta(days=1), 40)
        + hours("v2", T0 + dt.timedelta(days=2, hours=16), 8, passed=False, failed=("error_rate",))
        + hours("v3", T0 + dt.timedelta(days=3), 5, passed=False, failed=("latency",))
    )
    return registry, evidence


def test_rollback_skips_the_previous_version_when_it_was_unhealthy(
    history, warehouse, fraud, tmp_path
):
    registry, evidence = history
    trigger = Trigger(
        actor="sensor:remediation",
        reason="latency spike 1 h after deploy",
        check="latency",
        partition="2026-11-19-01:00",
        severity="ERROR",
        rule="bad_deploy_rollback",
        run_id="run-9",
    )
    now = T0 + dt.timedelta(days=3, hours=5)
    outcome = rollback(warehouse, registry, fraud, trigger, evidence, now, data_dir=tmp_path)

    assert outcome.status == "rolled_back"
    assert (outcome.from_version, outcome.to_version) == ("v3", "v1")  # not v2, the previous one
    assert not outcome.health["v2"].healthy and outcome.health["v1"].healthy
    assert outcome.health["v2"].unhealthy_hours == 8
    assert registry.champion("fraud_detector").version == "v1"
    assert registry.get("fraud_detector", "v3").status is VersionStatus.RETIRED
    event = [e for e in registry.history("fraud_detector") if e.kind is EventKind.ROLLED_BACK][-1]
    assert event.version == "v1" and event.from_version == "v3" and event.at == now
    assert event.trigger.run_id == "run-9" and event.trigger.check == "latency"
    assert "v1 was the last healthy version" in event.trigger.reason
    assert event.trigger.reason.endswith("trigger: latency spike 1 h after deploy")
    assert read_serving_plan(tmp_path, "fraud_detector").at(now).version == "v1"
    assert outcome.baseline_present is False  # reported, never rebuilt


def test_rollback_prefers_the_most_recent_healthy_version(history, warehouse, fraud, tmp_path):
    registry, evidence = history
    healed = [h for h in evidence if h.version != "v2"] + hours("v2", T0 + dt.timedelta(days=1), 48)
    now = T0 + dt.timedelta(days=3, hours=5)
    outcome = rollback(warehouse, registry, fraud, SEED, healed, now, data_dir=tmp_path)
    assert outcome.to_version == "v2"


def test_no_rollback_without_a_healthy_version(history, warehouse, fraud, tmp_path):
    registry, evidence = history
    # v1's hours were never judged (not-judged evidence counts for nothing).
    unjudged = [dataclasses.replace(h, passed=None) if h.version == "v1" else h for h in evidence]
    now = T0 + dt.timedelta(days=3, hours=5)
    outcome = rollback(warehouse, registry, fraud, SEED, unjudged, now, data_dir=tmp_path)
    assert outcome.status == "no_healthy_version" and outcome.to_version is None
    assert "v1: 0 healthy hours" in outcome.reason and "v2: " in outcome.reason
    assert registry.champion("fraud_detector").version == "v3"
    assert read_serving_plan(tmp_path, "fraud_detector") is None


def test_health_is_judged_on_recent_hours_before_now():
    settings = RollbackSettings(min_healthy_hours=3, lookback_hours=10, max_unhealthy_share=0.2)
    evidence = (
        hours("a", T0, 30)  # long healthy, then recent trouble
        + hours("a", T0 + dt.timedelta(hours=30), 4, passed=False)
        + hours("b", T0, 3)
        + hours("c", T0 + dt.timedelta(days=5), 10)  # after "now": ignored
    )
    health = assess_health(evidence, settings, T0 + dt.timedelta(days=2))
    assert not health["a"].healthy and health["a"].unhealthy_hours == 4
    assert health["b"].healthy and "c" not in health
    with pytest.raises(ValueError, match="min_healthy_hours"):
        RollbackSettings(min_healthy_hours=30, lookback_hours=10)
    assert RemediationConfig().rollback.min_healthy_hours == 6


def test_config_rebuild_leaves_registry_baselines_alone(settings, demo_config, warehouse):
    config = only(demo_config, "fraud_detector")
    model = config.model("fraud_detector")
    records = write_reference(
        settings.data_dir / model.baseline.reference_predictions,
        model,
        3000,
        labels_path=settings.data_dir / model.baseline.reference_labels,
    )
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    holdout = pd.DataFrame(
        {
            "prediction_id": [r["prediction_id"] for r in records],
            "ts": pd.to_datetime([r["timestamp"] for r in records]).tz_localize(None),
            "prediction_label": [r["prediction"] for r in records],
            "prediction_value": None,
            "score": [r["score"] for r in records],
            "label_text": ["1" if i % 7 == 0 else "0" for i in range(len(records))],
        }
        | {f.column: [r["features"][f.name] for r in records] for f in model.features}
    )
    registry_id = write_version_baseline(warehouse, model, "v9", holdout)
    assert write_version_baseline(warehouse, model, "v9", holdout) == registry_id  # idempotent
    config_id = load_baseline(warehouse, model).baseline_id

    pipeline.baseline()  # a config rebuild replaces the config's rows only
    assert load_baseline(warehouse, model, "v9").baseline_id == registry_id
    assert load_baseline(warehouse, model).baseline_id == config_id
    counts = warehouse.query_df(
        f"SELECT baseline_id, count(*) AS n FROM {BASELINE_BINS.name} GROUP BY baseline_id"
    ).set_index("baseline_id")["n"]
    assert set(counts.index) == {registry_id, config_id}  # nothing duplicated by the rebuild
    perf = warehouse.query_df(
        f"SELECT metric, value FROM {BASELINE_PERFORMANCE.name} "
        "WHERE baseline_id = :b AND segment_column = '__all__'",
        {"b": registry_id},
    ).set_index("metric")["value"]
    assert perf["positive_rate"] == pytest.approx(sum(i % 7 == 0 for i in range(3000)) / 3000)
