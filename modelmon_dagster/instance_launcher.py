"""A run launcher that tells Dagster's run monitoring when a local run worker has died.

Dagster's ``DefaultRunLauncher`` starts each run in a local process but cannot say whether
that process is still alive, so a run whose worker was killed (SIGKILL, OOM) stays STARTED
for ever and keeps its ``warehouse`` pool slot: every later warehouse write waits. With this
launcher, the monitoring daemon (``run_monitoring`` in ``dagster_home/dagster.yaml``) sees the
worker gone, marks the run failed, and frees the run's slots ``free_slots_after_run_end_seconds``
later.

The worker is found by the pid its "Started process for run" engine event records, so this
holds where the daemon runs on the run workers' host (``dagster dev``, one machine). A pid
reused by another process reads as alive: the run is then left alone (never failed wrongly).
"""

import os

from dagster import DagsterEventType, DagsterInstance, DagsterRun
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

STARTED_PROCESS = "Started process for run"


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's worker process, as its engine event recorded it (latest first)."""
    for entry in reversed(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        event = entry.dagster_event
        if not entry.message.startswith(STARTED_PROCESS) or event is None:
            continue
        pid = event.engine_event_data.metadata.get("pid")
        if pid is not None:
            return int(pid.value)
    return None


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus a worker health check for run monitoring."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring may ask whether a run's worker is alive."""
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """RUNNING unless the run's recorded worker process is gone (then FAILED)."""
        pid = run_worker_pid(self._instance, run.run_id)
        if pid is None or process_alive(pid):
            # Not started yet, or alive: the start timeout and max runtime still apply.
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is no longer running"
        )
