"""Jobs and schedules: one set per monitored model, so one model's trouble never fails another's.

Per model and grain there are two jobs over the same assets:

- ``{model}__hourly_monitoring`` / ``{model}__daily_monitoring``: with the asset checks, what
  the schedules run (one partition per run) and what the UI launches;
- ``{model}__hourly_backfill`` / ``{model}__daily_backfill``: without the checks in the run
  plan, for ranged runs over many partitions (``modelmon backfill``, the demo). The checks are
  still evaluated and stored per partition (``check_results``); Dagster records failures and
  recoveries only, which spares two events per check and partition.
"""

import dagster as dg

BASELINE_JOB = "baseline_job"
WHAT = {
    "hourly": "ingest one hour of logs and build its hourly aggregates and drift",
    "daily": "roll the day up; measure drift and delayed-label performance",
}


def job_name(model_name: str, grain: str, backfill: bool = False) -> str:
    """Name of a model's job for ``grain`` (``hourly`` or ``daily``)."""
    return f"{model_name}__{grain}_{'backfill' if backfill else 'monitoring'}"


def build_model_jobs(
    model_name: str,
    hourly_keys: list[dg.AssetKey],
    daily_keys: list[dg.AssetKey],
) -> tuple[list, list[dg.ScheduleDefinition]]:
    """A model's monitoring and backfill jobs, and its two schedules (running by default).

    The hourly schedule fires ten minutes past each hour for the hour that just closed, so log
    writers have rotated their files; the daily one fires at 00:40 UTC, after the last hourly
    run of the day.
    """
    jobs, schedules = [], []
    for grain, keys in (("hourly", hourly_keys), ("daily", daily_keys)):
        selection = dg.AssetSelection.assets(*keys)
        monitoring = dg.define_asset_job(
            job_name(model_name, grain),
            selection=selection,
            description=f"{model_name}: {WHAT[grain]}, and evaluate the checks.",
            tags={"modelmon/model": model_name},
        )
        backfill = dg.define_asset_job(
            job_name(model_name, grain, backfill=True),
            selection=selection.without_checks(),
            description=(
                f"{model_name}: the {grain} assets over a range of partitions in one run "
                "(checks stored in check_results; failures also in Dagster)."
            ),
            tags={"modelmon/model": model_name},
        )
        jobs += [monitoring, backfill]
        schedules.append(
            dg.build_schedule_from_partitioned_job(
                monitoring,
                minute_of_hour=10 if grain == "hourly" else 40,
                hour_of_day=None if grain == "hourly" else 0,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        )
    return jobs, schedules


def build_baseline_job(baseline_keys: list[dg.AssetKey]):
    """Rebuild every model's baseline from its reference data."""
    return dg.define_asset_job(
        BASELINE_JOB,
        selection=dg.AssetSelection.assets(*baseline_keys),
        description="Rebuild every model's baseline from its reference data.",
    )
