"""Start a real ``dagster-daemon`` for a test and stop it, whatever happened."""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def running_daemon(workspace: str, env: dict, log: Path, cwd: Path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run -w workspace``, its output in ``log``; stopped on leaving."""
    # Output to a file: an unread pipe fills up and stalls the daemon and its runs.
    output = log.open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", workspace],
        cwd=cwd,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield daemon
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        output.close()
