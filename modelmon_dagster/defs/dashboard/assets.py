"""The health dashboard: one page per model and day, and an index across models."""

import datetime as dt
import warnings

import dagster as dg

from modelmon_dagster.config import MonitoringConfig
from modelmon_dagster.dashboard.data import day_numbers, load_dashboard_data
from modelmon_dagster.dashboard.page import (
    index_row,
    markdown_summary,
    write_index,
    write_model_page,
)
from modelmon_dagster.dashboard.status import RANK
from modelmon_dagster.dashboard.urls import SERVE_URL, page_url
from modelmon_dagster.defs.partitions import window_of
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, LogStoreResource, WarehouseResource

DASHBOARD_JOB = "health_dashboard_job"
DASHBOARD_ASSET = "health_dashboard"
DASHBOARD_FOLDER = "dashboard"
INDEX_DAYS = 7  # the index shows each model's tiers over the last week


def _so_far() -> dg.TimeWindowPartitionMapping:
    """Same days, where the upstream days or hours of the day in progress may not exist yet."""
    with warnings.catch_warnings():  # the parameter is beta in Dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)


def dashboard_partitions(start: dt.datetime) -> dg.DailyPartitionsDefinition:
    """Days from ``start``, today included: the page of the day so far can be built."""
    return dg.DailyPartitionsDefinition(
        start_date=start.strftime("%Y-%m-%d"), timezone="UTC", end_offset=1
    )


def build_dashboard_asset(model, daily: dg.PartitionsDefinition):
    """``{model}/health_dashboard``: the model's three-tier page for one day."""

    @dg.asset(
        key=[model.name, DASHBOARD_ASSET],
        group_name=model.name,
        partitions_def=daily,
        pool=WAREHOUSE_POOL,
        kinds={"python", "html"},
        deps=[
            dg.AssetDep([model.name, name], partition_mapping=_so_far())
            for name in ("hourly_metrics", "daily_metrics", "daily_drift", "daily_performance")
        ],
        description=(
            f"{model.name}: the day's health on one offline HTML page in three tiers (system: "
            "volume, latency, errors, hosts; data: schema, quality, drift per column and "
            "segment; model: performance, calibration, control charts, CUSUM), with open alerts "
            "and remediation runs. Red means a check failed at ERROR on its latest partition "
            "of the day: open the page (metadata 'url') and follow the tier's worst finding."
        ),
    )
    def health_dashboard(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        day, _ = window_of(context)
        data = load_dashboard_data(warehouse.get(), model, day)
        path, statuses = write_model_page(log_store.resolve(DASHBOARD_FOLDER), data)
        meta = {
            "summary": dg.MetadataValue.md(markdown_summary(model.name, day, statuses)),
            "page": dg.MetadataValue.path(str(path)),
            "url": dg.MetadataValue.url(page_url(model.name, day)),
            "open_alerts": dg.MetadataValue.int(len(data.open_alerts)),
        }
        for name, value in day_numbers(data).items():
            meta[name] = dg.MetadataValue.float(value)
        # 0 grey (not judged), 1 green, 2 amber, 3 red: plotted per partition by the UI
        for tier, status in statuses.items():
            meta[f"{tier}_status"] = dg.MetadataValue.int(RANK[status.colour])
        return dg.MaterializeResult(metadata=meta)

    return health_dashboard


def build_index_asset(config: MonitoringConfig, daily: dg.PartitionsDefinition):
    """``dashboard_index``: every model's tiers for the day, linking to their pages."""

    @dg.asset(
        key=["dashboard_index"],
        group_name="dashboard",
        partitions_def=daily,
        pool=WAREHOUSE_POOL,
        kinds={"python", "html"},
        deps=[dg.AssetDep([m.name, DASHBOARD_ASSET]) for m in config.models],
        description=(
            "The dashboard's front page (index.html): each model's system, data and model "
            "status for the day and its open alerts, linking to the model pages."
        ),
    )
    def dashboard_index(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        day, _ = window_of(context)
        rows = []
        for model in config.models:
            data = load_dashboard_data(warehouse.get(), model, day, lookback_days=INDEX_DAYS)
            rows.append(index_row(data))
        path = write_index(log_store.resolve(DASHBOARD_FOLDER), day, rows)
        return dg.MaterializeResult(
            metadata={
                "page": dg.MetadataValue.path(str(path)),
                "url": dg.MetadataValue.url(f"{SERVE_URL}/index.html"),
            }
        )

    return dashboard_index


def build_dashboard_job(keys: list[dg.AssetKey]):
    """Build every model's page and the index for one day."""
    return dg.define_asset_job(
        DASHBOARD_JOB,
        selection=dg.AssetSelection.assets(*keys),
        description="Build the health dashboard (each model's page and the index) for a day.",
    )


def build_dashboard_schedule(job) -> dg.ScheduleDefinition:
    """At 01:30 UTC, the pages of the day that ended (after its daily runs and remediation)."""

    @dg.schedule(
        name=f"{DASHBOARD_JOB}_schedule",
        cron_schedule="30 1 * * *",
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def dashboard_schedule(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(dt.UTC) - dt.timedelta(days=1)
        key = day.strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=key, partition_key=key)

    return dashboard_schedule
