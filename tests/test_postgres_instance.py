"""The production instance (``deploy/dagster.postgres.yaml``) end to end, on a fresh database.

Runs, event log and schedules live in a new PostgreSQL database; the warehouse is a schema of
it. Real runs go through the CLI (``dagster job execute``: the baseline, a ranged hourly
backfill, a monitoring run with its checks), then ``dagster dev`` (webserver, daemon, code
server) starts on that instance: the daemon ticks the ``late_label_refresh`` sensor, which sees
the labels that arrived for the first day and requests a performance run; the queued run
coordinator starts it. Runs, check results and sensor ticks are read back over GraphQL.
"""

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from conftest import instance_env

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.resources import PROJECT_ROOT
from modelmon_dagster.service import DagsterDev, dagster_bin
from modelmon_dagster.sim import simulate

MODEL = "demand_forecaster"
INSTANCE_FILE = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
HOUR_KEY = "%Y-%m-%d-%H:%M"

CHECKS_OF_RUN = """
query($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    ... on EventConnection { events { __typename
      ... on AssetCheckEvaluationEvent { evaluation {
        checkName success severity partition assetKey { path } } } } }
  }
}
"""
CHECK_HISTORY = """
query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 10) {
    runId status partition evaluation { success }
  }
}
"""
SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { status ticks(limit: 20) { status runIds skipReason } } }
  }
}
"""


@pytest.fixture
def instance_database(fresh_database):
    """A fresh database for the Dagster instance, with a schema for the warehouse."""
    engine = sa.create_engine(fresh_database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA warehouse"))
    engine.dispose()
    return fresh_database


def _environment(tmp_path: Path, url: sa.URL, day0: dt.date) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_FILE.read_text())
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "models.yaml").read_text())
    raw["partitions"]["start_date"] = day0.isoformat()
    raw["models"] = [m for m in raw["models"] if m["name"] == MODEL]
    config = tmp_path / "models.yaml"
    config.write_text(yaml.safe_dump(raw))
    warehouse = url.set(
        drivername="postgresql+psycopg", query={"options": "-csearch_path=warehouse"}
    )
    return {
        "DAGSTER_HOME": str(home),
        **instance_env(url),
        "MODELMON_CONFIG": str(config),
        "MODELMON_DATA_DIR": str(tmp_path / "data"),
        "MODELMON_WAREHOUSE_URL": warehouse.render_as_string(hide_password=False),
    }


def _cli_execute(env: dict, tmp_path: Path, job: str, tags: dict | None = None) -> None:
    run_config = tmp_path / "in_process.yaml"
    run_config.write_text(yaml.safe_dump(IN_PROCESS))
    command = [dagster_bin("dagster"), "job", "execute", "-m", "modelmon_dagster.definitions"]
    command += ["-j", job, "-c", str(run_config), "--tags", json.dumps(tags or {})]
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]


def _tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def _sensor_ticks(dev: DagsterDev, name: str) -> list[dict]:
    selector = {"repositoryLocationName": "modelmon", "repositoryName": "__repository__"}
    data = dev.query(SENSOR_TICKS, {"selector": {**selector, "sensorName": name}})
    return data["sensorOrError"]["sensorState"]["ticks"]


@pytest.mark.e2e
@pytest.mark.postgres
def test_runs_checks_and_sensor_ticks_on_the_postgres_instance(tmp_path, instance_database):
    day0 = dt.date.today() - dt.timedelta(days=2)
    start = dt.datetime.combine(day0, dt.time())
    env = _environment(tmp_path, instance_database, day0)
    config_path = Path(env["MODELMON_CONFIG"])
    simulate(load_config(config_path), Path(env["MODELMON_DATA_DIR"]), start, 2, seed=3)

    # Real runs through the CLI: the baseline, day 0's first hours (ranged, no checks), then
    # day 1's first hour with its checks: its labels are for day 0's predictions.
    _cli_execute(env, tmp_path, "baseline_job")
    first, last = start, start + dt.timedelta(hours=2)
    range_tags = {
        "dagster/asset_partition_range_start": first.strftime(HOUR_KEY),
        "dagster/asset_partition_range_end": last.strftime(HOUR_KEY),
    }
    _cli_execute(env, tmp_path, f"{MODEL}__hourly_backfill", range_tags)
    hour = (start + dt.timedelta(hours=24)).strftime(HOUR_KEY)
    cli_tags = {"dagster/partition": hour, "modelmon/started_by": "cli"}
    _cli_execute(env, tmp_path, f"{MODEL}__hourly_monitoring", cli_tags)

    # The daemon ticks the sensor as it starts; the run it requests goes through the queued
    # run coordinator and the default (multiprocess) executor.
    with DagsterDev(env) as dev:
        ticks = []
        for _ in range(60):
            ticks = [t for t in _sensor_ticks(dev, "late_label_refresh") if t["runIds"]]
            if ticks:
                break
            time.sleep(2)
        assert ticks, _sensor_ticks(dev, "late_label_refresh")
        sensor_runs = dev.wait_finished(ticks[0]["runIds"], timeout=240)
        runs = dev.runs()
        # (a schedule may add runs of the job when the test spans ten past the hour)
        monitored = next(r["runId"] for r in runs if _tags(r).get("modelmon/started_by"))
        checks = dev.query(CHECKS_OF_RUN, {"runId": monitored})["logsForRun"]["events"]
        evaluations = [
            e["evaluation"] for e in checks if e["__typename"] == "AssetCheckEvaluationEvent"
        ]
        first_check = evaluations[0]
        history = dev.query(
            CHECK_HISTORY,
            {"key": {"path": first_check["assetKey"]["path"]}, "check": first_check["checkName"]},
        )["assetCheckExecutions"]

    by_job = {}
    for run in runs:
        by_job.setdefault(run["jobName"], []).append(run)
    # The three CLI runs and the sensor's run, all in the PostgreSQL run storage.
    assert [r["status"] for r in by_job["baseline_job"]] == ["SUCCESS"]
    assert [r["status"] for r in by_job[f"{MODEL}__hourly_backfill"]] == ["SUCCESS"]
    assert {r["runId"]: r["status"] for r in runs}[monitored] == "SUCCESS"
    assert [r["status"] for r in sensor_runs] == ["SUCCESS"]
    sensor_tags = _tags(sensor_runs[0])
    assert sensor_tags["dagster/sensor_name"] == "late_label_refresh"
    assert sensor_tags["dagster/partition"] == day0.isoformat()
    # Check results of the monitoring run, per partition, from the event log.
    assert len(evaluations) >= 5
    assert {e["partition"] for e in evaluations} == {hour}
    assert all(e["assetKey"]["path"][0] == MODEL for e in evaluations)
    assert monitored in {h["runId"] for h in history}
