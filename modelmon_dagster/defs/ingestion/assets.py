"""Hourly ingestion, then schema and quality checks (Great Expectations) on the hour's rows.

One hour of JSONL logs goes into typed raw tables; bad lines are quarantined.
"""

import dagster as dg

from modelmon_dagster.baseline import baseline_for_window
from modelmon_dagster.checks import quality_outcome, schema_outcome
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.checks import check_result
from modelmon_dagster.defs.partitions import window_of
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, LogStoreResource, WarehouseResource
from modelmon_dagster.ingest.load import IngestResult, load_label_hour, load_prediction_hour
from modelmon_dagster.quality.suite import QualityReport, validate_batch


def ingest_metadata(result: IngestResult) -> dict:
    """Numbers the UI plots over partitions, plus the quarantine breakdown."""
    return {
        "files": result.files,
        "lines": result.lines,
        "rows": dg.MetadataValue.int(result.rows),
        "quarantined_lines": dg.MetadataValue.int(result.quarantined),
        "quarantined_fraction": dg.MetadataValue.float(round(result.quarantined_fraction, 6)),
        "quarantine_reasons": dg.MetadataValue.json(result.quarantine_reasons),
        "files_parsed_line_by_line": result.line_path_files,
        "empty_hour": result.files == 0,
    }


def build_ingestion_assets(model: ModelConfig, hourly: dg.PartitionsDefinition):
    """``raw_predictions`` (with its ``schema`` and ``data_quality`` checks) and ``raw_labels``."""
    predictions_key = dg.AssetKey([model.name, "raw_predictions"])
    labels_key = dg.AssetKey([model.name, "raw_labels"])
    schema_check = dg.AssetCheckSpec(
        "schema",
        asset=predictions_key,
        blocking=True,
        description=(
            "Required features present and typed in all but "
            f"{model.thresholds.schema_error_rate_error:.0%} of records, and at most "
            f"{model.thresholds.quarantine_rate_error:.0%} of lines quarantined. "
            "Blocks the hour's aggregates when it fails at ERROR."
        ),
    )
    quality_check = dg.AssetCheckSpec(
        "data_quality",
        asset=predictions_key,
        description="Values within the baseline's ranges and category sets; few schema problems.",
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
    )
    def ingest(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ):
        hour, end = window_of(context)
        wh = warehouse.get()
        if predictions_key in context.selected_asset_keys:
            result = load_prediction_hour(wh, model, log_store.logs_root, hour)
            if result.files == 0:
                context.log.warning(f"{model.name}: no closed prediction log files for {hour}")
            yield dg.MaterializeResult(asset_key=predictions_key, metadata=ingest_metadata(result))
            report = QualityReport(rows=0)
            if result.rows:
                baseline = baseline_for_window(wh, model, hour, end, context.log.warning)
                complete = {c.column.name: c.categories_complete for c in baseline.columns}
                report = validate_batch(result.table.to_pandas(), model, baseline, complete)
            for outcome in (
                schema_outcome(result, report, model.thresholds),
                quality_outcome(result, report, model.thresholds),
            ):
                check_key = dg.AssetCheckKey(predictions_key, outcome.name)
                if check_key in context.selected_asset_check_keys:
                    yield check_result(outcome, predictions_key)
        if labels_key in context.selected_asset_keys:
            result = load_label_hour(wh, model, log_store.logs_root, hour)
            metadata = ingest_metadata(result)
            metadata["prediction_days"] = dg.MetadataValue.json(list(result.prediction_days))
            yield dg.MaterializeResult(asset_key=labels_key, metadata=metadata)

    return [ingest]
