"""The baseline asset: bin edges, categories and moments from a model's reference data."""

import dagster as dg

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_COLUMNS,
    baseline_tables,
    build_baseline,
    file_digest,
)
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, LogStoreResource, WarehouseResource
from modelmon_dagster.ingest.parser import parse_prediction_files
from modelmon_dagster.warehouse import Replacement


def build_baseline_asset(model: ModelConfig) -> dg.AssetsDefinition:
    """``{model}/baseline`` (unpartitioned): rebuilt when the reference data changes."""

    @dg.asset(
        key=[model.name, "baseline"],
        group_name=model.name,
        pool=WAREHOUSE_POOL,
        kinds={"sql"},
        description=(
            f"{model.name}: bins (quantile edges with open tails, top-k categories + other) and "
            f"moments of every monitored column, from the {model.baseline.model_version} "
            "reference data."
        ),
    )
    def baseline(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        path = log_store.resolve(model.baseline.reference_predictions)
        if not path.exists():
            raise FileNotFoundError(
                f"{model.name}: reference predictions not found at {path} "
                "(config baseline.reference_predictions; `make demo` simulates them)"
            )
        batch = parse_prediction_files([path], model, hour=None)
        if batch.quarantine.num_rows:
            context.log.warning(
                f"{model.name}: {batch.quarantine.num_rows} reference lines quarantined "
                f"(first reason: {batch.quarantine.column('reason')[0]})"
            )
        reference = batch.rows.to_pandas()
        baseline_id = f"{model.baseline.model_version}-{file_digest(path)}"
        fixed = build_baseline(model, reference, baseline_id)
        bins, columns = baseline_tables(fixed, reference)
        where = "model_name = :model_name"
        params = {"model_name": model.name}
        warehouse.get().replace_many(
            [
                Replacement(BASELINE_BINS, where, params, rows=bins),
                Replacement(BASELINE_COLUMNS, where, params, rows=columns),
            ]
        )
        return dg.MaterializeResult(
            metadata={
                "baseline_id": baseline_id,
                "model_version": model.baseline.model_version,
                "reference_rows": dg.MetadataValue.int(batch.rows.num_rows),
                "reference_quarantined": batch.quarantine.num_rows,
                "bins_per_column": dg.MetadataValue.json(
                    {c.column.name: c.n_bins for c in fixed.columns}
                ),
                "reference_file": dg.MetadataValue.path(str(path)),
            }
        )

    return baseline
