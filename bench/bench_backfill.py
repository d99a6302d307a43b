"""Benchmark: a 30-day backfill of the two demo models, as ``modelmon backfill all`` runs it.

Usage: ``python bench/bench_backfill.py [--days 30] [--hours-per-run 720] [--days-per-run 30]``

The demo models' logs for the ``--days`` days before today are simulated into a temporary data
folder (not timed), with a fresh Dagster instance (the project's ``dagster.yaml``). Then the
backfill is timed: baselines, every hour (ingestion, aggregates, drift, checks), every day
(rollups, drift, performance), in ranged runs of the given sizes. Printed: wall and CPU
seconds, runs, partitions, check evaluations stored, and the load average (the machine is
shared: compare figures taken at similar loads).
"""

import argparse
import datetime as dt
import os
import re
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hours-per-run", type=int, default=720)
    parser.add_argument("--days-per-run", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)

    root = Path(tempfile.mkdtemp(prefix="modelmon-bench-backfill-"))
    project = Path(__file__).resolve().parents[1]
    config_text = (project / "config" / "models.yaml").read_text()
    config_path = root / "models.yaml"
    config_path.write_text(
        re.sub(r'start_date: "[^"]+"', f'start_date: "-{args.days}d"', config_text)
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
    today = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time())
    start = today - dt.timedelta(days=args.days)
    began = time.perf_counter()
    sim = simulate(config, settings.data_dir, start, args.days, scenarios=demo_scenarios(start))
    print(
        f"simulated {args.days} days: "
        + ", ".join(f"{m.model_name} {m.predictions:,} predictions" for m in sim.models)
        + f" ({time.perf_counter() - began:.0f} s, not timed)"
    )

    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
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
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
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
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
