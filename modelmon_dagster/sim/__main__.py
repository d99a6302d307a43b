"""Command line: ``python -m modelmon_dagster.sim --data-dir data --days 7 --preset demo``."""

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from modelmon_dagster.config import load_config
from modelmon_dagster.sim.generator import simulate
from modelmon_dagster.sim.scenarios import clean_scenarios, demo_scenarios

PRESETS = ("demo", "clean")


def _start(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or datetime") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the simulation and print its summary.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m modelmon_dagster.sim",
        description="Write simulated prediction/label logs and reference data of the demo models.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("MODELMON_CONFIG", "config/models.yaml")),
        help="monitored-models YAML (default: $MODELMON_CONFIG or config/models.yaml)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MODELMON_DATA_DIR", "data")),
        help="data folder (default: $MODELMON_DATA_DIR or data)",
    )
    parser.add_argument(
        "--start",
        type=_start,
        default=None,
        help="first simulated hour, UTC, e.g. 2026-11-16 (default: partitions.start_date)",
    )
    parser.add_argument("--days", type=int, default=7, help="days to simulate (default 7)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--preset", choices=PRESETS, default="demo", help="scenario preset")
    parser.add_argument(
        "--reference-size", type=int, default=20000, help="records per reference file"
    )
    parser.add_argument(
        "--scenario-start",
        type=_start,
        default=None,
        help="day 0 of the demo preset when it differs from --start",
    )
    args = parser.parse_args(argv)
    config = load_config(args.config)
    start = args.start or config.partitions_start
    if args.preset == "demo":
        scenarios = demo_scenarios(args.scenario_start or start)
    else:
        scenarios = list(clean_scenarios)
    began = time.perf_counter()
    try:
        summary = simulate(
            config,
            args.data_dir,
            start,
            args.days,
            seed=args.seed,
            scenarios=scenarios,
            reference_size=args.reference_size,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.format())
    took = time.perf_counter() - began
    print(f"preset {args.preset}: {len(scenarios)} scenarios; took {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
