"""Benchmark: ``make demo`` (10 days by default) with where its time goes.

Usage: ``python bench/bench_demo.py [--days 10]``

Runs the demo's driver in this process on a temporary data folder and a fresh Dagster instance
(the project's ``dagster.yaml``), exactly as ``make demo`` does, and prints the demo's own output,
then wall and CPU seconds per kind of work: each job's runs (those a sensor requested marked),
the sensor ticks (their runs included), the simulator and the report, the whole process's CPU,
and the load average (the machine is shared: compare figures taken at similar loads, and
CPU seconds rather than wall).
"""

import argparse
import collections
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

TIMES: dict[str, list] = collections.defaultdict(lambda: [0, 0.0, 0.0])


def timed(label, fn):
    """``fn``, adding its calls' wall and CPU seconds under ``label(*args)`` (or ``label``)."""

    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            entry = TIMES[label(*args, **kwargs) if callable(label) else label]
            entry[0] += 1
            entry[1] += time.perf_counter() - wall
            entry[2] += time.process_time() - cpu

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="modelmon-bench-demo-"))
    project = Path(__file__).resolve().parents[1]
    (root / "dagster_home").mkdir()
    shutil.copyfile(
        project / "dagster_home" / "dagster.yaml", root / "dagster_home" / "dagster.yaml"
    )
    os.environ |= {
        "DAGSTER_HOME": str(root / "dagster_home"),
        "MODELMON_DATA_DIR": str(root / "data"),
    }
    for name in (
        "MODELMON_WAREHOUSE_URL",
        "MODELMON_ALERTS_ONCALL_URL",
        "MODELMON_ALERTS_DIGEST_URL",
    ):
        os.environ.pop(name, None)

    from modelmon_dagster import demo, runner

    def run_label(_self, job_name, **kwargs):
        by_sensor = "dagster/sensor_name" in (kwargs.get("tags") or {})
        return f"run {job_name}" + (" (sensor)" if by_sensor else "")

    runner.InProcessRunner.run = timed(run_label, runner.InProcessRunner.run)
    runner.InProcessRunner.tick = timed(
        lambda _self, sensor, _now: f"tick {sensor} (its runs included)",
        runner.InProcessRunner.tick,
    )
    demo.simulate = timed("simulate", demo.simulate)
    demo.report = timed("report", demo.report)
    load_before = os.getloadavg()
    began = time.perf_counter()
    try:
        demo.main(["--days", str(args.days)])
    finally:
        wall = time.perf_counter() - began
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"\n{'kind of work':58s} {'calls':>5s} {'wall s':>8s} {'CPU s':>8s}")
        for label, (calls, seconds, cpu) in sorted(TIMES.items(), key=lambda kv: -kv[1][2]):
            print(f"{label:58s} {calls:5d} {seconds:8.1f} {cpu:8.1f}")
        print(
            f"\ndemo of {args.days} days: {wall:.0f} s wall, "
            f"{usage.ru_utime + usage.ru_stime:.0f} s CPU "
            f"(child processes {children.ru_utime + children.ru_stime:.0f} s); load average "
            f"before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)"
        )
        sys.stdout.flush()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
