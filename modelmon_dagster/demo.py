"""``make demo``: simulate traffic, then materialise every partition through Dagster.

Runs go to the persistent local instance (``DAGSTER_HOME``, default ``dagster_home/``) so that
``make ui`` shows them afterwards, against the embedded DuckDB warehouse in ``data/``.
"""

import argparse
import datetime as dt
import os
import sys
import time

import dagster as dg

from modelmon_dagster.check_results import latest_results
from modelmon_dagster.checks import FAILED, NOT_JUDGED
from modelmon_dagster.config import load_config
from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.jobs import BASELINE_JOB, job_name
from modelmon_dagster.defs.performance.sensors import PERFORMANCE_JOB
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings
from modelmon_dagster.defs.review.assets import REVIEW_JOB
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.sim import demo_scenarios, simulate
from modelmon_dagster.sim.alert_receiver import AlertReceiver
from modelmon_dagster.warehouse import Warehouse

# Blocked runs log their failures at ERROR; the demo reports them itself.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _run(job, instance, partition_key=None, tags=None, now: dt.datetime | None = None):
    """Run a job in-process on the persistent instance; stop the demo if the run fails.

    ``now`` is the simulated clock the run acts at (which results are recent enough to page).
    """
    run_config = dict(QUIET)
    if now is not None:
        run_config["resources"] = {"clock": {"config": {"fixed_now": now.isoformat()}}}
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags=tags,
        run_config=run_config,
        raise_on_error=False,
    )
    if not result.success:
        failed = [e.message for e in result.all_events if e.is_failure]
        sys.exit(
            f"run of {job.name} for {partition_key or tags or 'all'} failed:\n"
            + "\n".join(failed[:5])
        )
    return result


def _hour_range(day_start: dt.datetime) -> dict:
    """Tags of a ranged run over a day's 24 hourly partitions (one run instead of 24)."""
    last = day_start + dt.timedelta(hours=23)
    return {
        "dagster/asset_partition_range_start": day_start.strftime("%Y-%m-%d-%H:%M"),
        "dagster/asset_partition_range_end": last.strftime("%Y-%m-%d-%H:%M"),
    }


def _metadata_sum(result, key: str, asset_name: str) -> int:
    """``key`` of the run's materialisation of ``asset_name``.

    A ranged run records the same range totals on each partition's event: read one.
    """
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.path[-1] == asset_name:
            value = event.materialization.metadata.get(key)
            return int(value.value) if value is not None else 0
    return 0


def main(argv: list[str] | None = None) -> None:
    """Simulate ``--days`` days, then run the baseline, hourly and daily jobs over them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--preset", choices=["demo", "clean"], default="demo")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up at once, even in a pipe

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))
    settings = Settings.from_env()
    config = load_config(settings.config_path)
    start = config.partitions_start
    began = time.perf_counter()

    print(
        f"[1/4] simulating {args.days} days from {start:%Y-%m-%d} for "
        f"{', '.join(m.name for m in config.models)} (seed {args.seed}, preset {args.preset})"
    )
    scenarios = demo_scenarios(start) if args.preset == "demo" else []
    sim = simulate(config, settings.data_dir, start, args.days, seed=args.seed, scenarios=scenarios)
    for counts in sim.models:
        print(
            f"      {counts.model_name} ({counts.model_version}): "
            f"{counts.predictions:,} predictions, "
            f"{counts.labels:,} labels so far, {counts.malformed_lines} malformed lines and "
            f"{counts.schema_broken} schema-broken records injected"
        )

    receiver = _alert_receiver(settings)
    defs = build_definitions(config, settings)
    instance = dg.DagsterInstance.get()
    print(f"[2/4] baselines from reference data ({settings.data_dir / 'reference'})")
    _run(defs.resolve_job_def(BASELINE_JOB), instance)

    print(
        f"[3/4] per model and day: one run of {job_name('<model>', 'hourly')} over the day's "
        f"24 hours, then one of {job_name('<model>', 'daily')}"
    )
    for day in range(args.days):
        day_start = start + dt.timedelta(days=day)
        predictions = labels = quarantined = 0
        for model in config.models:
            hourly = defs.resolve_job_def(job_name(model.name, "hourly"))
            day_end = day_start + dt.timedelta(days=1)
            result = _run(hourly, instance, tags=_hour_range(day_start), now=day_end)
            predictions += _metadata_sum(result, "rows", "raw_predictions")
            labels += _metadata_sum(result, "rows", "raw_labels")
            quarantined += _metadata_sum(result, "quarantined_lines", "raw_predictions")
            daily = defs.resolve_job_def(job_name(model.name, "daily"))
            _run(daily, instance, day_start.strftime("%Y-%m-%d"), now=day_end)
        print(
            f"      {day_start:%Y-%m-%d}: 24/24 hours, {predictions:,} predictions and "
            f"{labels:,} labels ingested, {quarantined} lines quarantined  "
            f"({time.perf_counter() - began:.0f} s)"
        )

    performance_job = defs.resolve_job_def(PERFORMANCE_JOB)
    print(
        f"[4/4] late labels: {args.days} runs of {PERFORMANCE_JOB} (what the late_label_refresh "
        "sensor requests under `make ui`): each day's performance with the labels known now"
    )
    end = start + dt.timedelta(days=args.days)
    for day in range(args.days):
        key = (start + dt.timedelta(days=day)).strftime("%Y-%m-%d")
        _run(performance_job, instance, key, now=end)

    months = sorted({(start + dt.timedelta(days=d)).strftime("%Y-%m-01") for d in range(args.days)})
    for month in months:
        _run(defs.resolve_job_def(REVIEW_JOB), instance, month, now=end)

    _summary(config, settings, args.days, time.perf_counter() - began)
    _performance_table(config, settings)
    _failed_checks(settings)
    _alerts(settings, receiver)
    if receiver is not None:
        receiver.__exit__(None, None, None)


ROUTES = {"MODELMON_ALERTS_ONCALL_URL": "oncall", "MODELMON_ALERTS_DIGEST_URL": "digest"}


def _alert_receiver(settings: Settings) -> AlertReceiver | None:
    """Start a local receiver for the alert routes the environment does not set already."""
    missing = [env for env in ROUTES if not os.environ.get(env)]
    if not missing:
        return None
    receiver = AlertReceiver(settings.data_dir / "alerts" / "received.jsonl").__enter__()
    for env in missing:
        os.environ[env] = receiver.url(ROUTES[env])
    return receiver


def _alerts(settings: Settings, receiver: AlertReceiver | None) -> None:
    """Open alerts, and what the receiver got."""
    warehouse = Warehouse(settings.warehouse_url)
    try:
        alerts = (
            warehouse.query_df(
                "SELECT model_name, name, dimension, status, max_severity, first_period, "
                "last_period, firing_count, notify_count FROM alerts "
                "ORDER BY model_name, first_period_start"
            )
            if warehouse.table_exists("alerts")
            else None
        )
    finally:
        warehouse.dispose()
    if alerts is not None and len(alerts):
        print("\nAlerts (one per model, check and asset; counts are firing periods):")
        for a in alerts.itertuples():
            print(
                f"  {a.model_name:<18} {a.dimension + '.' + a.name:<38} {a.max_severity:<5} "
                f"{a.status:<8} {a.firing_count:>3}x  {a.first_period} .. {a.last_period}"
                f"  (notified {a.notify_count or 0}x)"
            )
    if receiver is None:
        print("\nNotifications went to the routes set in MODELMON_ALERTS_*_URL.")
        return
    by_path: dict[str, int] = {}
    for entry in receiver.received:
        by_path[entry["path"]] = by_path.get(entry["path"], 0) + 1
    print(
        f"\nNotifications received by the local webhook on port {receiver.port}: "
        + (", ".join(f"{n} to {path}" for path, n in sorted(by_path.items())) or "none")
        + f"\n  every message: {receiver.record_path}"
    )
    for entry in receiver.received[:3]:
        print(f"  e.g. {entry['path']}: {entry['title']}")


def _failed_checks(settings: Settings) -> None:
    """Failed checks per model, check and severity: how many partitions, on which days."""
    warehouse = Warehouse(settings.warehouse_url)
    try:
        frame = latest_results(warehouse, statuses=(FAILED, NOT_JUDGED))
    finally:
        warehouse.dispose()
    failed = frame[frame["status"] == FAILED]
    if failed.empty:
        print("\nNo asset check failed.")
    else:
        print("\nFailed asset checks (count of partitions, days), by model:")
        for (model, asset, check, severity), rows in failed.groupby(
            ["model_name", "asset_name", "check_name", "severity"]
        ):
            days = " ".join(sorted({f"{d:%m-%d}" for d in rows["period_start"]}))
            print(f"  {model:<18} {asset + '.' + check:<38} {severity:<5} {len(rows):>3}x  {days}")
    skipped = frame[frame["status"] == NOT_JUDGED]
    if len(skipped):
        counts = skipped.groupby("check_name").size().sort_values(ascending=False)
        listed = ", ".join(f"{name} {n}" for name, n in counts.items())
        print(f"Not judged (no data or no labels yet; never alerts): {listed}")


def _performance_table(config, settings: Settings) -> None:
    """Per model and prediction day: label coverage, realised and estimated key metrics."""
    warehouse = Warehouse(settings.warehouse_url)
    try:
        frame = warehouse.query_df(
            "SELECT model_name, day_start, kind, metric, value, coverage FROM daily_performance "
            "WHERE segment_column = '__all__' ORDER BY model_name, day_start"
        )
    finally:
        warehouse.dispose()
    print("\nPerformance by prediction day (labels so far):")
    wanted = {"accuracy", "recall", "roc_auc", "fpr", "mae", "bias"}
    for (model, day), rows in frame.groupby(["model_name", "day_start"]):
        realised = rows[(rows["kind"] == "realised") & rows["metric"].isin(wanted)]
        estimated = rows[(rows["kind"] == "estimated") & (rows["metric"] == "accuracy")]
        parts = [f"{r.metric} {r.value:.3f}" for r in realised.itertuples()]
        if len(estimated):
            parts.append(f"estimated accuracy {estimated['value'].iloc[0]:.3f}")
        print(
            f"  {model:<18} {day:%m-%d}  coverage {rows['coverage'].iloc[0]:>4.0%}  "
            + ", ".join(parts)
        )


def _summary(config, settings: Settings, days: int, seconds: float) -> None:
    warehouse = Warehouse(settings.warehouse_url)
    try:
        print(
            f"\nDone in {seconds:.0f} s. Materialised per model: 1 baseline, {days * 24} hourly "
            f"and {days} daily partitions (performance twice: early and with later labels)."
        )
        for model in config.models:
            preds = warehouse.scalar(f'SELECT count(*) FROM "{raw_predictions_table(model).name}"')
            labels = warehouse.scalar(f'SELECT count(*) FROM "{raw_labels_table(model).name}"')
            quarantined = warehouse.scalar(
                "SELECT count(*) FROM quarantined_lines WHERE model_name = :m", {"m": model.name}
            )
            print(
                f"  {model.name:<20} {preds:>9,} predictions  {labels:>9,} labels  "
                f"{quarantined:>5} quarantined lines"
            )
    finally:
        warehouse.dispose()
    print(
        "\nNext:\n"
        "  make ui      Dagster UI on http://127.0.0.1:3000\n"
        "               (Assets → a model's group → an asset → Partitions)\n"
        f"  warehouse    {settings.warehouse_url}\n"
        "  quarantine   SELECT * FROM quarantined_lines   (file, line number, raw text, reason)\n"
        "  drift        SELECT * FROM daily_column_drift WHERE drifted\n"
        "  performance  SELECT * FROM daily_performance WHERE segment_column = '__all__'\n"
        f"  review       {settings.data_dir / 'reviews'} (CSV and HTML per model and month)"
    )


if __name__ == "__main__":
    main()
