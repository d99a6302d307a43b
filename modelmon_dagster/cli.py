"""``modelmon``: set up, check and backfill your own models, and see where they stand.

Reads the same environment as the rest of the project: ``MODELMON_CONFIG`` (or ``--config``),
``MODELMON_DATA_DIR`` (or ``--data-dir``), ``MODELMON_WAREHOUSE_URL`` and ``DAGSTER_HOME``
(the Dagster instance whose runs ``dagster dev`` shows; default ``dagster_home/`` in the
project). Exit status: 0 on success, 1 when a run or a check of the setup failed, 2 on an
invalid config or arguments.
"""

import argparse
import datetime as dt
import os
import shutil
import sys
import warnings
from pathlib import Path

import dagster as dg

from modelmon_dagster.config import ConfigError, MonitoringConfig, load_config
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings

INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster_home" / "dagster.yaml"


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from None


def _setup(args) -> tuple[Settings, MonitoringConfig]:
    """Apply ``--config`` / ``--data-dir`` to the environment, then read settings and config."""
    if args.config:
        os.environ["MODELMON_CONFIG"] = str(Path(args.config).resolve())
    if args.data_dir:
        os.environ["MODELMON_DATA_DIR"] = str(Path(args.data_dir).resolve())
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))
    settings = Settings.from_env()
    return settings, load_config(settings.config_path)


def _models(config: MonitoringConfig, names: list[str] | None):
    if not names:
        return list(config.models)
    unknown = sorted(set(names) - {m.name for m in config.models})
    if unknown:
        raise ConfigError(f"no model {unknown} in the config ({[m.name for m in config.models]})")
    return [config.model(n) for n in names]


def _instance() -> dg.DagsterInstance:
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def cmd_init(args) -> int:
    """Write the Dagster instance file (``DAGSTER_HOME/dagster.yaml``) if there is none."""
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))
    target = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
    if target.exists():
        print(f"{target} exists; left as it is")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_TEMPLATE, target)
    print(
        f"wrote {target}: SQLite run storage under DAGSTER_HOME, the 'warehouse' pool limited "
        "to one step at a time (DuckDB allows one writing process)"
    )
    return 0


def cmd_validate(args) -> int:
    """Validate config, reference data and recent logs."""
    from modelmon_dagster.commands.validate import validate_model

    settings, config = _setup(args)
    print(f"config {settings.config_path}: {len(config.models)} model(s), valid")
    if not (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").exists():
        home = os.environ["DAGSTER_HOME"]
        print(f"  WARNING no dagster.yaml in DAGSTER_HOME={home}: run `modelmon init`")
    errors = warned = 0
    for model in _models(config, args.model):
        report = validate_model(model, settings.data_dir, settings.logs_root, args.sample_hours)
        print("\n".join(report.lines))
        errors += report.errors
        warned += report.warnings
    if errors:
        print(f"{errors} error(s)")
    else:
        print("ready to backfill" + (f" ({warned} warning(s) above)" if warned else ""))
    return 1 if errors else 0


def cmd_backfill(args) -> int:
    """Backfill one model (or all) over whole days."""
    from modelmon_dagster.commands.backfill import Backfill
    from modelmon_dagster.commands.plan import window
    from modelmon_dagster.runner import RunFailed

    settings, config = _setup(args)
    models = _models(config, None if args.model == "all" else [args.model])
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        start, end = window(args.from_day, args.to_day or _today(), config.partitions_start, now)
    except ValueError as exc:
        print(f"modelmon backfill: {exc}", file=sys.stderr)
        return 2
    print(
        f"backfill {', '.join(m.name for m in models)} from {start:%Y-%m-%d %H}:00 to "
        f"{end:%Y-%m-%d %H}:00 UTC (instance {os.environ['DAGSTER_HOME']})"
    )
    backfill = Backfill(
        config,
        settings,
        _instance(),
        start,
        end,
        force=args.force,
        hours_per_run=args.hours_per_run,
        days_per_run=args.days_per_run,
    )
    try:
        result = backfill.run(models)
    except RunFailed as exc:
        print(f"modelmon backfill: {exc}\n(rerun the same command to resume)", file=sys.stderr)
        return 1
    skipped = ", ".join(f"{n} {step}" for step, n in result.skipped.items() if n)
    if skipped:
        print(f"skipped partitions already materialised: {skipped} (--force reruns them)")
    return 0


def cmd_status(args) -> int:
    """Print each model's status."""
    from modelmon_dagster.commands.status import model_status
    from modelmon_dagster.warehouse import Warehouse

    settings, config = _setup(args)
    since = dt.datetime.combine(_today() - dt.timedelta(days=args.days), dt.time())
    instance = _instance()
    warehouse = Warehouse(settings.warehouse_url)
    try:
        for model in _models(config, args.model):
            print("\n".join(model_status(instance, warehouse, model, since)))
    finally:
        warehouse.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``modelmon`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="modelmon",
        description="Set up, check and backfill your own models, and see where they stand.",
        epilog="`modelmon COMMAND --help` describes each command.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="the models config (default: $MODELMON_CONFIG)")
    common.add_argument("--data-dir", help="logs, reference data, warehouse ($MODELMON_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser(
        "init", help="write DAGSTER_HOME/dagster.yaml (run storage, the warehouse pool)"
    )
    init.set_defaults(func=cmd_init)

    validate = sub.add_parser(
        "validate",
        parents=[common],
        help="check the config, reference data and recent log files",
        description="Validate the config (exit 2 if invalid), each model's reference data and "
        "the latest hours of its prediction and label logs: prints what would be quarantined "
        "and why, and features that would be stored as missing. Exit 1 if a reference file is "
        "missing or unusable.",
    )
    validate.add_argument("--model", action="append", help="only this model (repeatable)")
    validate.add_argument(
        "--sample-hours", type=int, default=6, help="latest hour folders to parse (default 6)"
    )
    validate.set_defaults(func=cmd_validate)

    backfill = sub.add_parser(
        "backfill",
        parents=[common],
        help="run a model's hours, days and performance over past days",
        description="Materialise a model's hourly partitions (ingestion, aggregates, drift, "
        "checks), then its whole days (rollups, drift, performance), then refresh the "
        "performance of earlier days whose labels arrived in these hours. Ranged runs through "
        "the Dagster instance (the UI shows them); partitions already materialised are "
        "skipped, so an interrupted backfill resumes where it stopped.",
    )
    backfill.add_argument("model", help="model name from the config, or 'all'")
    backfill.add_argument(
        "--from", dest="from_day", type=_date, required=True, help="first day, YYYY-MM-DD (UTC)"
    )
    backfill.add_argument(
        "--to",
        dest="to_day",
        type=_date,
        help="last day, inclusive (default: today; hours "
        "after the last closed one are left for the schedules)",
    )
    backfill.add_argument("--force", action="store_true", help="rerun materialised partitions")
    backfill.add_argument(
        "--hours-per-run", type=int, default=24, help="hours in one ranged run (default 24)"
    )
    backfill.add_argument(
        "--days-per-run", type=int, default=7, help="days in one ranged run (default 7)"
    )
    backfill.set_defaults(func=cmd_backfill)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="latest partitions, open failed checks and label coverage per model",
        description="Per model: the latest materialised hour and day, failed checks whose "
        "latest evaluation failed, and label coverage of each prediction day.",
    )
    status.add_argument("--model", action="append", help="only this model (repeatable)")
    status.add_argument("--days", type=int, default=7, help="look back this many days (7)")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run a subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"modelmon {args.command}: invalid config: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
