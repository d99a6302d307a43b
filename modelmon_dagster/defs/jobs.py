"""Jobs and schedules over every monitored model's assets."""

import dagster as dg

HOURLY_JOB = "hourly_monitoring_job"
DAILY_JOB = "daily_monitoring_job"
BASELINE_JOB = "baseline_job"


def build_jobs_and_schedules(
    hourly_keys: list[dg.AssetKey],
    daily_keys: list[dg.AssetKey],
    baseline_keys: list[dg.AssetKey],
    hourly: dg.PartitionsDefinition,
    daily: dg.PartitionsDefinition,
) -> tuple[list, list[dg.ScheduleDefinition]]:
    """Hourly, daily and baseline jobs, and the two partitioned schedules (running by default).

    The hourly schedule fires ten minutes past each hour for the hour that just closed, so log
    writers have rotated their files; the daily one fires at 00:40 UTC, after the last hourly run
    of the day.
    """
    hourly_job = dg.define_asset_job(
        HOURLY_JOB,
        selection=dg.AssetSelection.assets(*hourly_keys),
        description="Ingest one hour of logs for every model and build its hourly aggregates.",
    )
    daily_job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.assets(*daily_keys),
        description="Roll the day's hourly aggregates up into daily ones, for every model.",
    )
    baseline_job = dg.define_asset_job(
        BASELINE_JOB,
        selection=dg.AssetSelection.assets(*baseline_keys),
        description="Rebuild every model's baseline from its reference data.",
    )
    schedules = [
        dg.build_schedule_from_partitioned_job(
            hourly_job, minute_of_hour=10, default_status=dg.DefaultScheduleStatus.RUNNING
        ),
        dg.build_schedule_from_partitioned_job(
            daily_job,
            hour_of_day=0,
            minute_of_hour=40,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
    ]
    return [hourly_job, daily_job, baseline_job], schedules
