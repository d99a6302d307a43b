"""``make test`` runs each test module on one worker, so module fixtures are built once.

The expensive shared worlds (tests/test_scenarios_caught.py, test_concept_drift.py,
test_dashboard.py, test_readable.py) are module-scoped fixtures. The suite used
``--dist loadgroup`` with ``xdist_group`` marks, which groups nothing with pytest 9.2 and
xdist 3.8 (xdist sets the node id's legacy ``_nodeid``, no longer read: pytest-xdist#1386), so
each worker built them again. This runs pytest with the Makefile's own xdist options on two
generated modules (marked as loadgroup needs) and checks that each module's tests ran on one
worker.
"""

import re
import subprocess
import sys

import pytest

from modelmon_dagster.defs.resources import PROJECT_ROOT

MODULE = """
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("{group}")  # what loadgroup would need


def record(i):
    with open(Path(__file__).parent / "workers.txt", "a") as out:
        out.write(f"{{Path(__file__).stem}} {{os.environ['PYTEST_XDIST_WORKER']}}\\n")


{tests}
"""


def makefile_xdist_options() -> list[str]:
    """The ``-n N --dist MODE`` of the Makefile's ``test`` target."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    match = re.search(r"^test:.*\n\t.*pytest (-n \d+ --dist \w+)", makefile, re.MULTILINE)
    assert match, "no `pytest -n N --dist MODE` in the Makefile's test target"
    return match[1].split()


@pytest.mark.e2e
def test_each_module_runs_on_one_worker(tmp_path):
    tests = "\n\n".join(f"def test_{i}():\n    record({i})" for i in range(6))
    for name in ("test_first", "test_second"):
        (tmp_path / f"{name}.py").write_text(MODULE.format(group=name, tests=tests))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *makefile_xdist_options(), "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (tmp_path / "workers.txt").read_text().split()
    workers = {}
    for module, worker in zip(lines[::2], lines[1::2], strict=True):
        workers.setdefault(module, set()).add(worker)
    assert len(lines) == 24  # 12 tests, each recorded its module and worker
    assert workers.keys() == {"test_first", "test_second"}
    assert all(len(w) == 1 for w in workers.values()), workers
