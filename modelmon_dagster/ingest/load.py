"""Load one hour of a model's logs into the warehouse (raw rows and quarantine together)."""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.ingest.parser import ParsedBatch, parse_label_files, parse_prediction_files
from modelmon_dagster.ingest.tables import (
    QUARANTINE,
    raw_labels_table,
    raw_predictions_table,
)
from modelmon_dagster.logformat import LABELS, PREDICTIONS, hour_folder, scan_closed_files
from modelmon_dagster.warehouse import Replacement, Warehouse


@dataclass(frozen=True)
class IngestResult:
    """What one hour's load read and wrote."""

    stream: str
    hour: dt.datetime
    files: int
    lines: int
    rows: int
    quarantined: int
    line_path_files: int
    quarantine_reasons: dict = field(default_factory=dict)
    table: pa.Table | None = field(default=None, compare=False, repr=False)  # rows written
    # Labels only: the UTC days of the predictions these labels belong to (late-label refresh).
    prediction_days: tuple[str, ...] = ()
    # Entries named like log files that were not read (symlinks out of the root, directories).
    skipped_files: tuple[str, ...] = ()

    @property
    def quarantined_fraction(self) -> float:
        """Share of non-empty lines that were quarantined (0 when there were none)."""
        return self.quarantined / self.lines if self.lines else 0.0


def _with_constant(table: pa.Table, name: str, value, type_: pa.DataType) -> pa.Table:
    return table.append_column(name, pa.array([value] * table.num_rows, type=type_))


def _quarantine_rows(batch: ParsedBatch, model: ModelConfig, stream: str, hour: dt.datetime):
    q = batch.quarantine
    q = _with_constant(q, "model_name", model.name, pa.string())
    q = _with_constant(q, "stream", stream, pa.string())
    return _with_constant(q, "partition_hour", hour, pa.timestamp("us"))


def _load(
    warehouse: Warehouse,
    model: ModelConfig,
    stream: str,
    hour: dt.datetime,
    batch: ParsedBatch,
    rows: pa.Table,
    raw_schema,
) -> IngestResult:
    params = {"model_name": model.name, "stream": stream, "hour": hour}
    warehouse.replace_many(
        [
            Replacement(raw_schema, "partition_hour = :hour", params, rows=rows),
            Replacement(
                QUARANTINE,
                "model_name = :model_name AND stream = :stream AND partition_hour = :hour",
                params,
                rows=_quarantine_rows(batch, model, stream, hour),
            ),
        ]
    )
    reasons = Counter(batch.quarantine.column("reason").to_pylist())
    return IngestResult(
        stream=stream,
        hour=hour,
        files=batch.files,
        lines=batch.lines,
        rows=rows.num_rows,
        quarantined=batch.quarantine.num_rows,
        line_path_files=batch.line_path_files,
        quarantine_reasons=dict(sorted(reasons.items())),
        table=rows,
    )


def _log_files(
    logs_root: Path, stream: str, model: ModelConfig, hour: dt.datetime
) -> tuple[list[Path], tuple[str, ...]]:
    """The hour's log files, and ``"path: reason"`` for each entry skipped as not one."""
    folder = hour_folder(logs_root, stream, model.name, hour)
    files, skipped = scan_closed_files(folder, logs_root)
    return files, tuple(f"{path}: {reason}" for path, reason in skipped)


def stored_elsewhere(
    warehouse: Warehouse, model: ModelConfig, hour: dt.datetime, ids: pa.ChunkedArray
) -> list[str]:
    """The ids among ``ids`` already stored in another hour near ``hour``.

    "Near" is ``label_delay.max_hours`` either way: the span within which a prediction can still
    be joined with its label, and so the span where a repeated id would count twice or take
    another prediction's label. Bounding it keeps the lookup's cost flat as the table grows.
    """
    span = dt.timedelta(hours=model.label_delay.max_hours)
    return warehouse.stored_values(
        raw_predictions_table(model).name,
        "prediction_id",
        ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string()),
        "t.partition_hour <> :hour AND t.partition_hour >= :since AND t.partition_hour < :until",
        {"hour": hour, "since": hour - span, "until": hour + span + dt.timedelta(hours=1)},
    )


def load_prediction_hour(
    warehouse: Warehouse, model: ModelConfig, logs_root: Path, hour: dt.datetime
) -> IngestResult:
    """Replace the hour's raw predictions and quarantined lines with what its files hold.

    An hour without files writes nothing and reports zero files, so reruns after files appear
    pick them up; the hourly aggregates still record the hour with zero volume.
    """
    files, skipped = _log_files(logs_root, PREDICTIONS, model, hour)
    batch = parse_prediction_files(files, model, hour)
    repeated = stored_elsewhere(warehouse, model, hour, batch.rows.column("prediction_id"))
    if repeated:
        # Rare: parse again so that each repeat is quarantined with its file, line and text.
        batch = parse_prediction_files(files, model, hour, repeated_ids=repeated)
    result = _load(
        warehouse, model, PREDICTIONS, hour, batch, batch.rows, raw_predictions_table(model)
    )
    return replace(result, skipped_files=skipped)


def load_label_hour(
    warehouse: Warehouse, model: ModelConfig, logs_root: Path, hour: dt.datetime
) -> IngestResult:
    """Replace the labels that arrived in ``hour`` (and their quarantined lines).

    The result names the days of the predictions these labels belong to, so that their
    performance partitions can be refreshed.
    """
    files, skipped = _log_files(logs_root, LABELS, model, hour)
    batch = parse_label_files(files, model, hour)
    rows = _with_constant(batch.rows, "partition_hour", hour, pa.timestamp("us"))
    result = _load(warehouse, model, LABELS, hour, batch, rows, raw_labels_table(model))
    result = replace(result, skipped_files=skipped)
    if not rows.num_rows or not warehouse.table_exists(raw_predictions_table(model).name):
        return result
    days = warehouse.query_df(
        "SELECT DISTINCT CAST(date_trunc('day', p.partition_hour) AS DATE) AS day "
        f'FROM "{raw_labels_table(model).name}" AS l '
        f'JOIN "{raw_predictions_table(model).name}" AS p ON p.prediction_id = l.prediction_id '
        "WHERE l.partition_hour = :hour ORDER BY 1",
        {"hour": hour},
    )
    return replace(result, prediction_days=tuple(str(d)[:10] for d in days["day"]))
