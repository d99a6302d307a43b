"""Benchmark: a 30-day backfill of the two demo models, as ``modelmon backfill all`` runs it.

Usage: ``python bench/bench_backfill.py [--days 30] [--hours-per-run 720] [--days-per-run 30]
[--end YYYY-MM-DD] [--snapshot FILE]``

The demo models' logs for the ``--days`` days before today are simulated into a temporary data
folder (not timed), with a fresh Dagster instance (the project's ``dagster.yaml``). Then the
backfill is timed: baselines, every hour (ingestion, aggregates, drift, checks), every day
(rollups, drift, performance), in ranged runs of the given sizes. Printed: wall and CPU
seconds (CPU: this process and the drift processes it starts), the CPU seconds of each phase,
runs, partitions, check evaluations stored, and the load average (the machine is shared:
compare figures taken at similar loads). ``--end`` fixes the days (the same simulated logs on
another day); ``--snapshot`` saves every warehouse table for ``bench/warehouse_snapshot.py
compare`` (a speed-up must leave them identical).
"""

import argparse
import datetime as dt
import importlib
import os
import pickle
import re
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg
from warehouse_snapshot import snapshot


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes (drift workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# Phase -> the functions whose CPU it sums: (module, attribute[, class]). Patched where the
# backfill's steps look them up; phases do not nest. The rest is Dagster's bookkeeping (run
# planning, events, materialisations) and the glue between the steps.
PHASES = {
    "ingestion: parse, validate, write (s18-ingest's part)": (
        ("modelmon_dagster.defs.ingestion.assets", "load_prediction_hours"),
        ("modelmon_dagster.defs.ingestion.assets", "load_label_hours"),
    ),
    "ingestion checks: schema and data quality (Great Expectations)": (
        ("modelmon_dagster.defs.ingestion.assets", "judge_prediction_hours"),
    ),
    "SQL models (hourly and daily aggregates)": (
        ("modelmon_dagster.defs.aggregates.assets", "run_model_window"),
    ),
    "drift (hourly, daily, segments)": (
        ("modelmon_dagster.defs.drift.assets", "compute_drift"),
        ("modelmon_dagster.defs.drift.assets", "compute_segment_drift"),
    ),
    "metric store": (("modelmon_dagster.defs.metrics.assets", "collect_metrics"),),
    "check evaluation (every check, every partition)": (
        ("modelmon_dagster.defs.aggregates.assets", "outcomes", "StepCheck"),
    ),
    "check recording (check_results, Dagster events, alerts)": (
        ("modelmon_dagster.defs.checks", "flush", "CheckRecorder"),
    ),
}


class PhaseClock:
    """CPU seconds spent in each of ``PHASES`` during the backfill."""

    def __init__(self):
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    def _timed(self, phase: str, function):
        def timed(*args, **kwargs):
            began = _cpu()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[phase] += _cpu() - began

        return timed

    def install(self) -> None:
        """Wrap each phase's functions where the steps call them."""
        for phase, targets in PHASES.items():
            for module_name, attribute, *cls in targets:
                owner = importlib.import_module(module_name)
                if cls:
                    owner = getattr(owner, cls[0])
                setattr(owner, attribute, self._timed(phase, getattr(owner, attribute)))

    def table(self, total: float) -> list[tuple[str, float]]:
        rows = list(self.seconds.items())
        rest = total - sum(self.seconds.values())
        rows.append(("Dagster bookkeeping, planning, glue (the rest)", rest))
        rows.append(("total", total))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hours-per-run", type=int, default=720)
    parser.add_argument("--days-per-run", type=int, default=30)
    parser.add_argument(
        "--end", help="the day after the last one backfilled, YYYY-MM-DD (default: today, UTC)"
    )
    parser.add_argument(
        "--snapshot", help="write every warehouse table to this file (bench/warehouse_snapshot.py)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)

    end_day = dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date()
    first_day = end_day - dt.timedelta(days=args.days)
    root = Path(tempfile.mkdtemp(prefix="modelmon-bench-backfill-"))
    project = Path(__file__).resolve().parents[1]
    config_text = (project / "config" / "models.yaml").read_text()
    config_path = root / "models.yaml"
    config_path.write_text(
        re.sub(r'start_date: "[^"]+"', f'start_date: "{first_day.isoformat()}"', config_text)
    )
    (root / "dagster_home").mkdir()
    shutil.copyfile(
        project / "dagster_home" / "dagster.yaml", root / "dagster_home" / "dagster.yaml"
    )
    os.environ |= {
        "DAGSTER_HOME": str(root / "dagster_home"),
        "MODELMON_CONFIG": str(config_path),
        "MODELMON_DATA_DIR": str(root / "data"),
    }
    os.environ.pop("MODELMON_WAREHOUSE_URL", None)

    from modelmon_dagster.commands.backfill import Backfill
    from modelmon_dagster.config import load_config
    from modelmon_dagster.defs.resources import Settings
    from modelmon_dagster.sim import demo_scenarios, simulate
    from modelmon_dagster.warehouse import Warehouse

    settings = Settings.from_env()
    config = load_config(settings.config_path)
    today = dt.datetime.combine(end_day, dt.time())
    start = today - dt.timedelta(days=args.days)
    began = time.perf_counter()
    sim = simulate(config, settings.data_dir, start, args.days, scenarios=demo_scenarios(start))
    print(
        f"simulated {args.days} days: "
        + ", ".join(f"{m.model_name} {m.predictions:,} predictions" for m in sim.models)
        + f" ({time.perf_counter() - began:.0f} s, not timed)"
    )

    phases = PhaseClock()
    phases.install()
    load_before = os.getloadavg()
    cpu_before = _cpu()
    backfill = Backfill(
        config,
        settings,
        dg.DagsterInstance.get(),
        start,
        today,
        hours_per_run=args.hours_per_run,
        days_per_run=args.days_per_run,
    )
    result = backfill.run(list(config.models))
    cpu = _cpu() - cpu_before
    warehouse = Warehouse(settings.warehouse_url)
    try:
        checks = warehouse.query_df(
            "SELECT grain, status, count(*) AS n FROM check_results GROUP BY grain, status "
            "ORDER BY grain, status"
        )
    finally:
        warehouse.dispose()
    hours = sum(len(r.keys) for r in result.runs if r.step == "hourly")
    days = sum(len(r.keys) for r in result.runs if r.step == "daily")
    print(
        f"\nbackfill of {len(config.models)} models x {args.days} days: "
        f"{result.seconds:.0f} s wall, "
        f"{cpu:.0f} s CPU, {len(result.runs)} ranged runs ({hours} model-hours, {days} model-days; "
        f"{args.hours_per_run} hours / {args.days_per_run} days per run)"
    )
    print(
        "check evaluations stored: "
        + ", ".join(f"{r.grain} {r.status} {r.n}" for r in checks.itertuples())
    )
    print(
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores)"
    )
    print("CPU seconds by phase (this process and the processes it started):")
    for name, seconds in phases.table(cpu):
        print(f"  {name:<58} {seconds:6.1f}")
    if args.snapshot:
        with open(args.snapshot, "wb") as out:
            pickle.dump(snapshot(settings.warehouse_url), out)
        print(f"snapshot of the warehouse in {args.snapshot}")
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
