"""Load one hour of a model's logs into the warehouse (raw rows and quarantine together)."""

import datetime as dt
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.ingest.chunks import CHUNK_BYTES, Part, chunks
from modelmon_dagster.ingest.parser import ParsedBatch, parse_label_files, parse_prediction_files
from modelmon_dagster.ingest.tables import (
    QUARANTINE,
    raw_labels_table,
    raw_predictions_table,
)
from modelmon_dagster.logformat import LABELS, PREDICTIONS, hour_folder, scan_closed_files
from modelmon_dagster.warehouse import Replacement, Warehouse, quote


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
    # Reads the rows written back from the warehouse (they are not kept: an hour may be large).
    read_rows: Callable[[], pa.Table] | None = field(default=None, compare=False, repr=False)
    # Labels only: the UTC days of the predictions these labels belong to (late-label refresh).
    prediction_days: tuple[str, ...] = ()
    # Entries named like log files that were not read (symlinks out of the root, directories).
    skipped_files: tuple[str, ...] = ()
    chunks: int = 0  # chunks the hour's files were read in (see ``ingest.chunks``)

    @property
    def quarantined_fraction(self) -> float:
        """Share of non-empty lines that were quarantined (0 when there were none)."""
        return self.quarantined / self.lines if self.lines else 0.0

    @property
    def table(self) -> pa.Table | None:
        """The rows this load wrote, read back from the warehouse (all at once: small hours)."""
        return None if self.read_rows is None else self.read_rows()


def _with_constant(table: pa.Table, name: str, value, type_: pa.DataType) -> pa.Table:
    return table.append_column(name, pa.array([value] * table.num_rows, type=type_))


def _quarantine_rows(batch: ParsedBatch, model: ModelConfig, stream: str, hour: dt.datetime):
    q = batch.quarantine
    q = _with_constant(q, "model_name", model.name, pa.string())
    q = _with_constant(q, "stream", stream, pa.string())
    return _with_constant(q, "partition_hour", hour, pa.timestamp("us"))


@dataclass
class _Tally:
    """Running totals of an hour's chunks."""

    files: set = field(default_factory=set)
    lines: int = 0
    rows: int = 0
    quarantined: int = 0
    line_path_files: int = 0
    reasons: Counter = field(default_factory=Counter)
    chunks: int = 0

    def add(self, parts: list[Part], batch: ParsedBatch, rows: int) -> None:
        self.files |= {p.source_file for p in parts}
        self.lines += batch.lines
        self.rows += rows
        self.quarantined += batch.quarantine.num_rows
        self.line_path_files += batch.line_path_files
        self.reasons.update(batch.quarantine.column("reason").to_pylist())
        self.chunks += 1


def _load_chunks(
    warehouse: Warehouse,
    model: ModelConfig,
    stream: str,
    hour: dt.datetime,
    files: list[Path],
    raw_schema,
    parse: Callable[[list[Part]], tuple[ParsedBatch, pa.Table]],
    chunk_bytes: int,
    before_commit: Callable[[sa.Connection, _Tally], None] | None = None,
) -> _Tally:
    """Replace the hour's raw rows and quarantined lines, writing chunk by chunk.

    One transaction: a failure (or ``before_commit`` raising) leaves the previous partitions.
    """
    params = {"model_name": model.name, "stream": stream, "hour": hour}
    partitions = [
        Replacement(raw_schema, "partition_hour = :hour", params),
        Replacement(
            QUARANTINE,
            "model_name = :model_name AND stream = :stream AND partition_hour = :hour",
            params,
        ),
    ]
    tally = _Tally()
    check = None if before_commit is None else (lambda conn: before_commit(conn, tally))
    with (
        warehouse.replacing(partitions, check) as writer,
        tempfile.TemporaryDirectory(prefix="modelmon-ingest-") as scratch,
    ):
        for parts in chunks(files, chunk_bytes, Path(scratch)):
            batch, rows = parse(parts)
            writer.insert(raw_schema, rows)
            writer.insert(QUARANTINE, _quarantine_rows(batch, model, stream, hour))
            tally.add(parts, batch, rows.num_rows)
    return tally


def _result(
    warehouse: Warehouse,
    stream: str,
    hour: dt.datetime,
    tally: _Tally,
    raw_schema,
    skipped: tuple[str, ...],
) -> IngestResult:
    def read_rows() -> pa.Table:
        batches = list(warehouse.read_batches(raw_schema, "partition_hour", hour, 1 << 20))
        return pa.concat_tables(batches) if batches else pa.table({})

    return IngestResult(
        stream=stream,
        hour=hour,
        files=len(tally.files),
        lines=tally.lines,
        rows=tally.rows,
        quarantined=tally.quarantined,
        line_path_files=tally.line_path_files,
        quarantine_reasons=dict(sorted(tally.reasons.items())),
        read_rows=read_rows,
        skipped_files=skipped,
        chunks=tally.chunks,
    )


def _log_files(
    logs_root: Path, stream: str, model: ModelConfig, hour: dt.datetime
) -> tuple[list[Path], tuple[str, ...]]:
    """The hour's log files, and ``"path: reason"`` for each entry skipped as not one."""
    folder = hour_folder(logs_root, stream, model.name, hour)
    files, skipped = scan_closed_files(folder, logs_root)
    return files, tuple(f"{path}: {reason}" for path, reason in skipped)


@dataclass
class _PredictionChunks:
    """Parses an hour's prediction chunks knowing the repeated ids found so far."""

    model: ModelConfig
    hour: dt.datetime
    elsewhere: frozenset[str] = frozenset()  # stored in another hour: every copy quarantined
    duplicated: frozenset[str] = frozenset()  # repeated within the hour: the first copy stays
    accepted: set[str] = field(default_factory=set)  # ids of ``duplicated`` accepted so far

    def parse(self, parts: list[Part]) -> tuple[ParsedBatch, pa.Table]:
        batch = parse_prediction_files(
            parts,
            self.model,
            self.hour,
            repeated_ids=sorted(self.elsewhere),
            earlier_ids=sorted(self.accepted),
        )
        if self.duplicated:
            ids = batch.rows.column("prediction_id")
            mask = pc.is_in(ids, value_set=pa.array(sorted(self.duplicated), pa.string()))
            self.accepted.update(ids.filter(mask).to_pylist())
        return batch, batch.rows

    def check(self, conn: sa.Connection, tally: _Tally) -> None:
        """Before the commit: roll back (raise) if the hour holds repeats not known yet."""
        elsewhere, duplicated = _repeated_ids(conn, self.model, self.hour, tally.chunks)
        if not (elsewhere <= self.elsewhere and duplicated <= self.duplicated):
            raise _Redo(self.elsewhere | elsewhere, self.duplicated | duplicated)


class _Redo(Exception):
    """Ids found repeated after the hour was written: roll back and load it again."""

    def __init__(self, elsewhere: frozenset[str], duplicated: frozenset[str]):
        super().__init__("repeated prediction ids")
        self.elsewhere = elsewhere
        self.duplicated = duplicated


def _repeated_ids(
    conn: sa.Connection, model: ModelConfig, hour: dt.datetime, chunks_read: int
) -> tuple[frozenset[str], frozenset[str]]:
    """Ids of the hour just written that are stored in another hour near it, or twice in it.

    Twice in the hour is possible only across chunks (each chunk is deduplicated).

    "Near" is ``label_delay.max_hours`` either way: the span within which a prediction can still
    be joined with its label, and so the span where a repeated id would count twice or take
    another prediction's label. Bounding it keeps the lookup's cost flat as the table grows.
    Both are queries in the warehouse, inside the load's transaction: no id list is held here.
    """
    table = quote(raw_predictions_table(model).name)
    span = dt.timedelta(hours=model.label_delay.max_hours)
    params = {"hour": hour, "since": hour - span, "until": hour + span + dt.timedelta(hours=1)}
    elsewhere = conn.execute(
        sa.text(
            f"SELECT DISTINCT t.prediction_id FROM {table} AS t WHERE t.partition_hour <> :hour "
            "AND t.partition_hour >= :since AND t.partition_hour < :until AND t.prediction_id IN "
            f"(SELECT h.prediction_id FROM {table} AS h WHERE h.partition_hour = :hour)"
        ),
        params,
    )
    elsewhere = frozenset(r[0] for r in elsewhere)
    duplicated: frozenset[str] = frozenset()
    if chunks_read > 1:
        found = conn.execute(
            sa.text(
                f"SELECT prediction_id FROM {table} WHERE partition_hour = :hour "
                "GROUP BY prediction_id HAVING count(*) > 1"
            ),
            params,
        )
        duplicated = frozenset(r[0] for r in found)
    return elsewhere, duplicated


def load_prediction_hour(
    warehouse: Warehouse,
    model: ModelConfig,
    logs_root: Path,
    hour: dt.datetime,
    chunk_bytes: int = CHUNK_BYTES,
) -> IngestResult:
    """Replace the hour's raw predictions and quarantined lines with what its files hold.

    The files are read and written in chunks of about ``chunk_bytes`` (memory stays bounded
    whatever the hour's size), in one transaction. An hour without files writes nothing and
    reports zero files, so reruns after files appear pick them up; the hourly aggregates still
    record the hour with zero volume.

    Repeated ids are found once the hour is written (in the warehouse, before the commit). They
    are rare: then the transaction is rolled back and the hour loaded again knowing them, so
    that each repeat is quarantined with its file, line and text. An id stored in another hour
    is quarantined in every copy; an id repeated within the hour keeps its first copy.
    """
    files, skipped = _log_files(logs_root, PREDICTIONS, model, hour)
    schema = raw_predictions_table(model)
    known = _PredictionChunks(model, hour)
    while True:
        try:
            tally = _load_chunks(
                warehouse,
                model,
                PREDICTIONS,
                hour,
                files,
                schema,
                known.parse,
                chunk_bytes,
                known.check,
            )
        except _Redo as redo:
            known = _PredictionChunks(model, hour, redo.elsewhere, redo.duplicated)
            continue
        return _result(warehouse, PREDICTIONS, hour, tally, schema, skipped)


def load_label_hour(
    warehouse: Warehouse,
    model: ModelConfig,
    logs_root: Path,
    hour: dt.datetime,
    chunk_bytes: int = CHUNK_BYTES,
) -> IngestResult:
    """Replace the labels that arrived in ``hour`` (and their quarantined lines), by chunks.

    The result names the days of the predictions these labels belong to, so that their
    performance partitions can be refreshed.
    """
    files, skipped = _log_files(logs_root, LABELS, model, hour)
    schema = raw_labels_table(model)

    def parse(parts: list[Part]) -> tuple[ParsedBatch, pa.Table]:
        batch = parse_label_files(parts, model, hour)
        return batch, _with_constant(batch.rows, "partition_hour", hour, pa.timestamp("us"))

    tally = _load_chunks(warehouse, model, LABELS, hour, files, schema, parse, chunk_bytes)
    result = _result(warehouse, LABELS, hour, tally, schema, skipped)
    if not tally.rows or not warehouse.table_exists(raw_predictions_table(model).name):
        return result
    days = warehouse.query_df(
        "SELECT DISTINCT CAST(date_trunc('day', p.partition_hour) AS DATE) AS day "
        f'FROM "{raw_labels_table(model).name}" AS l '
        f'JOIN "{raw_predictions_table(model).name}" AS p ON p.prediction_id = l.prediction_id '
        "WHERE l.partition_hour = :hour ORDER BY 1",
        {"hour": hour},
    )
    return replace(result, prediction_days=tuple(str(d)[:10] for d in days["day"]))
