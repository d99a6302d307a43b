"""Start Dagster's services (``dagster dev``: webserver, daemon, code server) and talk GraphQL.

What the PostgreSQL-instance end-to-end test and the backfill benchmark drive: the same
processes ``make ui-postgres`` starts, on a ``DAGSTER_HOME`` of the caller's choosing, reached
only over HTTP (``/graphql``), as the UI reaches them. No Dagster internals here.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from modelmon_dagster.defs.resources import PROJECT_ROOT

LOCATION = "modelmon"
REPOSITORY = "__repository__"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    """A TCP port nobody listens on right now (localhost)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dagster_bin(name: str) -> str:
    """Path of a Dagster command installed next to this Python."""
    return str(Path(sys.executable).parent / name)


class GraphQLError(RuntimeError):
    """The webserver answered a GraphQL query with errors."""


@dataclass
class DagsterDev:
    """``dagster dev`` on ``env['DAGSTER_HOME']``, bound to localhost on a free port."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    # Output goes to a file: a pipe nobody reads fills up (64 KB) and blocks every process
    # that logs to it, runs included (seen: finished runs stuck in STARTED).
    log: typing.IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the webserver."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "DagsterDev":
        """Start webserver, daemon and code server; return once ``/server_info`` answers."""
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [dagster_bin("dagster"), "dev", "-h", "127.0.0.1", "-p", str(self.port)]
            + ["-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends all three services
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.output()[-3000:])
            try:
                if httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"dagster dev did not answer within {timeout} s")

    def stop(self) -> None:
        """SIGTERM the process group (webserver, daemon, code server), SIGKILL after 30 s.

        The code server's gRPC process and the run workers it spawns may sit in other process
        groups: every descendant seen before the signal is ended too.
        """
        if self.process is None or self.process.poll() is not None:
            return
        descendants = psutil.Process(self.process.pid).children(recursive=True)
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        alive = [p for p in descendants if p.is_running()]
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, still = psutil.wait_procs(alive, timeout=10)
        for proc in still:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()

    def output(self) -> str:
        """What the services wrote so far (stdout and stderr)."""
        if self.log is None or self.log.closed:
            return ""
        fd = self.log.fileno()
        # pread leaves the offset the services write at (shared with this handle) alone
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def __enter__(self) -> "DagsterDev":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def query(self, text: str, variables: dict | None = None) -> dict:
        """Run a GraphQL query; its ``data``, or :class:`GraphQLError`."""
        response = httpx.post(
            f"{self.url}/graphql", json={"query": text, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    def launch(self, job: str, tags: dict[str, str], run_config: dict | None = None) -> str:
        """Submit a run of ``job`` (queued, then started by the daemon); its run id."""
        data = self.query(LAUNCH, {"params": launch_params(job, tags, run_config)})
        result = data["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(result)
        return result["run"]["runId"]

    def runs(self, run_ids: list[str] | None = None) -> list[dict]:
        """Runs (all, or these ids), newest first: id, job, status, tags."""
        data = self.query(RUNS, {"filter": {"runIds": run_ids} if run_ids else {}})
        return data["runsOrError"]["results"]

    def wait_finished(self, run_ids: list[str], timeout: float) -> list[dict]:
        """Poll until every run in ``run_ids`` has finished; their records."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs(run_ids)
            if len(runs) == len(run_ids) and all(r["status"] in FINISHED for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"runs not finished after {timeout} s: {runs}")
            time.sleep(1)


def launch_params(job: str, tags: dict[str, str], run_config: dict | None) -> dict:
    """``ExecutionParams`` of a run of ``job`` in this project's code location."""
    return {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": job,
        },
        "runConfigData": run_config or {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUNS = """
query($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId jobName status tags { key value } } }
  }
}
"""
