"""A real ``dagster-daemon`` ticks the remediation sensor and the rollback run it launches ends.

The hours before and after a bad deploy run in process against a SQLite instance on disk (the
shipped ``dagster_home/dagster.yaml``); then the daemon is started on that instance over
``workspace.yaml``, as ``make ui`` starts it. It loads the code location, evaluates the
``remediation_policy`` sensor (running by default) with the real clock, and launches the
rollback as its own process. Bounded: the daemon is stopped after at most ``DEADLINE`` s.
"""

import datetime as dt
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from daemon import running_daemon
from pipeline import Pipeline

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings
from modelmon_dagster.registry import EmbeddedRegistry, Trigger
from modelmon_dagster.registry.serving import publish_serving_plan, read_serving_plan
from modelmon_dagster.sim import ErrorBurst, simulate
from modelmon_dagster.training.artifacts import builtin_uri
from modelmon_dagster.warehouse import Warehouse

MODEL = "demand_forecaster"
ROLLBACK_JOB = f"{MODEL}__rollback"
DEADLINE = 240


def _config_file(tmp_path: Path, start: dt.date) -> Path:
    """The demo's config with one model, its partitions starting at ``start``."""
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "models.yaml").read_text())
    raw["partitions"]["start_date"] = start.isoformat()
    raw["models"] = [m for m in raw["models"] if m["name"] == MODEL]
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _seed_bad_deploy(settings: Settings, day0: dt.datetime, deploy: dt.datetime) -> None:
    warehouse = Warehouse(settings.warehouse_url)
    try:
        registry = EmbeddedRegistry(warehouse)
        for version, at, who in (("v1", day0 - dt.timedelta(days=7), "demo"), ("v2", deploy, "ci")):
            registry.register(MODEL, builtin_uri(version), Trigger(who), at, version=version)
            registry.promote(MODEL, version, Trigger(who, reason="deploy"), at)
        publish_serving_plan(registry, MODEL, settings.data_dir)
    finally:
        warehouse.dispose()


def _rollback_runs(instance: dg.DagsterInstance) -> list:
    return instance.get_run_records(dg.RunsFilter(job_name=ROLLBACK_JOB))


@pytest.mark.e2e
def test_the_daemon_ticks_the_sensor_and_the_rollback_runs(tmp_path, monkeypatch):
    # v1 served until yesterday noon, then v2 (30 % errors): the last 12 hours are recent
    # enough for every guardrail (horizon 72 h, deploy within 24 h) on the real clock.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    day0 = dt.datetime.combine(now.date() - dt.timedelta(days=1), dt.time())
    deploy = day0 + dt.timedelta(hours=12)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "MODELMON_DATA_DIR": str(tmp_path / "data"),
        "MODELMON_CONFIG": str(_config_file(tmp_path, day0.date())),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    config = load_config(settings.config_path)
    settings.data_dir.mkdir()
    _seed_bad_deploy(settings, day0, deploy)
    scenarios = [ErrorBurst(model_name=MODEL, start=day0, rate=0.3, version="v2")]
    simulate(config, settings.data_dir, day0, 1, seed=8, scenarios=scenarios)

    with dg.DagsterInstance.get() as instance:
        pipeline = Pipeline(config, settings, instance=instance)
        pipeline.baseline()
        pipeline.backfill("hourly", day0, day0 + dt.timedelta(hours=23))
        assert _rollback_runs(instance) == []

        daemon_env = {**os.environ, **env}
        with running_daemon(
            "workspace.yaml", daemon_env, tmp_path / "daemon.log", PROJECT_ROOT
        ) as daemon:
            run = None
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                records = _rollback_runs(instance)
                if records and records[0].dagster_run.is_finished:
                    run = records[0].dagster_run
                    break
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(2)

        log = (tmp_path / "daemon.log").read_text()[-3000:]
        assert run is not None, f"no finished {ROLLBACK_JOB} run within {DEADLINE} s:\n{log}"
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/sensor_name"] == "remediation_policy"
        assert run.tags["modelmon/rule"] == "bad_deploy_rollback"
        assert run.tags["modelmon/severity"] == "ERROR"
        assert run.tags["modelmon/partition"] >= deploy.strftime("%Y-%m-%d-%H:%M")
        assert run.tags["modelmon/outcome"] == "rolled_back"
        assert len(_rollback_runs(instance)) == 1
    assert read_serving_plan(settings.data_dir, MODEL).champion.version == "v1"
