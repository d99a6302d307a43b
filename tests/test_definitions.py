"""The code location loads, and its inventory is a reviewed snapshot (a graph change is a diff).

Regenerate after an intended change: ``UPDATE_SNAPSHOTS=1 make test`` (then review the diff).
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from modelmon_dagster.config import WarehouseRetry, load_config
from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "inventory.json"


def inventory(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "partitions": type(partitions).__name__ if partitions else None,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "group": node.group_name,
            "pool": next(iter(node.pools), None) if node.pools else None,
        }
    checks = sorted(k.to_user_string() for k in graph.asset_check_keys)
    repository = defs.get_repository_def()
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    schedules = sorted(
        (s.name, s.cron_schedule, s.job_name, s.default_status.value)
        for s in repository.schedule_defs
    )
    sensors = sorted(s.name for s in repository.sensor_defs)
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "schedules": [list(s) for s in schedules],
        "sensors": sensors,
    }


def test_inventory_matches_snapshot(tmp_path):
    settings = Settings.from_env({"MODELMON_DATA_DIR": str(tmp_path)})
    defs = build_definitions(load_config(settings.config_path), settings)
    current = inventory(defs)
    if updating_snapshots(os.environ):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def updating_snapshots(environ) -> bool:
    """Whether to rewrite the snapshot; in CI the snapshot is only ever compared.

    With ``UPDATE_SNAPSHOTS`` set, the comparison above cannot fail: CI must never set it.
    """
    if not environ.get("UPDATE_SNAPSHOTS"):
        return False
    if environ.get("CI"):
        pytest.fail("UPDATE_SNAPSHOTS is set in CI: the snapshot would be rewritten, not checked")
    return True


@pytest.mark.parametrize("ci", ["true", "1"])
def test_ci_never_rewrites_the_snapshot(ci):
    with pytest.raises(pytest.fail.Exception, match="UPDATE_SNAPSHOTS is set in CI"):
        updating_snapshots({"UPDATE_SNAPSHOTS": "1", "CI": ci})
    assert updating_snapshots({"UPDATE_SNAPSHOTS": "1"}) is True
    assert updating_snapshots({"CI": ci}) is False


def test_the_ci_entry_point_does_not_update_snapshots():
    script = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "unset UPDATE_SNAPSHOTS" in script
    assert "UPDATE_SNAPSHOTS=" not in script


def test_every_asset_has_a_description_and_writers_share_the_pool(tmp_path):
    settings = Settings.from_env({"MODELMON_DATA_DIR": str(tmp_path)})
    graph = build_definitions(load_config(settings.config_path), settings).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.pools == {"warehouse"}, key


def test_every_check_says_what_a_failure_means_and_what_to_do(tmp_path):
    from modelmon_dagster.dashboard.guidance import GUIDANCE

    settings = Settings.from_env({"MODELMON_DATA_DIR": str(tmp_path)})
    graph = build_definitions(load_config(settings.config_path), settings).resolve_asset_graph()
    assert len(graph.asset_check_keys) >= 40
    for key in graph.asset_check_keys:
        description = graph.get_check_spec(key).description or ""
        measures, _, advice = description.partition(" A failure means ")
        wrong, action = GUIDANCE[key.name]
        assert len(measures) > 20 and "On failure" not in measures, key
        assert advice == f"{wrong}. What to do: {action}.", key


def test_steps_that_write_measurements_retry_as_configured(tmp_path):
    # Dashboards and review samples only read the warehouse and write files: no retries.
    settings = Settings.from_env({"MODELMON_DATA_DIR": str(tmp_path)})
    retry = WarehouseRetry(max_retries=2, delay_seconds=1.5)
    config = dataclasses.replace(load_config(settings.config_path), warehouse_retry=retry)
    policy = dg.RetryPolicy(max_retries=2, delay=1.5, backoff=dg.Backoff.EXPONENTIAL)
    steps = build_definitions(config, settings).resolve_asset_graph().assets_defs
    retried = {a.op.name for a in steps if a.op.retry_policy == policy}
    assert {a.op.name for a in steps if a.op.retry_policy not in (None, policy)} == set()
    assert retried == {
        f"{model.name}__{step}"
        for model in config.models
        for step in ("ingest", "baseline", "hourly_aggregates", "daily_aggregates")
    }


@pytest.mark.e2e
def test_dagster_cli_validates_the_code_location(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "MODELMON_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr
