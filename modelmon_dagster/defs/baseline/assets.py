"""The baseline asset: per model version, bins and moments of every column from reference data."""

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_CALIBRATION,
    BASELINE_COLUMNS,
    BASELINE_NULLS,
    BASELINE_PERFORMANCE,
    BASELINE_SEGMENT_BINS,
    baseline_id_for,
    baseline_tables,
    build_baseline,
    calibration_table,
    file_digest,
    null_reference_table,
    segment_reference_table,
    with_labels,
)
from modelmon_dagster.config import Baseline as BaselineSpec
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, LogStoreResource, WarehouseResource
from modelmon_dagster.ingest.parser import parse_label_files, parse_prediction_files
from modelmon_dagster.stats.performance import (
    expected_calibration_error,
    expected_confusion,
    performance_metrics,
    reliability_table,
)
from modelmon_dagster.warehouse import Replacement


def _read_reference(model: ModelConfig, spec: BaselineSpec, log_store: LogStoreResource, log):
    path = log_store.resolve(spec.reference_predictions)
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
        label_path = log_store.resolve(spec.reference_labels)
        if not label_path.exists():
            raise FileNotFoundError(f"{model.name}: reference labels not found at {label_path}")
        labels = parse_label_files([label_path], model).rows.to_pandas()
        digests.append(file_digest(label_path))
    frame = with_labels(batch.rows.to_pandas(), labels)
    return frame, baseline_id_for(model, spec, digests), batch.quarantine.num_rows


def _performance_rows(
    model: ModelConfig, baseline_id: str, version: str, frame: pd.DataFrame, calibration
) -> list[dict]:
    """Reference performance, overall and per segment value, with the counts behind it.

    Also the confidence-based estimate on the reference itself (``estimated_*``): the daily
    estimate is compared with it, so the estimator's own bias cancels out.
    """
    is_regression = model.task.value == "regression"
    label_col = "label_value" if is_regression else "label_text"
    pred_col = "prediction_value" if is_regression else "prediction_label"
    if label_col not in frame.columns:
        return []
    labelled = frame[(frame["status"] == "ok") & frame[label_col].notna()]
    scopes = [("__all__", "__all__", labelled)]
    for segment in model.segments:
        column = model.feature(segment).column
        for value, rows in labelled.groupby(labelled[column].astype("string")):
            scopes.append((segment, str(value), rows))
    out = []
    binary = model.task.value == "binary_classification"
    for seg_col, seg_val, rows in scopes:
        values = performance_metrics(
            model,
            rows[label_col].to_numpy(),
            rows[pred_col].to_numpy(),
            rows["score"].to_numpy() if binary else None,
        )
        if binary and len(rows):
            truth = (rows[label_col] == model.positive_class).to_numpy(dtype=float)
            n, sums, hits = reliability_table(rows["score"].to_numpy(dtype=float), truth)
            values["ece"] = expected_calibration_error(n, sums, hits)
        if seg_col == "__all__" and binary and calibration.num_rows:
            cal = calibration.to_pandas().set_index("score_bin")["calibrated_p"]
            bins = np.minimum((frame["score"].dropna() * 100).astype(int), 99)
            counts = bins.value_counts().reindex(range(100), fill_value=0)
            estimate = expected_confusion(
                counts, cal.reindex(range(100)).to_numpy(), np.arange(100) >= 50
            )
            values |= {f"estimated_{k}": v for k, v in estimate.items()}
        out += [
            {
                "model_name": model.name,
                "baseline_id": baseline_id,
                "model_version": version,
                "segment_column": seg_col,
                "segment_value": seg_val,
                "metric": name,
                "value": value,
                "n": len(rows),
            }
            for name, value in values.items()
        ]
    return out


def build_baseline_asset(model: ModelConfig) -> dg.AssetsDefinition:
    """``{model}/baseline`` (unpartitioned): one baseline per configured model version."""

    @dg.asset(
        key=[model.name, "baseline"],
        group_name=model.name,
        pool=WAREHOUSE_POOL,
        kinds={"sql"},
        description=(
            f"{model.name}: per model version, bins (quantile edges with open tails, top-k "
            "categories + other), moments, label distribution and performance of the "
            "reference data."
        ),
    )
    def baseline(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, log_store: LogStoreResource
    ) -> dg.MaterializeResult:
        bins, columns, segments, calibration, performance, summary = [], [], [], [], [], {}
        nulls = []
        for spec in model.baselines:
            frame, baseline_id, quarantined = _read_reference(model, spec, log_store, context.log)
            fixed = build_baseline(model, frame, baseline_id, spec)
            version_bins, version_columns = baseline_tables(fixed, frame)
            bins.append(version_bins)
            columns.append(version_columns)
            nulls.append(null_reference_table(fixed, frame))
            segments.append(segment_reference_table(model, fixed, frame))
            calibration.append(calibration_table(model, fixed, frame))
            perf = _performance_rows(model, baseline_id, spec.model_version, frame, calibration[-1])
            performance += perf
            summary[spec.model_version] = {
                "baseline_id": baseline_id,
                "reference_rows": len(frame),
                "reference_quarantined": quarantined,
                "performance": {
                    r["metric"]: round(r["value"], 4)
                    for r in perf
                    if r["segment_column"] == "__all__"
                },
            }
        where, params = "model_name = :model_name", {"model_name": model.name}
        perf_table = pa.Table.from_pandas(
            pd.DataFrame(performance, columns=BASELINE_PERFORMANCE.column_names),
            preserve_index=False,
        )
        warehouse.get().replace_many(
            [
                Replacement(BASELINE_BINS, where, params, rows=pa.concat_tables(bins)),
                Replacement(BASELINE_COLUMNS, where, params, rows=pa.concat_tables(columns)),
                Replacement(BASELINE_NULLS, where, params, rows=pa.concat_tables(nulls)),
                Replacement(BASELINE_PERFORMANCE, where, params, rows=perf_table),
                Replacement(BASELINE_SEGMENT_BINS, where, params, rows=pa.concat_tables(segments)),
                Replacement(
                    BASELINE_CALIBRATION, where, params, rows=pa.concat_tables(calibration)
                ),
            ]
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
