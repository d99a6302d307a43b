"""``make demo``: simulate traffic, then materialise every partition through Dagster.

Runs go to the persistent local instance (``DAGSTER_HOME``, default ``dagster_home/``) so that
``make ui`` shows them afterwards, against the embedded DuckDB warehouse in ``data/``.
"""

import argparse
import datetime as dt
import os
import sys
import time
from collections import defaultdict

import dagster as dg

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.jobs import BASELINE_JOB, DAILY_JOB, HOURLY_JOB
from modelmon_dagster.defs.performance.sensors import PERFORMANCE_JOB
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings
from modelmon_dagster.defs.review.assets import REVIEW_JOB
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.sim import demo_scenarios, simulate
from modelmon_dagster.warehouse import Warehouse

# Blocked runs log their failures at ERROR; the demo reports them itself.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class CheckLog:
    """The latest evaluation of every check and partition seen during the demo."""

    def __init__(self):
        self.latest: dict[tuple[str, str, str], tuple[bool, str]] = {}

    def record(self, result, partition_key: str) -> None:
        """Remember the run's check evaluations (a later run of a partition replaces them)."""
        for evaluation in result.get_asset_check_evaluations():
            check = f"{evaluation.asset_key.path[-1]}.{evaluation.check_name}"
            key = (evaluation.asset_key.path[0], check, partition_key)
            self.latest[key] = (evaluation.passed, evaluation.severity.value)

    @property
    def failures(self) -> dict[tuple[str, str, str], list[str]]:
        """``(model, check, severity) -> partitions`` whose latest evaluation failed."""
        out: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for (model, check, partition), (passed, severity) in sorted(self.latest.items()):
            if not passed:
                out[(model, check, severity)].append(partition)
        return out

    def print(self) -> None:
        """A table of failed checks and the days they failed on."""
        if not self.failures:
            print("\nNo asset check failed.")
            return
        print("\nFailed asset checks (count of partitions, days), by model:")
        for (model, check, severity), keys in sorted(self.failures.items()):
            days = sorted({k[5:10] for k in keys})
            print(f"  {model:<18} {check:<38} {severity:<5} {len(keys):>3}x  {' '.join(days)}")


def _run(job, instance, partition_key=None, checks: CheckLog | None = None):
    """Run one partition; a run stopped only by a blocking check is reported, not fatal."""
    result = job.execute_in_process(
        instance=instance, partition_key=partition_key, run_config=QUIET, raise_on_error=False
    )
    if checks is not None:
        checks.record(result, partition_key or "")
    if not result.success and not _blocked_by_checks(result):
        failed = [e.message for e in result.all_events if e.is_failure]
        sys.exit(
            f"run of {job.name} for {partition_key or 'all'} failed:\n" + "\n".join(failed[:5])
        )
    return result


def _blocked_by_checks(result) -> bool:
    """Whether every failed step failed because a blocking check failed at ERROR."""
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return bool(failures) and all(
        "blocking asset check failed" in (e.event_specific_data.error.message or "")
        for e in failures
    )


def _metadata_sum(result, key: str, asset_name: str | None = None) -> int:
    total = 0
    for event in result.get_asset_materialization_events():
        if asset_name is not None and event.materialization.asset_key.path[-1] != asset_name:
            continue
        value = event.materialization.metadata.get(key)
        if value is not None:
            total += int(value.value)
    return total


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

    defs = build_definitions(config, settings)
    instance = dg.DagsterInstance.get()
    print(f"[2/4] baselines from reference data ({settings.data_dir / 'reference'})")
    _run(defs.resolve_job_def(BASELINE_JOB), instance)

    checks = CheckLog()
    hourly_job = defs.resolve_job_def(HOURLY_JOB)
    daily_job = defs.resolve_job_def(DAILY_JOB)
    print(
        f"[3/4] {args.days * 24} hourly runs of {HOURLY_JOB}, and each day's run of "
        f"{DAILY_JOB} once its hours are in"
    )
    for day in range(args.days):
        day_start = start + dt.timedelta(days=day)
        predictions = labels = quarantined = blocked = 0
        for hour in range(24):
            key = (day_start + dt.timedelta(hours=hour)).strftime("%Y-%m-%d-%H:%M")
            result = _run(hourly_job, instance, key, checks)
            blocked += not result.success
            predictions += _metadata_sum(result, "rows", "raw_predictions")
            labels += _metadata_sum(result, "rows", "raw_labels")
            quarantined += _metadata_sum(result, "quarantined_lines")
        _run(daily_job, instance, day_start.strftime("%Y-%m-%d"), checks)
        note = f", {blocked} hour(s) blocked by a failed schema check" if blocked else ""
        print(
            f"      {day_start:%Y-%m-%d}: 24/24 hours, {predictions:,} predictions and "
            f"{labels:,} labels ingested, {quarantined} lines quarantined{note}  "
            f"({time.perf_counter() - began:.0f} s)"
        )

    performance_job = defs.resolve_job_def(PERFORMANCE_JOB)
    print(
        f"[4/4] late labels: {args.days} runs of {PERFORMANCE_JOB} (what the late_label_refresh "
        "sensor requests under `make ui`): each day's performance with the labels known now"
    )
    for day in range(args.days):
        key = (start + dt.timedelta(days=day)).strftime("%Y-%m-%d")
        _run(performance_job, instance, key, checks)

    months = sorted({(start + dt.timedelta(days=d)).strftime("%Y-%m-01") for d in range(args.days)})
    for month in months:
        _run(defs.resolve_job_def(REVIEW_JOB), instance, month, checks)

    _summary(config, settings, args.days, time.perf_counter() - began)
    _performance_table(config, settings)
    checks.print()


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
