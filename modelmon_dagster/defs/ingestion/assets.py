"""Hourly ingestion, then schema and quality checks (Great Expectations) on the hour's rows.

One hour of JSONL logs goes into typed raw tables; bad lines are quarantined. A run may cover
one hour (the schedule) or a range of hours (a backfill): each hour is loaded, replaced and
judged on its own; the metadata sums the range.
"""

import dagster as dg

from modelmon_dagster.blocked import write_blocked
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.dashboard.guidance import check_description
from modelmon_dagster.defs.checks import CheckRecorder
from modelmon_dagster.defs.partitions import run_periods
from modelmon_dagster.defs.resources import (
    WAREHOUSE_POOL,
    ClockResource,
    LogStoreResource,
    WarehouseResource,
)
from modelmon_dagster.defs.retry import retry_only_connection_failures
from modelmon_dagster.ingest.load import IngestResult, load_label_hours, load_prediction_hours
from modelmon_dagster.quality.hours import combined, judge_prediction_hours

# Hours loaded and judged together in a ranged run (memory stays bounded by one chunk).
HOURS_PER_CHUNK = 24


def ingest_metadata(result: IngestResult, hours: int) -> dict:
    """Numbers the UI plots over partitions, plus the quarantine breakdown."""
    return {
        "hours": hours,
        "files": result.files,
        "lines": result.lines,
        "rows": dg.MetadataValue.int(result.rows),
        "quarantined_lines": dg.MetadataValue.int(result.quarantined),
        "quarantined_fraction": dg.MetadataValue.float(round(result.quarantined_fraction, 6)),
        "quarantine_reasons": dg.MetadataValue.json(result.quarantine_reasons),
        "files_parsed_line_by_line": result.line_path_files,
        # Hours loaded straight from their files (DuckDB); the others were parsed in chunks.
        "hours_loaded_directly": result.direct_hours,
        # DuckDB: why the others were not (reason -> hours), e.g. a bad line or out of memory.
        "direct_load_declined": dg.MetadataValue.json(result.direct_declined),
        "skipped_files": dg.MetadataValue.json(list(result.skipped_files)),
        "empty_hour": result.files == 0,
    }


def warn_skipped(context, model: ModelConfig, results: list[IngestResult]) -> None:
    """Say which entries of the log folders were not read (they are never ingested)."""
    for result in results:
        for entry in result.skipped_files:
            context.log.warning(f"{model.name} {result.stream}: skipped {entry}")


def build_ingestion_assets(
    model: ModelConfig,
    hourly: dg.PartitionsDefinition,
    retry_policy: dg.RetryPolicy | None = None,
):
    """``raw_predictions`` (with its ``schema`` and ``data_quality`` checks) and ``raw_labels``."""
    predictions_key = dg.AssetKey([model.name, "raw_predictions"])
    labels_key = dg.AssetKey([model.name, "raw_labels"])
    t = model.thresholds
    schema_check = dg.AssetCheckSpec(
        "schema",
        asset=predictions_key,
        partitions_def=hourly,
        description=check_description(
            "schema",
            "Records have the config's shape: each required feature present and typed in all "
            f"but {t.schema_error_rate_error:.0%} of records, at most "
            f"{t.quarantine_rate_error:.0%} of lines quarantined (ERROR).",
        ),
    )
    quality_check = dg.AssetCheckSpec(
        "data_quality",
        asset=predictions_key,
        partitions_def=hourly,
        description=check_description(
            "data_quality",
            "Values within the baseline's ranges and category sets, few schema problems and "
            "quarantined lines (WARN).",
        ),
    )

    @dg.multi_asset(
        name=f"{model.name}__ingest",
        specs=[
            dg.AssetSpec(
                predictions_key,
                group_name=model.name,
                kinds={"sql"},
                description=(
                    f"{model.name}: the hour's prediction log lines, typed; malformed lines go "
                    "to quarantined_lines with file, line number and reason."
                ),
            ),
            dg.AssetSpec(
                labels_key,
                group_name=model.name,
                kinds={"sql"},
                description=f"{model.name}: labels that arrived in the hour (delayed truth).",
            ),
        ],
        check_specs=[schema_check, quality_check],
        partitions_def=hourly,
        can_subset=True,
        pool=WAREHOUSE_POOL,
        retry_policy=retry_policy,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @retry_only_connection_failures
    def ingest(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        log_store: LogStoreResource,
        clock: ClockResource,
    ):
        wh = warehouse.get()
        periods = run_periods(context)
        if predictions_key in context.selected_asset_keys:
            recorder = CheckRecorder(context, wh, model, "hourly", clock.now())
            loaded, blocked = [], {}
            for i in range(0, len(periods), HOURS_PER_CHUNK):
                chunk = periods[i : i + HOURS_PER_CHUNK]
                hours = [p.start for p in chunk]
                results = load_prediction_hours(wh, model, log_store.logs_root, hours)
                for period, judged in zip(
                    chunk,
                    judge_prediction_hours(wh, model, results, context.log.warning),
                    strict=True,
                ):
                    recorder.add(predictions_key, period, judged.schema)
                    recorder.add(predictions_key, period, judged.quality)
                    if judged.blocked:
                        blocked[judged.hour] = judged.blocked
                loaded += results
            write_blocked(wh, model.name, periods[0].start, periods[-1].end, blocked)
            empty = [r.hour for r in loaded if r.files == 0]
            if empty and len(periods) == 1:
                context.log.warning(f"{model.name}: no closed prediction log files for {empty[0]}")
            warn_skipped(context, model, loaded)
            metadata = ingest_metadata(combined(loaded), len(periods))
            metadata["empty_hours"] = len(empty)
            metadata["blocked"] = dg.MetadataValue.json(
                {h.strftime("%Y-%m-%d %H:00"): cols for h, cols in sorted(blocked.items())}
            )
            yield dg.MaterializeResult(asset_key=predictions_key, metadata=metadata)
            recorder.flush()
        if labels_key in context.selected_asset_keys:
            hours = [p.start for p in periods]
            results = load_label_hours(wh, model, log_store.logs_root, hours)
            warn_skipped(context, model, results)
            total = combined(results)
            metadata = ingest_metadata(total, len(periods))
            metadata["prediction_days"] = dg.MetadataValue.json(list(total.prediction_days))
            yield dg.MaterializeResult(asset_key=labels_key, metadata=metadata)

    return [ingest]
