"""The registry contract on every backend: embedded DuckDB, embedded PostgreSQL, MLflow (SQLite)."""

import datetime as dt
import uuid

import pytest

from modelmon_dagster.registry import (
    CHALLENGER,
    EmbeddedRegistry,
    EventKind,
    RegistryError,
    TimeWindow,
    Trigger,
    VersionNotFoundError,
    VersionStatus,
    next_version_name,
)
from modelmon_dagster.warehouse import Warehouse

T0 = dt.datetime(2026, 11, 16)


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    # One SQLite registry per module: creating MLflow's schema takes a few seconds.
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres), "mlflow"])
def registry(request, tmp_path):
    if request.param == "mlflow":
        from modelmon_dagster.registry.mlflow_backend import MlflowRegistry

        # A fresh prefix per test keeps tests independent inside the shared database.
        yield MlflowRegistry(
            request.getfixturevalue("mlflow_uri"), prefix=f"t{uuid.uuid4().hex[:8]}-"
        )
        return
    if request.param == "duckdb":
        wh = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    else:
        wh = Warehouse(request.getfixturevalue("postgres_schema_url"))
    yield EmbeddedRegistry(wh)
    wh.dispose()


def reopen(registry):
    """A second client over the same storage (what another process would see)."""
    if isinstance(registry, EmbeddedRegistry):
        return EmbeddedRegistry(Warehouse(registry.warehouse.url))
    from modelmon_dagster.registry.mlflow_backend import MlflowRegistry

    return MlflowRegistry(registry.registry_uri, prefix=registry.prefix)


def test_lifecycle_and_history(registry):
    seed = Trigger(actor="demo", reason="initial champion")
    registry.register("fraud", "builtin:v1", seed, T0, version="v1")
    registry.promote("fraud", "v1", seed, T0)
    assert registry.champion("fraud").version == "v1"

    window = TimeWindow(T0, T0 + dt.timedelta(days=3))
    holdout = TimeWindow(T0 + dt.timedelta(days=3), T0 + dt.timedelta(days=4))
    trigger = Trigger(
        actor="sensor:remediation",
        reason="performance failed",
        check="performance",
        asset="daily_performance",
        partition="2026-11-21",
        severity="ERROR",
        rule="decay_retrain",
        run_id="run-1",
    )
    at = T0 + dt.timedelta(days=5)
    v2 = registry.register(
        "fraud",
        "/data/models/fraud/v2",
        trigger,
        at,
        trainer="pkg.mod:train",
        training_window=window,
        holdout_window=holdout,
        training_metrics={"rows": 1200, "roc_auc": 0.91},
    )
    assert v2.version == "v2" and v2.status is VersionStatus.CANDIDATE
    registry.set_challenger("fraud", "v2", trigger, at)
    assert registry.alias("fraud", CHALLENGER).version == "v2"
    registry.annotate(
        "fraud", "v2", trigger, at, evaluation_metrics={"p_value": 1e-9}, baseline_id="v2-abc"
    )
    registry.promote("fraud", "v2", trigger.with_reason("AUC +0.08, p < 1e-9"), at)

    v3 = registry.register("fraud", "/data/models/fraud/v3", trigger, at)
    registry.reject("fraud", "v3", trigger.with_reason("not better: p = 0.4"), at)
    later = at + dt.timedelta(hours=5)
    rollback = Trigger(
        actor="sensor:remediation", reason="errors after deploy", check="error_rate", run_id="r2"
    )
    registry.rollback("fraud", "v1", rollback, later)

    other = reopen(registry)
    assert other.champion("fraud").version == "v1"
    assert other.alias("fraud", CHALLENGER) is None
    stored = {v.version: v for v in other.versions("fraud")}
    assert [v.version for v in other.versions("fraud")] == ["v1", "v2", "v3"]
    assert stored["v1"].status is VersionStatus.CHAMPION
    assert stored["v2"].status is VersionStatus.RETIRED
    assert stored["v3"].status is VersionStatus.REJECTED
    assert stored["v3"].status_reason == "not better: p = 0.4"
    assert v3.artifact_uri == stored["v3"].artifact_uri == "/data/models/fraud/v3"
    assert stored["v2"].training_window == window and stored["v2"].holdout_window == holdout
    assert stored["v2"].training_metrics == {"rows": 1200, "roc_auc": 0.91}
    assert stored["v2"].evaluation_metrics == {"p_value": 1e-9}
    assert stored["v2"].baseline_id == "v2-abc" and stored["v2"].trainer == "pkg.mod:train"
    assert stored["v2"].created_at == at and stored["v2"].created_by == "sensor:remediation"

    history = other.history("fraud")
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    assert [(e.kind, e.version) for e in history] == [
        (EventKind.REGISTERED, "v1"),
        (EventKind.PROMOTED, "v1"),
        (EventKind.REGISTERED, "v2"),
        (EventKind.CHALLENGER_SET, "v2"),
        (EventKind.ANNOTATED, "v2"),
        (EventKind.PROMOTED, "v2"),
        (EventKind.RETIRED, "v1"),
        (EventKind.REGISTERED, "v3"),
        (EventKind.REJECTED, "v3"),
        (EventKind.ROLLED_BACK, "v1"),
        (EventKind.RETIRED, "v2"),
    ]
    promoted = history[5]
    assert promoted.from_version == "v1" and promoted.at == at
    assert promoted.trigger == trigger.with_reason("AUC +0.08, p < 1e-9")
    rolled = history[9]
    assert rolled.from_version == "v2" and rolled.at == later and rolled.trigger == rollback
    assert history[10].details == {"successor": "v1"}
    assert all(e.recorded_at is not None for e in history)


def test_refused_transitions(registry):
    t = Trigger(actor="test")
    registry.register("m", "a", t, T0, version="v1")
    registry.promote("m", "v1", t, T0)
    registry.register("m", "b", t, T0)
    registry.reject("m", "v2", t.with_reason("worse"), T0)
    with pytest.raises(RegistryError, match="only a candidate version can be promoted"):
        registry.promote("m", "v2", t, T0)
    with pytest.raises(RegistryError, match="only a retired version can be rolled back"):
        registry.rollback("m", "v2", t, T0)
    with pytest.raises(RegistryError, match="already registered"):
        registry.register("m", "c", t, T0, version="v1")
    with pytest.raises(RegistryError, match="not a valid version"):
        registry.register("m", "c", t, T0, version="v 9")
    with pytest.raises(VersionNotFoundError):
        registry.get("m", "v9")
    assert registry.champion("other") is None and registry.history("other") == []
    assert registry.champion("m").version == "v1"


def test_next_version_name():
    assert next_version_name([]) == "v1"
    assert next_version_name(["v1", "v2", "challenger-x", "v10"]) == "v11"
