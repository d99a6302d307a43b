"""Hourly ingestion assets: one hour of JSONL logs into typed raw tables, bad lines quarantined."""

import dagster as dg

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.partitions import window_of
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, LogStoreResource, WarehouseResource
from modelmon_dagster.ingest.load import IngestResult, load_label_hour, load_prediction_hour


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


def build_ingestion_assets(
    model: ModelConfig, hourly: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """``raw_predictions`` and ``raw_labels`` of one model."""

    @dg.asset(
        key=[model.name, "raw_predictions"],
        group_name=model.name,
        partitions_def=hourly,
        pool=WAREHOUSE_POOL,
        kinds={"sql"},
        description=(
            f"{model.name}: the hour's prediction log lines, typed; malformed lines go to "
            "quarantined_lines with file, line number and reason."
        ),
    )
    def raw_predictions(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        hour, _ = window_of(context)
        result = load_prediction_hour(warehouse.get(), model, log_store.logs_root, hour)
        if result.files == 0:
            context.log.warning(
                f"{model.name}: no closed prediction log files for {hour:%Y-%m-%d %H}:00"
            )
        return dg.MaterializeResult(metadata=ingest_metadata(result))

    @dg.asset(
        key=[model.name, "raw_labels"],
        group_name=model.name,
        partitions_def=hourly,
        pool=WAREHOUSE_POOL,
        kinds={"sql"},
        description=f"{model.name}: labels that arrived in the hour (ground truth, delayed).",
    )
    def raw_labels(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        hour, _ = window_of(context)
        result = load_label_hour(warehouse.get(), model, log_store.logs_root, hour)
        return dg.MaterializeResult(metadata=ingest_metadata(result))

    return [raw_predictions, raw_labels]
