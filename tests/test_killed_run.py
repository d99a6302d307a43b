"""Regression test: a SIGKILLed run gives its warehouse pool slot back (issue 9, item 8).

Before the fix, a run killed while it held the ``warehouse`` slot stayed STARTED for ever
(``DefaultRunLauncher`` cannot check its worker), so the slot stayed taken ("1 / 1 slots
occupied") and no later warehouse write ever started. The test uses the shipped instance file,
a real (killed) process as the run worker, and the monitoring daemon's own iterations.
"""

import logging
import shutil
import signal
import subprocess
import sys
import time

import dagster as dg
import yaml
from dagster._core.events import EngineEventData
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.monitoring import (
    execute_concurrency_slots_iteration,
    execute_run_monitoring_iteration,
)
from dagster._utils.concurrency import ConcurrencySlotStatus

from modelmon_dagster.defs.resources import PROJECT_ROOT, WAREHOUSE_POOL
from modelmon_dagster.instance_launcher import LocalRunLauncher

SHIPPED = PROJECT_ROOT / "dagster_home" / "dagster.yaml"
LOG = logging.getLogger("test_killed_run")


class Daemon:
    """What the monitoring daemon hands its iterations: the instance (no resumes here)."""

    def __init__(self, instance):
        self.instance = instance

    def create_request_context(self):
        return None

    def tick(self):
        list(execute_run_monitoring_iteration(self, LOG))
        list(execute_concurrency_slots_iteration(self, LOG))


def test_shipped_instance_monitors_runs_and_frees_slots_of_dead_ones():
    settings = yaml.safe_load(SHIPPED.read_text())
    monitoring = settings["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["max_resume_run_attempts"] == 0
    assert (
        monitoring["poll_interval_seconds"] + monitoring["free_slots_after_run_end_seconds"] <= 60
    )


def test_a_sigkilled_run_releases_its_pool_slot(tmp_path, monkeypatch):
    shutil.copy(SHIPPED, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert isinstance(instance.run_launcher, LocalRunLauncher)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    daemon = Daemon(instance)

    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run = create_run_for_test(instance, job_name="ingest", status=dg.DagsterRunStatus.STARTED)
        instance.report_engine_event(
            f"Started process for run (pid: {worker.pid}).",
            run,
            EngineEventData.in_process(worker.pid),
        )
        held = storage.claim_concurrency_slot(WAREHOUSE_POOL, run.run_id, "ingest")
        assert held.slot_status is ConcurrencySlotStatus.CLAIMED
        nxt = create_run_for_test(instance, job_name="ingest", status=dg.DagsterRunStatus.STARTED)
        waiting = storage.claim_concurrency_slot(WAREHOUSE_POOL, nxt.run_id, "ingest")
        assert waiting.slot_status is ConcurrencySlotStatus.BLOCKED

        daemon.tick()  # worker alive: the run is left alone
        assert instance.get_run_by_id(run.run_id).status is dg.DagsterRunStatus.STARTED
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    daemon.tick()
    assert instance.get_run_by_id(run.run_id).status is dg.DagsterRunStatus.FAILURE
    wait = yaml.safe_load(SHIPPED.read_text())["run_monitoring"]["free_slots_after_run_end_seconds"]
    deadline = time.monotonic() + wait + 20
    while time.monotonic() < deadline:
        time.sleep(1)
        daemon.tick()
        claim = storage.claim_concurrency_slot(WAREHOUSE_POOL, nxt.run_id, "ingest")
        if claim.slot_status is ConcurrencySlotStatus.CLAIMED:
            break
    assert claim.slot_status is ConcurrencySlotStatus.CLAIMED
