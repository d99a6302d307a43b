"""The baseline asset: per model version, bins and moments of every column from reference data."""

import dagster as dg
import pyarrow as pa

from modelmon_dagster.baseline import (
    CONFIG_BASELINE_ROWS,
    BaselineRows,
    baseline_id_for,
    baseline_rows,
    file_digest,
    with_labels,
)
from modelmon_dagster.config import Baseline as BaselineSpec
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, LogStoreResource, WarehouseResource
from modelmon_dagster.defs.retry import retry_only_connection_failures
from modelmon_dagster.ingest.parser import parse_label_files, parse_prediction_files


def _read_reference(model: ModelConfig, spec: BaselineSpec, log_store: LogStoreResource, log):
    path = log_store.resolve(
        spec.reference_predictions, f"{model.name} baseline.reference_predictions"
    )
    if not path.exists():
        raise FileNotFoundError(
            f"{model.name} {spec.model_version}: reference predictions not found at {path} "
            "(config baseline.reference_predictions; `make demo` simulates them)"
        )
    batch = parse_prediction_files([path], model, hour=None)
    if batch.quarantine.num_rows:
        log.warning(
            f"{model.name} {spec.model_version}: {batch.quarantine.num_rows} reference lines "
            f"quarantined (first reason: {batch.quarantine.column('reason')[0]})"
        )
    labels = None
    digests = [file_digest(path)]
    if spec.reference_labels:
        label_path = log_store.resolve(
            spec.reference_labels, f"{model.name} baseline.reference_labels"
        )
        if not label_path.exists():
            raise FileNotFoundError(f"{model.name}: reference labels not found at {label_path}")
        labels = parse_label_files([label_path], model).rows.to_pandas()
        digests.append(file_digest(label_path))
    frame = with_labels(batch.rows.to_pandas(), labels)
    return frame, baseline_id_for(model, spec, digests), batch.quarantine.num_rows


def build_baseline_asset(
    model: ModelConfig, retry_policy: dg.RetryPolicy | None = None
) -> dg.AssetsDefinition:
    """``{model}/baseline`` (unpartitioned): one baseline per configured model version."""

    @dg.asset(
        key=[model.name, "baseline"],
        group_name=model.name,
        pool=WAREHOUSE_POOL,
        retry_policy=retry_policy,
        kinds={"sql"},
        description=(
            f"{model.name}: per model version, bins (quantile edges with open tails, top-k "
            "categories + other), moments, label distribution and performance of the "
            "reference data."
        ),
    )
    @retry_only_connection_failures
    def baseline(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        versions, summary = [], {}
        for spec in model.baselines:
            frame, baseline_id, quarantined = _read_reference(model, spec, log_store, context.log)
            rows = baseline_rows(model, frame, baseline_id, spec)
            versions.append(rows)
            summary[spec.model_version] = {
                "baseline_id": baseline_id,
                "reference_rows": len(frame),
                "reference_quarantined": quarantined,
                "performance": {
                    r["metric"]: round(r["value"], 4)
                    for r in rows.performance
                    if r["segment_column"] == "__all__"
                },
            }
        # Registry-created baselines (new versions, built from their holdout) are left alone.
        merged = BaselineRows(
            baseline=versions[0].baseline,
            bins=pa.concat_tables([v.bins for v in versions]),
            columns=pa.concat_tables([v.columns for v in versions]),
            segments=pa.concat_tables([v.segments for v in versions]),
            calibration=pa.concat_tables([v.calibration for v in versions]),
            performance=[r for v in versions for r in v.performance],
            nulls=pa.concat_tables([v.nulls for v in versions]),
        )
        warehouse.get().replace_many(
            merged.replacements(CONFIG_BASELINE_ROWS, {"model_name": model.name})
        )
        default = summary[model.baseline.model_version]
        return dg.MaterializeResult(
            metadata={
                "default_version": model.baseline.model_version,
                "baseline_id": default["baseline_id"],
                "reference_rows": dg.MetadataValue.int(default["reference_rows"]),
                "versions": dg.MetadataValue.json(summary),
            }
        )

    return baseline
