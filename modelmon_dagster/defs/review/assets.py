"""The monthly review sample asset (one per model) and its schedule."""

import datetime as dt

import dagster as dg

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.partitions import window_of
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, LogStoreResource, WarehouseResource
from modelmon_dagster.review import review_sample, write_review

REVIEW_JOB = "monthly_review_job"


def build_review_asset(model: ModelConfig, monthly: dg.PartitionsDefinition):
    """``{model}/monthly_review_sample``: CSV and HTML under ``data/reviews/{model}/``."""

    @dg.asset(
        key=[model.name, "monthly_review_sample"],
        group_name=model.name,
        partitions_def=monthly,
        pool=WAREHOUSE_POOL,
        kinds={"python", "html"},
        deps=[
            dg.AssetDep([model.name, "raw_predictions"]),
            dg.AssetDep([model.name, "raw_labels"], partition_mapping=dg.AllPartitionMapping()),
        ],
        description=(
            f"{model.name}: a month's labelled predictions for a person to review: the most "
            "wrong ones plus a stratified sample, as CSV and a readable HTML page."
        ),
    )
    def monthly_review_sample(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        start, end = window_of(context)
        sample = review_sample(warehouse.get(), model, start, end)
        csv_path, html_path = write_review(
            sample, model, start, end, log_store.resolve(f"reviews/{model.name}")
        )
        counts = sample["reason"].value_counts().to_dict() if len(sample) else {}
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(len(sample)),
                "labelled_in_month": dg.MetadataValue.int(int(sample.attrs["labelled"])),
                "most_wrong": dg.MetadataValue.int(int(counts.get("most_wrong", 0))),
                "strata": dg.MetadataValue.json(counts),
                "csv": dg.MetadataValue.path(str(csv_path)),
                "page": dg.MetadataValue.path(str(html_path)),
            }
        )

    return monthly_review_sample


def build_review_schedule(review_job) -> dg.ScheduleDefinition:
    """On the 1st of each month at 02:00 UTC, review the month that just ended."""

    @dg.schedule(
        name="monthly_review_schedule",
        cron_schedule="0 2 1 * *",
        execution_timezone="UTC",
        job=review_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def monthly_review_schedule(context: dg.ScheduleEvaluationContext):
        first_of_month = context.scheduled_execution_time.astimezone(dt.UTC).replace(day=1)
        previous = (first_of_month - dt.timedelta(days=1)).replace(day=1)
        key = previous.strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=key, partition_key=key)

    return monthly_review_schedule
