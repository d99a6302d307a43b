"""``make demo``: the days up to now for the demo models, monitored, alerted and remediated.

Simulates the demo preset (``sim/scenarios.py``) over the ``--days`` days that end at the
current hour, then drives Dagster day by day as production would: each model's hours in one
ranged run, its day, then the sensors (late labels, remediation) evaluated with their own code
against the instance, and the runs they request. When a retrain promotes a challenger, or a
rollback re-activates a version, the simulator serves it from then on (that model's files from
the change on are simulated again from the registry's serving plan), so the following days
show recovery.

Runs go to the persistent instance (``DAGSTER_HOME``, default ``dagster_home/``) so ``make ui``
shows them; data to ``data/`` (DuckDB warehouse). Each run resets both. Ctrl-C stops the demo
within seconds, the run in progress marked canceled.
"""

import argparse
import dataclasses
import datetime as dt
import os
import shutil
import signal
import sys
import threading
import time
import warnings

import dagster as dg
import psutil

from modelmon_dagster.config import MonitoringConfig, load_config
from modelmon_dagster.dashboard.urls import SERVE_URL
from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.dashboard.assets import DASHBOARD_JOB
from modelmon_dagster.defs.jobs import BASELINE_JOB, job_name
from modelmon_dagster.defs.remediation.sensors import REMEDIATION_SENSOR
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings, display_url
from modelmon_dagster.defs.review.assets import REVIEW_JOB
from modelmon_dagster.demo_report import report
from modelmon_dagster.registry import EmbeddedRegistry, Trigger
from modelmon_dagster.registry.serving import (
    ServingPlan,
    publish_serving_plan,
    read_serving_plan,
)
from modelmon_dagster.runner import DAY_KEY, HOUR_KEY, InProcessRunner
from modelmon_dagster.sim import demo_deploys, demo_scenarios, simulate
from modelmon_dagster.sim.alert_receiver import AlertReceiver
from modelmon_dagster.training.artifacts import builtin_uri
from modelmon_dagster.warehouse import Warehouse

ROUTES = {"MODELMON_ALERTS_ONCALL_URL": "oncall", "MODELMON_ALERTS_DIGEST_URL": "digest"}
LATE_LABELS = "late_label_refresh"
IN_PROGRESS = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def current_hour() -> dt.datetime:
    """The start of the current UTC hour (naive)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def _reset(settings: Settings, instance: dg.DagsterInstance) -> None:
    """Start from nothing: the demo's data folder and the instance's runs."""
    for name in ("logs", "reference", "registry", "models", "alerts", "reviews", "dashboard"):
        shutil.rmtree(settings.data_dir / name, ignore_errors=True)
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        (settings.data_dir / name).unlink(missing_ok=True)
    instance.wipe()
    for state in instance.all_instigator_state():  # sensor cursors of an earlier demo
        instance.delete_instigator_state(state.instigator_origin_id, state.selector_id)


def _alert_receiver(settings: Settings) -> AlertReceiver | None:
    """A local receiver for the alert routes the environment does not set already."""
    missing = [env for env in ROUTES if not os.environ.get(env)]
    if not missing:
        return None
    receiver = AlertReceiver(settings.data_dir / "alerts" / "received.jsonl").__enter__()
    for env in missing:
        os.environ[env] = receiver.url(ROUTES[env])
    return receiver


def _seed_registry(config: MonitoringConfig, settings: Settings, start: dt.datetime) -> None:
    """Each model's baseline version, champion since a week before the window."""
    warehouse = Warehouse(settings.warehouse_url)
    try:
        registry = EmbeddedRegistry(warehouse)
        since = start - dt.timedelta(days=7)
        for model in config.models:
            version = model.baseline.model_version
            trigger = Trigger("demo", reason="the version in production when monitoring began")
            registry.register(model.name, builtin_uri(version), trigger, since, version=version)
            registry.promote(model.name, version, trigger, since)
            publish_serving_plan(registry, model.name, settings.data_dir)
    finally:
        warehouse.dispose()


def _deploy(settings: Settings, deploy) -> None:
    """A person deploys a version: registered and promoted, the serving plan republished."""
    warehouse = Warehouse(settings.warehouse_url)
    try:
        registry = EmbeddedRegistry(warehouse)
        trigger = Trigger("user:ci", reason=deploy.reason)
        registry.register(
            deploy.model_name,
            builtin_uri(deploy.artifact),
            trigger,
            deploy.at,
            version=deploy.version,
        )
        registry.promote(deploy.model_name, deploy.version, trigger, deploy.at)
        publish_serving_plan(registry, deploy.model_name, settings.data_dir)
    finally:
        warehouse.dispose()


def _plans(config: MonitoringConfig, settings: Settings) -> dict:
    return {m.name: read_serving_plan(settings.data_dir, m.name) for m in config.models}


def changed_since(before: ServingPlan | None, after: ServingPlan | None) -> dt.datetime | None:
    """The first time two serving plans serve differently (None if they never do)."""
    old = set(before.spans if before is not None else ())
    new = set(after.spans if after is not None else ())
    return min((span.since for span in old ^ new), default=None)


def _stop_on_ctrl_c(work: threading.Thread) -> None:
    """Wait for ``work``; on Ctrl-C mark the runs in progress canceled and exit (status 130).

    The demo runs in a thread of its own: Dagster captures SIGINT only in the main thread, and
    there it turns Ctrl-C inside a step into a step failure, or into a retry of a warehouse
    step, so the demo used to go on. The main thread takes the KeyboardInterrupt instead; the
    demo's data and instance are reset by the next ``make demo``.
    """
    try:
        while work.is_alive():
            work.join(0.2)
    except KeyboardInterrupt:
        print("\nInterrupted (Ctrl-C): stopping make demo.", file=sys.stderr, flush=True)
        try:
            with dg.DagsterInstance.get() as instance:
                for run in instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS)):
                    instance.report_run_canceled(run, message="make demo interrupted (Ctrl-C)")
                    print(f"  run {run.run_id} ({run.job_name}) marked canceled", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - say why, then stop all the same
            print(f"  could not mark the run in progress canceled: {exc}", file=sys.stderr)
        for child in psutil.Process().children(recursive=True):  # Dagster's `tail -F` log followers
            child.terminate()
        print("Stopped. `make demo` starts over from nothing.", file=sys.stderr, flush=True)
        os._exit(130)  # the demo thread is mid-run: no clean-up of it is possible


def main(argv: list[str] | None = None) -> None:
    """Simulate ``--days`` days up to now, then run the pipeline over them day by day."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=10, help="days up to now (default 10)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--preset", choices=["demo", "clean"], default="demo")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up at once, even in a pipe
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))
    failure: list[BaseException] = []

    def work():
        try:
            _demo(args)
        except BaseException as exc:  # raised again in the main thread
            failure.append(exc)

    # Dagster ends each step's `tail -F` log followers with SIGTERM. Run from a thread, it cannot
    # install its signal handlers, so a SIGTERM ignored by whoever started us (pytest-xdist's
    # workers do) stays ignored in the followers, and each step waited 2 x 30 s for them.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    thread = threading.Thread(target=work, name="demo", daemon=True)
    thread.start()
    _stop_on_ctrl_c(thread)
    if failure:
        raise failure[0]


def _demo(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    config = load_config(settings.config_path)
    end = current_hour()
    start = dt.datetime.combine(end.date() - dt.timedelta(days=args.days - 1), dt.time())
    if start == end:  # just after midnight: today has no closed hour yet
        start -= dt.timedelta(days=1)
    if start < config.partitions_start:
        sys.exit(
            f"the demo window starts {start:%Y-%m-%d}, before partitions.start_date "
            f"{config.partitions_start:%Y-%m-%d} in {settings.config_path}: use --days "
            f"{(end - config.partitions_start).days + 1} or an earlier start_date"
        )
    began = time.perf_counter()
    instance = dg.DagsterInstance.get()
    _reset(settings, instance)
    receiver = _alert_receiver(settings)
    scenarios = demo_scenarios(start) if args.preset == "demo" else []
    deploys = {
        d.at: d for d in (demo_deploys(start) if args.preset == "demo" else []) if d.at < end
    }
    names = ", ".join(m.name for m in config.models)
    print(
        f"[1/4] simulating {start:%Y-%m-%d} 00:00 to {end:%Y-%m-%d %H}:00 UTC for {names} "
        f"(seed {args.seed}, preset {args.preset}); the registry starts with each model's v1"
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _seed_registry(config, settings, start)

    def resimulate(before: dict):
        """Rewrite the files of the models whose serving changed, from the change on."""
        after = _plans(config, settings)
        for model in config.models:
            since = changed_since(before[model.name], after[model.name])
            if since is not None:
                simulate(
                    dataclasses.replace(config, models=(model,)),
                    settings.data_dir,
                    start,
                    args.days,
                    seed=args.seed,
                    scenarios=scenarios,
                    reference_size=0,
                    since=max(since, start),
                )

    sim = simulate(config, settings.data_dir, start, args.days, seed=args.seed, scenarios=scenarios)
    for counts in sim.models:
        print(
            f"      {counts.model_name}: {counts.predictions:,} predictions over "
            f"{args.days} days, {counts.labels:,} labels arrive in the window"
        )

    defs = build_definitions(config, settings)
    runner = InProcessRunner(defs, instance)
    print(f"[2/4] baselines from the reference data ({settings.data_dir / 'reference'})")
    runner.run(BASELINE_JOB, now=start)

    print(
        "[3/4] day by day: per model one ranged run of its hours and one run of its day; "
        "then the sensors late_label_refresh and remediation_policy, as the daemon runs them"
    )
    for day in range(args.days):
        day_start = start + dt.timedelta(days=day)
        day_end = min(day_start + dt.timedelta(days=1), end)
        if day_end <= day_start:
            break
        events = []
        if day_start in deploys:
            deploy = deploys[day_start]
            before = _plans(config, settings)
            _deploy(settings, deploy)
            resimulate(before)
            events.append(f"{deploy.model_name}: {deploy.version} deployed by a person")
        for model in config.models:
            runner.run_range(
                job_name(model.name, "hourly", backfill=True),
                day_start.strftime(HOUR_KEY),
                (day_end - dt.timedelta(hours=1)).strftime(HOUR_KEY),
                now=day_end,
            )
            if day_end - day_start == dt.timedelta(days=1):
                runner.run(
                    job_name(model.name, "daily"),
                    partition_key=day_start.strftime(DAY_KEY),
                    now=day_end,
                )
        refreshed = runner.tick(LATE_LABELS, day_end)
        before = _plans(config, settings)
        actions = runner.tick(REMEDIATION_SENSOR, day_end)
        for result in actions:
            tags = result.dagster_run.tags
            events.append(
                f"{tags.get('modelmon/model')}: {result.dagster_run.job_name.split('__')[-1]} "
                f"({tags.get('modelmon/check')} {tags.get('modelmon/severity')} on "
                f"{tags.get('modelmon/partition')}) -> "
                f"{instance.get_run_by_id(result.run_id).tags.get('modelmon/outcome', 'done')}"
            )
        resimulate(before)  # the simulator serves a new champion from its activation on
        print(
            f"      {day_start:%Y-%m-%d}: {len(refreshed)} late-label refresh run(s)"
            + "".join(f"\n        ! {e}" for e in events)
            + f"  ({time.perf_counter() - began:.0f} s)"
        )

    print("[4/4] the monthly review sample and the health dashboard")
    for month in sorted(
        {(start + dt.timedelta(days=d)).strftime("%Y-%m-01") for d in range(args.days)}
    ):
        runner.run(REVIEW_JOB, partition_key=month, now=end)
    last_day = (end - dt.timedelta(hours=1)).date()  # the day of the last closed hour
    print(f"      the health dashboard of {last_day:%Y-%m-%d} so far (every model and the index)")
    runner.run(DASHBOARD_JOB, partition_key=last_day.strftime(DAY_KEY), now=end)

    print(f"\nDone in {time.perf_counter() - began:.0f} s.")
    report(config, settings, start, end, receiver)
    if receiver is not None:
        receiver.__exit__(None, None, None)
    print(
        "\nNext:\n"
        "  make ui      Dagster UI on http://127.0.0.1:3000 (runs, checks per partition, sensors;\n"
        "               the schedules pick up the rest of today's simulated hours as they close)\n"
        f"  warehouse    {display_url(settings.warehouse_url)}\n"
        "  checks       SELECT * FROM check_results WHERE status = 'failed'\n"
        "  alerts       SELECT * FROM alerts; notifications in alert_outbox\n"
        "  registry     SELECT * FROM registry_events ORDER BY seq\n"
        f"  review       {settings.data_dir / 'reviews'} (CSV and HTML per model and month)\n"
        f"  dashboard    {settings.data_dir / 'dashboard'}; make dashboard serves it\n"
        f"\nHealth dashboard: {SERVE_URL}/index.html (after `make dashboard`)"
    )


if __name__ == "__main__":
    main()
