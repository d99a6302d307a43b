"""Live simulated traffic for ``make ui LIVE=1``: each hour's logs appear as the hour closes.

Every ``--interval`` seconds, when a new hour has closed, the demo window is simulated again
from its first day up to the last closed hour: the new hour's predictions, and the labels that
arrived in it, are written as closed files (the simulator is deterministic, so earlier hours are
rewritten byte for byte, and their partitions stay as ingested). The hourly schedules (ten
minutes past the hour) and the late-label sensor of ``dagster dev`` then act on fresh data, and
the simulator serves the version the registry's serving plan names, so a retrain or rollback
shows in the next hours.
"""

import argparse
import datetime as dt
import signal
import sys
import threading
from pathlib import Path

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.resources import Settings
from modelmon_dagster.logformat import PREDICTIONS
from modelmon_dagster.sim.generator import simulate
from modelmon_dagster.sim.scenarios import demo_scenarios


def closed_hour(now: dt.datetime | None = None) -> dt.datetime:
    """The end of the last closed UTC hour (naive): the start of the current one."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(minute=0, second=0, microsecond=0)


def demo_start(data_dir: Path, model_name: str, fallback: dt.datetime) -> dt.datetime:
    """The first simulated day: the earliest day folder of the model's prediction logs."""
    root = data_dir / "logs" / PREDICTIONS / model_name
    days = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for day in days:
        try:
            return dt.datetime.fromisoformat(day)
        except ValueError:
            continue
    return fallback


def tick(config, data_dir: Path, start: dt.datetime, seed: int, end: dt.datetime):
    """Simulate ``[start, end)`` with the demo's scenarios; the reference is left alone."""
    hours = int((end - start) / dt.timedelta(hours=1))
    return simulate(
        config,
        data_dir,
        start,
        days=max(1, -(-hours // 24)),
        hours=hours,
        seed=seed,
        scenarios=demo_scenarios(start),
        reference_size=0,
    )


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m modelmon_dagster.sim.live", description=__doc__
    )
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between looks")
    parser.add_argument("--seed", type=int, default=42, help="the demo's seed (default 42)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    settings = Settings.from_env()
    config = load_config(settings.config_path)
    start = demo_start(settings.data_dir, config.models[0].name, config.partitions_start)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    written = None
    print(f"live traffic from {start:%Y-%m-%d} into {settings.data_dir / 'logs'}")
    while not stop.is_set():
        end = closed_hour()
        if end != written and end > start:
            tick(config, settings.data_dir, start, args.seed, end)
            written = end
            print(f"live: logs up to {end:%Y-%m-%d %H}:00 UTC written")
        stop.wait(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
