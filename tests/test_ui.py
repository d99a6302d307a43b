"""``make ui``: the wrapper stops ``dagster dev`` (webserver, daemon, code server) in seconds."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from modelmon_dagster.defs.resources import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=1)
        return True
    except OSError:
        return False


@pytest.mark.e2e
def test_sigterm_stops_dagster_dev_and_its_children_within_seconds(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, DAGSTER_HOME=str(home), MODELMON_DATA_DIR=str(tmp_path / "data"))
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    port = free_port()
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "modelmon_dagster.ui", "--port", str(port), "--grace", "8"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # As `make` in a script would start it: SIGINT ignored (what broke dagster dev).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 35  # the webserver, or at least a loading code server
        while time.monotonic() < deadline and not answers(port):
            time.sleep(0.5)
        began = time.monotonic()
        wrapper.send_signal(signal.SIGTERM)
        out, _ = wrapper.communicate(timeout=25)
        took = time.monotonic() - began
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
    assert wrapper.returncode == 0
    assert took < 15, out
    pid = int(re.search(r"dagster dev \(pid (\d+)\)", out)[1])
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing of its process group is left
    assert not answers(port)
