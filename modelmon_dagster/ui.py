"""``make ui``: ``dagster dev`` that stops within seconds on Ctrl-C or SIGTERM.

``dagster dev`` started from a script inherits SIGINT as ignored and turns SIGTERM into it, so
it used to ignore both for over 90 s. Here it runs in a process group of its own with SIGINT
restored to the default; on SIGINT or SIGTERM the wrapper sends SIGTERM to the whole group
(webserver, daemon, code server), waits ``--grace`` seconds, then kills what is left.
``--live`` also runs the live traffic simulator (``modelmon_dagster.sim.live``) in its own
group, stopped the same way.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from modelmon_dagster.defs.resources import PROJECT_ROOT


def _restore_sigint() -> None:  # runs in the child before exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_group(command: list[str]) -> subprocess.Popen:
    """``command`` as the leader of a new process group, SIGINT and SIGTERM at their defaults."""
    return subprocess.Popen(command, start_new_session=True, preexec_fn=_restore_sigint)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(process: subprocess.Popen, grace: float) -> float:
    """SIGTERM to the process group, SIGKILL after ``grace`` seconds; the seconds it took."""
    began = time.monotonic()
    pgid = process.pid  # the leader of a new session: its pid is the group id
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None and not _group_alive(pgid):
                return time.monotonic() - began
            time.sleep(0.1)
    process.poll()
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    """Start ``dagster dev`` (and the live simulator), stop everything on a signal."""
    parser = argparse.ArgumentParser(prog="python -m modelmon_dagster.ui", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="3000")
    parser.add_argument("--live", action="store_true", help="also simulate live traffic")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds before SIGKILL")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    children = [start_group([dagster, "dev", "-h", args.host, "-p", args.port, "-w", workspace])]
    if args.live:
        children.append(start_group([sys.executable, "-m", "modelmon_dagster.sim.live"]))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and all(c.poll() is None for c in children):
        stop.wait(0.5)
    for child in children:
        took = stop_group(child, args.grace)
        print(f"stopped {' '.join(child.args[:2])} (pid {child.pid}) in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
