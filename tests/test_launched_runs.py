"""Runs the daemon launches (``make ui``, ``make ui-postgres``) get the limits in-process runs get.

A real ``dagster-daemon`` over the shipped instance file and a code location that loads
modelmon's definitions (tests/launched_probe.py) launches a probe run through the run launcher;
the probe's step, in its own process, records one OpenMP/BLAS thread per loaded pool and event
batching on, although the daemon's environment sets neither. Bounded by ``DEADLINE`` s.
"""

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from daemon import running_daemon
from launched_probe import PROBE

from modelmon_dagster.defs.resources import PROJECT_ROOT
from modelmon_dagster.runner import EVENT_BATCH_SIZE

DEADLINE = 240
LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "DAGSTER_EVENT_BATCH_SIZE")


def _probe_metadata(instance: dg.DagsterInstance) -> dict | None:
    event = instance.get_latest_materialization_event(dg.AssetKey(PROBE))
    if event is None:
        return None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _failed_runs(instance: dg.DagsterInstance) -> list:
    return instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))


@pytest.mark.e2e
def test_a_run_the_daemon_launches_has_one_numeric_thread_and_batched_events(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    probe_file = Path(__file__).with_name("launched_probe.py")
    workspace.write_text(f"load_from:\n  - python_file: {probe_file}\n")
    env = {k: v for k, v in os.environ.items() if k not in LIMITS}
    env |= {
        "DAGSTER_HOME": str(home),
        "MODELMON_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(probe_file.parent)]),
    }
    metadata = None
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # The instance's storage is created here, before the daemon opens it: two processes
    # creating a fresh SQLite storage at once can stamp its schema version twice (alembic's
    # "more than one head" then fails the daemon's run launches).
    with dg.DagsterInstance.get() as instance:
        with running_daemon(str(workspace), env, tmp_path / "daemon.log", tmp_path) as daemon:
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline and metadata is None:
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                assert not _failed_runs(instance), (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(2)
                metadata = _probe_metadata(instance)
    log = (tmp_path / "daemon.log").read_text()[-3000:]
    assert metadata is not None, f"no probe run finished within {DEADLINE} s:\n{log}"
    assert metadata["OMP_NUM_THREADS"] == "1"
    assert metadata["DAGSTER_EVENT_BATCH_SIZE"] == EVENT_BATCH_SIZE
    pools = dict(metadata["pools"])
    assert "openblas" in pools  # numpy's BLAS is loaded in the run's process
    assert set(pools.values()) == {1}, pools
