"""Warehouse tables written by ingestion: raw predictions and labels per model, quarantine."""

from modelmon_dagster.config import FeatureType, ModelConfig
from modelmon_dagster.warehouse import TableSchema

SQL_TYPES = {FeatureType.NUMERIC: "DOUBLE PRECISION", FeatureType.CATEGORICAL: "VARCHAR"}

QUARANTINE = TableSchema(
    "quarantined_lines",
    (
        ("model_name", "VARCHAR"),
        ("stream", "VARCHAR"),
        ("partition_hour", "TIMESTAMP"),
        ("source_file", "VARCHAR"),
        ("line_no", "BIGINT"),
        ("raw_line", "VARCHAR"),
        ("reason", "VARCHAR"),
    ),
)


def raw_predictions_table(model: ModelConfig) -> TableSchema:
    """``{model}__raw_predictions``: one typed row per valid prediction record."""
    fixed = (
        ("partition_hour", "TIMESTAMP"),
        ("prediction_id", "VARCHAR"),
        ("model_version", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        ("status", "VARCHAR"),
        ("error_type", "VARCHAR"),
        ("latency_ms", "DOUBLE PRECISION"),
        ("prediction_label", "VARCHAR"),
        ("prediction_value", "DOUBLE PRECISION"),
        ("score", "DOUBLE PRECISION"),
        ("probabilities", "VARCHAR"),
        ("host_cpu_pct", "DOUBLE PRECISION"),
        ("host_memory_mb", "DOUBLE PRECISION"),
        ("host_gpu_pct", "DOUBLE PRECISION"),
        ("schema_errors", "VARCHAR"),
        # The file's name only: model and hour already fix its folder (full paths are in the
        # quarantine), and a long path repeated on every row doubled DuckDB's write volume.
        ("source_file_name", "VARCHAR"),
    )
    features = tuple((f.column, SQL_TYPES[f.type]) for f in model.features)
    # prediction_id is indexed: each hour's load looks its ids up in the other hours (repeats).
    # partition_hour is indexed: every hourly query and delete reads one hour of a table that
    # grows by the day (without it, PostgreSQL scans every stored day; bench/bench_history.py).
    return TableSchema(
        f"{model.name}__raw_predictions",
        fixed + features,
        indexed=("prediction_id", "partition_hour"),
    )


def raw_labels_table(model: ModelConfig) -> TableSchema:
    """``{model}__raw_labels``: one row per valid label, partitioned by arrival hour."""
    return TableSchema(
        f"{model.name}__raw_labels",
        (
            ("partition_hour", "TIMESTAMP"),
            ("prediction_id", "VARCHAR"),
            ("label_text", "VARCHAR"),
            ("label_value", "DOUBLE PRECISION"),
            ("label_ts", "TIMESTAMP"),
            ("source_file_name", "VARCHAR"),
            # Order of arrival within the hour (file, then line): the last tie-break of
            # "latest label wins" after label_ts and partition_hour.
            ("arrival_seq", "BIGINT"),
        ),
        indexed=("partition_hour",),
    )
