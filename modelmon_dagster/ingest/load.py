"""Load one hour of a model's logs into the warehouse (raw rows and quarantine together)."""

import datetime as dt
import queue
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.ingest.chunks import CHUNK_BYTES, Part, chunk_parts, chunks
from modelmon_dagster.ingest.direct import load_hours_directly
from modelmon_dagster.ingest.parser import (
    ParsedBatch,
    parse_clean_hours,
    parse_label_files,
    parse_prediction_files,
)
from modelmon_dagster.ingest.tables import (
    QUARANTINE,
    raw_labels_table,
    raw_predictions_table,
)
from modelmon_dagster.logformat import LABELS, PREDICTIONS, hour_folder, scan_closed_files
from modelmon_dagster.warehouse import (
    CopyReady,
    Replacement,
    TableSchema,
    Warehouse,
    advisory_lock,
    quote,
)


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
    # Chunks the hour's files were read in (see ``ingest.chunks``); 1 when they were loaded
    # straight from the files with other hours in one statement (``ingest.direct``).
    chunks: int = 0
    # Hours of this result loaded that way (not compared: both ways store the same).
    direct_hours: int = field(default=0, compare=False)
    # Why hours were not loaded that way on DuckDB: reason -> hours (``ingest.direct``).
    direct_declined: dict = field(default_factory=dict, compare=False)

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
    direct: bool = False  # loaded straight from the files (``ingest.direct``)
    declined: str = ""  # why not, when it was tried or skipped on DuckDB

    def add(self, parts: list[Part], batch: ParsedBatch, rows: int) -> None:
        self.files |= {p.source_file for p in parts}
        self.lines += batch.lines
        self.rows += rows
        self.quarantined += batch.quarantine.num_rows
        self.line_path_files += batch.line_path_files
        self.reasons.update(batch.quarantine.column("reason").to_pylist())
        self.chunks += 1


@dataclass
class _Hour:
    """One hour of one stream to load: its files, its partitions, how to parse and check it."""

    stream: str
    hour: dt.datetime
    files: list[Path]
    skipped: tuple[str, ...]
    schema: TableSchema
    # parts -> (batch, rows to write); with ``one_pass_only=True``, None if it needs the line path
    parse: Callable[..., tuple[ParsedBatch, pa.Table] | None]
    # Run in the load's transaction once the hour's rows are written (raises ``_Redo``).
    check: Callable[[sa.Connection, "_Tally"], None] | None = None
    # Whether ``parse`` is the first attempt's (then chunks parsed ahead can be used).
    fresh: bool = True

    def partitions(self, model: ModelConfig) -> list[Replacement]:
        params = {"model_name": model.name, "stream": self.stream, "hour": self.hour}
        return [
            Replacement(self.schema, "partition_hour = :hour", params),
            Replacement(
                QUARANTINE,
                "model_name = :model_name AND stream = :stream AND partition_hour = :hour",
                params,
            ),
        ]


# Parses several hours' single chunks in one pass: ``(batch, rows to write)`` per hour, None
# for an hour to parse alone, or None for all when the pass failed (``parse_clean_hours``).
_ParseMany = Callable[
    [list[tuple[_Hour, list[Part]]]], list[tuple[ParsedBatch, pa.Table] | None] | None
]

# Hours written in one transaction: consecutive hours while their files hold at most this
# many bytes. DuckDB writes whole row groups (122,880 rows, ~80 MB of these logs) straight to
# its file, once; an hour of 40k rows committed alone goes through the WAL and is compressed
# again at every checkpoint (measured: 2.5 CPU-s for a 1M-row day in 3-hour transactions, 7.5
# in 1-hour ones). All or nothing still: a failed write leaves every hour of the group as it
# was. It also bounds what a DuckDB transaction holds in memory (a larger hour is staged).
GROUP_BYTES = 96 << 20

# Parsed chunks waiting to be written (parsing runs one chunk ahead in a thread).
PARSED_AHEAD = 1
# On PostgreSQL one more: the server works apart from this process, and a second chunk ready
# keeps it busy while the next is parsed (a 1M-line day, alternating runs: 7.8-8.0 s against
# 8.4 s with one, and 9.1-10.2 against 10.1-10.7 s in a slower hour; +15-20 MB). DuckDB's
# chunked path keeps one: its chunks sit in the peak issue #9 bounds.
PARSED_AHEAD_POSTGRES = 2


class _Parsed:
    """The chunks of a run's hours, parsed in a thread while earlier ones are written.

    Parsing (DuckDB in memory) and writing (the warehouse) each release the GIL, so the two
    overlap on two cores. An hour's chunks come from that thread on its first attempt; an hour
    loaded again (repeated ids found, ``_Hour.fresh`` false) is parsed here, in order. At most
    ``depth`` parsed chunks wait, so memory stays bounded by a few chunks. ``ready``
    prepares a chunk's rows for the warehouse in that thread too (PostgreSQL: the ``COPY``
    encoding, a third of the client's work, which on the writing thread left the server idle).
    """

    _END = object()

    def __init__(
        self,
        hours: list[_Hour],
        chunk_bytes: int,
        ahead: bool = True,
        parse_many: "_ParseMany | None" = None,
        ready: Callable[[TableSchema, pa.Table], pa.Table | CopyReady] | None = None,
        depth: int = PARSED_AHEAD,
    ):
        self._hours = hours
        self._ready = ready
        self._chunk_bytes = chunk_bytes
        self._parse_many = parse_many
        self._taken: set[int] = set()
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = None
        if ahead and hours:
            self._thread = threading.Thread(
                target=self._run, name="modelmon-parse-ahead", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="modelmon-ingest-") as scratch:
                small: list[int] = []  # consecutive hours of one chunk each, parsed together
                size = 0
                for i, hour in enumerate(self._hours):
                    n = sum(f.stat().st_size for f in hour.files)
                    if self._parse_many is not None and n <= self._chunk_bytes:
                        if small and size + n > self._chunk_bytes:
                            if not self._put_small(small, Path(scratch)):
                                return
                            small, size = [], 0
                        small.append(i)
                        size += n
                        continue
                    if not self._put_small(small, Path(scratch)):
                        return
                    small, size = [], 0
                    for parts in chunks(hour.files, self._chunk_bytes, Path(scratch)):
                        for item in _parse_chunk(hour, parts, Path(scratch)):
                            if not self._put(self._prepared(i, *item)):
                                return
                    if not self._put((i, self._END, None, None)):
                        return
                self._put_small(small, Path(scratch))
        except BaseException as error:  # handed to the writing thread, which raises it
            self._put(error)

    def _put_small(self, indexes: list[int], scratch: Path) -> bool:
        """Hours whose files make one chunk each, parsed in shared passes where they can be.

        The rest (a lone hour, or one a pass declined) is parsed alone, as any other hour.
        """
        parts = {
            i: next(chunks(self._hours[i].files, self._chunk_bytes, scratch), []) for i in indexes
        }
        shared = self._shared([i for i in indexes if parts[i]], parts)
        for i in indexes:
            if i in shared:
                items = [(parts[i], *shared[i])]
            else:
                items = _parse_chunk(self._hours[i], parts[i], scratch) if parts[i] else []
            for item in items:
                if not self._put(self._prepared(i, *item)):
                    return False
            if not self._put((i, self._END, None, None)):
                return False
        return True

    def _shared(self, indexes: list[int], parts: dict[int, list[Part]]) -> dict[int, tuple]:
        """What one pass over ``indexes`` parses cleanly; a failed pass is split in two.

        A line that is not JSON fails a whole pass without saying whose it is: halving finds
        it in a few passes while the clean hours around it keep their shared parse.
        """
        if len(indexes) < 2 or self._parse_many is None:
            return {}
        batches = self._parse_many([(self._hours[i], parts[i]) for i in indexes])
        if batches is None:
            half = len(indexes) // 2
            return self._shared(indexes[:half], parts) | self._shared(indexes[half:], parts)
        return {i: b for i, b in zip(indexes, batches, strict=True) if b is not None}

    def _prepared(self, index: int, parts: list[Part], batch: ParsedBatch, rows: pa.Table):
        """A queue item: the chunk's rows made ready for the warehouse here, in this thread."""
        if self._ready is not None:
            rows = self._ready(self._hours[index].schema, rows)
        return index, parts, batch, rows

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def chunks_of(
        self, index: int
    ) -> Iterator[tuple[list[Part], ParsedBatch, pa.Table | CopyReady]]:
        """Hour ``index``'s chunks: ``(parts, parsed batch, rows to write)``, in order."""
        hour = self._hours[index]
        if self._thread is not None and hour.fresh and index not in self._taken:
            self._taken.add(index)
            while True:
                item = self._queue.get()
                if isinstance(item, BaseException):
                    raise item
                taken, parts, batch, rows = item
                if taken != index:
                    raise RuntimeError(f"parsed hour {taken} arrived for hour {index}")
                if parts is self._END:
                    return
                yield parts, batch, rows
        with tempfile.TemporaryDirectory(prefix="modelmon-ingest-") as scratch:
            for parts in chunks(hour.files, self._chunk_bytes, Path(scratch)):
                yield from _parse_chunk(hour, parts, Path(scratch))

    def close(self) -> None:
        """Stop the parsing thread (after a failure: nothing more is needed) and wait for it."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.1)
                except queue.Empty:
                    pass
            self._thread.join()


# A chunk the one pass declines is parsed line by line in pieces of at most this many bytes:
# the line path takes several times its chunk in memory (measured: one bad line in a 64 MB
# chunk peaked at 942 MB, in 16 MB chunks at 737 MB), while clean chunks stay large (a 1M-line
# day: 6.0-6.6 CPU-s in 64 MB chunks, 9.1 in 16 MB ones).
LINE_PATH_CHUNK_BYTES = 16 << 20


def _parse_chunk(
    hour: _Hour, parts: list[Part], scratch: Path
) -> Iterator[tuple[list[Part], ParsedBatch, pa.Table]]:
    """``(parts, batch, rows)`` of one chunk: itself if clean, else pieces parsed line by line.

    Pieces are chunks of their own (an id repeated across them is found as across any chunks).
    """
    if sum(p.read_path.stat().st_size for p in parts) > LINE_PATH_CHUNK_BYTES:
        parsed = hour.parse(parts, one_pass_only=True)
        if parsed is not None:
            yield parts, *parsed
            return
        finer = scratch / "line-path"
        finer.mkdir(exist_ok=True)
        for piece in chunk_parts(parts, LINE_PATH_CHUNK_BYTES, finer):
            yield piece, *hour.parse(piece)
        return
    yield parts, *hour.parse(parts)


def _write_group(
    warehouse: Warehouse,
    model: ModelConfig,
    group: list[int],
    hours: list[_Hour],
    parsed: _Parsed,
    staged: bool,
    analyze: bool,
) -> list[_Tally]:
    """Replace the raw rows and quarantined lines of the ``group``'s hours, in one transaction.

    Each hour's old rows are deleted just before its new ones are written and checked, so an
    hour sees the others as an hour-by-hour load would. A failure (or a check raising) leaves
    every hour of the group as it was.
    """
    partitions = [rep for i in group for rep in hours[i].partitions(model)]
    tallies = []
    with warehouse.replacing(partitions, clear=False, staged=staged, analyze=analyze) as writer:
        for i in group:
            hour = hours[i]
            for rep in hour.partitions(model):
                writer.clear(rep)
            tally = _Tally()
            for parts, batch, rows in parsed.chunks_of(i):
                writer.insert(hour.schema, rows)
                writer.insert(QUARANTINE, _quarantine_rows(batch, model, hour.stream, hour.hour))
                tally.add(parts, batch, rows.num_rows)
            writer.finish(hour.partitions(model), _checking(hour, i, tally))
            tallies.append(tally)
    return tallies


def _checking(hour: _Hour, index: int, tally: _Tally):
    """``hour``'s check as the writer runs it (``None`` if it has none)."""
    if hour.check is None:
        return None

    def check(conn: sa.Connection) -> None:
        try:
            hour.check(conn, tally)
        except _Redo as again:
            again.index = index
            raise

    return check


def _groups(hours: list[_Hour], group_bytes: int) -> Iterator[tuple[list[int], int]]:
    """Consecutive hours whose files hold at most ``group_bytes`` together, with their size.

    An hour larger than that is a group of its own.
    """
    group, size = [], 0
    for i, hour in enumerate(hours):
        n = sum(f.stat().st_size for f in hour.files)
        if group and size + n > group_bytes:
            yield group, size
            group, size = [], 0
        group.append(i)
        size += n
    if group:
        yield group, size


# On a DuckDB warehouse, hours are first loaded straight from their files (``ingest.direct``),
# consecutive hours in one statement while their files hold at most this many bytes. Larger
# statements write faster (a 1M-line day of 27 MB hours: 2.7 s in one, 2.9 in two, 3.7 in four)
# but a declined group is read twice, and DuckDB's memory stays within its ``memory_limit``.
DIRECT_GROUP_BYTES = 512 << 20

# After this many groups in a row are declined (their logs have bad lines or repeats), the
# run's remaining hours take the general path without trying.
DIRECT_DECLINES = 2

# A run whose model had lines quarantined in this stream within this time before its first
# hour skips the direct load: logs with a steady trickle of bad lines would have every hourly
# run declined, and read twice.
DIRECT_QUARANTINE_LOOKBACK = dt.timedelta(hours=24)


def _recently_quarantined(
    warehouse: Warehouse, model: ModelConfig, stream: str, first: dt.datetime
) -> bool:
    if not warehouse.table_exists(QUARANTINE.name):
        return False
    found = warehouse.scalar(
        f"SELECT count(*) FROM {quote(QUARANTINE.name)} WHERE model_name = :model "
        "AND stream = :stream AND partition_hour >= :since AND partition_hour < :first",
        {
            "model": model.name,
            "stream": stream,
            "since": first - DIRECT_QUARANTINE_LOOKBACK,
            "first": first,
        },
    )
    return bool(found)


def _load_hours(
    warehouse: Warehouse,
    model: ModelConfig,
    hours: list[_Hour],
    general: Callable[[list[_Hour]], list[_Tally]],
    direct: bool,
) -> list[_Tally]:
    """Load ``hours``: straight from the files where DuckDB can, otherwise parsed (below).

    Both store the same rows; a group the direct load declines is loaded the general way
    (``general``: ``_load_parsed`` with the stream's parsing).
    """
    if not direct or warehouse.dialect != "duckdb" or not hours:
        return general(hours)
    if _recently_quarantined(warehouse, model, hours[0].stream, min(h.hour for h in hours)):
        return _declined(general(hours), NOT_TRIED_QUARANTINED)
    tallies: list[_Tally] = []
    declined = 0
    for group, _ in _groups(hours, DIRECT_GROUP_BYTES):
        members = [hours[i] for i in group]
        counts: list[int] | str = NOT_TRIED_DECLINES
        if declined < DIRECT_DECLINES:
            counts = load_hours_directly(
                warehouse,
                model,
                members[0].stream,
                members[0].schema,
                [(h.hour, h.files) for h in members],
                [rep for h in members for rep in h.partitions(model)],
            )
        if isinstance(counts, str):
            declined += 1
            tallies += _declined(general(members), counts)
            continue
        declined = 0
        for hour, rows in zip(members, counts, strict=True):
            tallies.append(
                _Tally(
                    files=set(hour.files),
                    lines=rows,
                    rows=rows,
                    chunks=1 if hour.files else 0,
                    direct=True,
                )
            )
    return tallies


# Decline reasons of hours the direct load did not try.
NOT_TRIED_QUARANTINED = (
    "not tried: lines of this stream were quarantined in the "
    f"{DIRECT_QUARANTINE_LOOKBACK // dt.timedelta(hours=1)} hours before the run's first hour"
)
NOT_TRIED_DECLINES = f"not tried: the run's {DIRECT_DECLINES} groups before were declined"


def _declined(tallies: list[_Tally], reason: str) -> list[_Tally]:
    """``tallies`` of hours loaded the general way, noting why not directly."""
    for tally in tallies:
        tally.declined = reason
    return tallies


def _load_parsed(
    warehouse: Warehouse,
    model: ModelConfig,
    hours: list[_Hour],
    chunk_bytes: int,
    group_bytes: int,
    redo: Callable[[_Hour, "_Redo"], None] | None = None,
    parse_many: _ParseMany | None = None,
) -> list[_Tally]:
    """Load ``hours`` in groups of about ``group_bytes``, parsing ahead of the writes.

    On PostgreSQL the tables are analysed after the first group (the planner must not take a
    table it saw empty for an empty one) and once after the last, not after every group: an
    ``ANALYZE`` of a raw table samples 30k wide rows (measured: 3.9 of 16 s wall for the seven
    groups of a 1M-row day).
    """
    depth = PARSED_AHEAD_POSTGRES if warehouse.dialect == "postgresql" else PARSED_AHEAD
    parsed = _Parsed(
        hours, chunk_bytes, parse_many=parse_many, ready=warehouse.ready_for_copy, depth=depth
    )
    tallies: list[_Tally] = []
    groups = list(_groups(hours, group_bytes))
    try:
        for n, (group, size) in enumerate(groups):
            # A group within ``group_bytes`` is written straight into the transaction; a
            # larger hour is staged (DuckDB holds a transaction's new rows in memory).
            staged = size > group_bytes
            while True:
                try:
                    tallies += _write_group(
                        warehouse, model, group, hours, parsed, staged, analyze=n == 0
                    )
                    break
                except _Redo as again:
                    if redo is None:
                        raise
                    redo(hours[again.index], again)
    finally:
        parsed.close()
    if len(groups) > 1:
        later = tallies[len(groups[0][0]) :]
        warehouse.refresh_statistics(
            {
                hours[0].schema.name: sum(t.rows for t in later),
                QUARANTINE.name: sum(t.quarantined for t in later),
            }
        )
    return tallies


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
        direct_hours=int(tally.direct),
        direct_declined={tally.declined: 1} if tally.declined else {},
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

    def parse(
        self, parts: list[Part], one_pass_only: bool = False
    ) -> tuple[ParsedBatch, pa.Table] | None:
        batch = parse_prediction_files(
            parts,
            self.model,
            self.hour,
            repeated_ids=sorted(self.elsewhere),
            earlier_ids=sorted(self.accepted),
            one_pass_only=one_pass_only,
        )
        if batch is None:
            return None
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
        self.index = -1  # the hour's position in the run


def _repeated_ids(
    conn: sa.Connection, model: ModelConfig, hour: dt.datetime, chunks_read: int
) -> tuple[frozenset[str], frozenset[str]]:
    """Ids of the hour just written that are stored in another hour near it, or twice in it.

    Twice in the hour is possible only across chunks (each chunk is deduplicated).

    "Near" is ``label_delay.max_hours`` either way: the span within which a prediction can still
    be joined with its label, and so the span where a repeated id would count twice or take
    another prediction's label. Bounding it keeps the lookup's cost flat as the table grows.
    Both are queries in the warehouse, inside the load's transaction: no id list is held here.

    On PostgreSQL two loads of different hours may run at once, each unable to see the other's
    uncommitted rows: a new id in both would be kept twice. A lock per raw table, taken here
    and held until the load commits, makes the second lookup wait for the first load's commit
    and then see its rows. Only the lookup-to-commit part of concurrent loads of one model is
    serialised; their parsing and writing still overlap. DuckDB has one writer per file.
    """
    name = raw_predictions_table(model).name
    table = quote(name)
    span = dt.timedelta(hours=model.label_delay.max_hours)
    params = {"hour": hour, "since": hour - span, "until": hour + span + dt.timedelta(hours=1)}
    if conn.dialect.name == "postgresql":
        advisory_lock(conn, f"{name}|repeated ids")
        elsewhere = _probed_elsewhere(conn, table, params)
    else:
        elsewhere = conn.execute(
            sa.text(
                f"SELECT DISTINCT t.prediction_id FROM {table} AS t WHERE t.partition_hour <> :hour"
                " AND t.partition_hour >= :since AND t.partition_hour < :until AND t.prediction_id"
                f" IN (SELECT h.prediction_id FROM {table} AS h WHERE h.partition_hour = :hour)"
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


# Planner settings of the PostgreSQL repeat lookup: the hour's ids probe the ``prediction_id``
# index one by one (no hash of the span's rows, no scan by ``partition_hour``).
PROBE_SETTINGS = {
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
}


def _probed_elsewhere(conn: sa.Connection, table: str, params: dict) -> list:
    """PostgreSQL: ids of the hour stored in another hour of the span, by index probes.

    Left to itself the planner hashes the hour's ids and scans every row of the ±span
    (``label_delay.max_hours`` either way: 145 hours of rows by default), so an hour's lookup
    grows with the traffic of the span: ~0.1 s at 1M predictions a day, seconds at 10M. Probing
    the ``prediction_id`` index once per id of the hour costs the same whatever is stored. The
    span is a filter on what a probe finds, not an index condition, so no plan can scan it.
    The settings are the transaction's and are put back after the query.
    """
    with planner_settings(conn, PROBE_SETTINGS):
        return conn.execute(sa.text(probe_elsewhere_sql(table)), params).all()


def probe_elsewhere_sql(table: str) -> str:
    """The PostgreSQL repeat lookup of ``table`` (quoted): ``:hour``'s ids in ``[:since, :until)``.

    ``+ interval '0 hours'`` keeps the span out of the ``partition_hour`` index's reach.
    """
    return (
        f"SELECT DISTINCT t.prediction_id FROM {table} AS h JOIN {table} AS t "
        "ON t.prediction_id = h.prediction_id WHERE h.partition_hour = :hour "
        "AND t.partition_hour <> :hour "
        "AND t.partition_hour + interval '0 hours' >= :since "
        "AND t.partition_hour + interval '0 hours' < :until"
    )


@contextmanager
def planner_settings(conn: sa.Connection, settings: dict[str, str]) -> Iterator[None]:
    """PostgreSQL ``settings`` for the statements of the block, in this transaction only.

    One statement reads the current values, one sets the new ones, one puts the old back.
    """
    if not settings:
        yield
        return
    names = list(settings)
    saved = dict(
        conn.execute(
            sa.text("SELECT n, current_setting(n) FROM unnest(CAST(:names AS text[])) AS n"),
            {"names": names},
        ).all()
    )
    _set_locally(conn, settings)
    try:
        yield
    finally:
        _set_locally(conn, saved)


def _set_locally(conn: sa.Connection, settings: dict[str, str]) -> None:
    conn.execute(
        sa.text(
            "SELECT set_config(n, v, true) "
            "FROM unnest(CAST(:names AS text[]), CAST(:values AS text[])) AS s(n, v)"
        ),
        {"names": list(settings), "values": list(settings.values())},
    )


def _load_stream(
    warehouse: Warehouse,
    model: ModelConfig,
    loads: list[_Hour],
    direct: bool,
    chunk_bytes: int,
    group_bytes: int,
    parse_many: "_ParseMany",
    redo: Callable[[_Hour, "_Redo"], None] | None = None,
) -> list[_Tally]:
    """One stream's hours: directly where DuckDB can (``_load_hours``), else parsed in chunks."""
    general = partial(
        _load_parsed,
        warehouse,
        model,
        chunk_bytes=chunk_bytes,
        group_bytes=group_bytes,
        redo=redo,
        parse_many=parse_many,
    )
    return _load_hours(warehouse, model, loads, general, direct)


def load_prediction_hour(
    warehouse: Warehouse,
    model: ModelConfig,
    logs_root: Path,
    hour: dt.datetime,
    chunk_bytes: int = CHUNK_BYTES,
    direct: bool = True,
) -> IngestResult:
    """Replace one hour's raw predictions and quarantined lines (see ``load_prediction_hours``)."""
    return load_prediction_hours(warehouse, model, logs_root, [hour], chunk_bytes, direct=direct)[0]


def load_prediction_hours(
    warehouse: Warehouse,
    model: ModelConfig,
    logs_root: Path,
    hours: list[dt.datetime],
    chunk_bytes: int = CHUNK_BYTES,
    group_bytes: int = GROUP_BYTES,
    direct: bool = True,
) -> list[IngestResult]:
    """Replace each hour's raw predictions and quarantined lines with what its files hold.

    The files are read and written in chunks of about ``chunk_bytes`` (memory stays bounded
    whatever the hour's size), parsed one chunk ahead of the writes, and consecutive hours are
    written in one transaction until their files hold ``group_bytes``. An hour without files
    writes nothing and reports zero files, so reruns after files appear pick them up; the
    hourly aggregates still record the hour with zero volume.

    Repeated ids are found once an hour is written (in the warehouse, before the next hour and
    the commit). They are rare: then the transaction is rolled back and its hours loaded again,
    that hour knowing them, so that each repeat is quarantined with its file, line and text. An
    id stored in another hour is quarantined in every copy; an id repeated within the hour
    keeps its first copy. The result is that of loading the hours one by one, in order.
    """
    schema = raw_predictions_table(model)
    loads = []
    for hour in hours:
        files, skipped = _log_files(logs_root, PREDICTIONS, model, hour)
        known = _PredictionChunks(model, hour)
        loads.append(_Hour(PREDICTIONS, hour, files, skipped, schema, known.parse, known.check))

    def redo(load: _Hour, again: _Redo) -> None:
        # What the earlier attempts knew, plus what this one found.
        known = _PredictionChunks(model, load.hour, again.elsewhere, again.duplicated)
        load.parse, load.check, load.fresh = known.parse, known.check, False

    def parse_many(small: list[tuple[_Hour, list[Part]]]):
        batches = parse_clean_hours(PREDICTIONS, model, [(h.hour, parts) for h, parts in small])
        return None if batches is None else [None if b is None else (b, b.rows) for b in batches]

    tallies = _load_stream(
        warehouse, model, loads, direct, chunk_bytes, group_bytes, parse_many, redo
    )
    return [
        _result(warehouse, PREDICTIONS, load.hour, tally, schema, load.skipped)
        for load, tally in zip(loads, tallies, strict=True)
    ]


def load_label_hour(
    warehouse: Warehouse,
    model: ModelConfig,
    logs_root: Path,
    hour: dt.datetime,
    chunk_bytes: int = CHUNK_BYTES,
    direct: bool = True,
) -> IngestResult:
    """Replace the labels that arrived in ``hour`` (see ``load_label_hours``)."""
    return load_label_hours(warehouse, model, logs_root, [hour], chunk_bytes, direct=direct)[0]


def load_label_hours(
    warehouse: Warehouse,
    model: ModelConfig,
    logs_root: Path,
    hours: list[dt.datetime],
    chunk_bytes: int = CHUNK_BYTES,
    group_bytes: int = GROUP_BYTES,
    direct: bool = True,
) -> list[IngestResult]:
    """Replace the labels that arrived in each hour (and their quarantined lines), by chunks.

    Each result names the days of the predictions its labels belong to, so that their
    performance partitions can be refreshed.
    """
    schema = raw_labels_table(model)
    loads = []
    for hour in hours:
        files, skipped = _log_files(logs_root, LABELS, model, hour)
        loads.append(_Hour(LABELS, hour, files, skipped, schema, _label_parser(model, hour)))

    def parse_many(small: list[tuple[_Hour, list[Part]]]):
        batches = parse_clean_hours(LABELS, model, [(h.hour, parts) for h, parts in small])
        if batches is None:
            return None
        pairs = zip(batches, small, strict=True)
        return [None if b is None else (b, _hour_column(b.rows, h.hour)) for b, (h, _) in pairs]

    tallies = _load_stream(warehouse, model, loads, direct, chunk_bytes, group_bytes, parse_many)
    results = [
        _result(warehouse, LABELS, load.hour, tally, schema, load.skipped)
        for load, tally in zip(loads, tallies, strict=True)
    ]
    days = _prediction_days(warehouse, model, [r.hour for r in results if r.rows])
    return [replace(r, prediction_days=days.get(r.hour, ())) for r in results]


def _label_parser(model: ModelConfig, hour: dt.datetime):
    def parse(
        parts: list[Part], one_pass_only: bool = False
    ) -> tuple[ParsedBatch, pa.Table] | None:
        batch = parse_label_files(parts, model, hour, one_pass_only=one_pass_only)
        return None if batch is None else (batch, _hour_column(batch.rows, hour))

    return parse


def _hour_column(rows: pa.Table, hour: dt.datetime) -> pa.Table:
    """Label rows with the arrival hour they are stored under."""
    return _with_constant(rows, "partition_hour", hour, pa.timestamp("us"))


def _prediction_days(
    warehouse: Warehouse, model: ModelConfig, hours: list[dt.datetime]
) -> dict[dt.datetime, tuple[str, ...]]:
    """The UTC days of the predictions the labels of each arrival hour belong to (one query)."""
    if not hours or not warehouse.table_exists(raw_predictions_table(model).name):
        return {}
    found = warehouse.query_df(
        "SELECT DISTINCT l.partition_hour AS hour, "
        "CAST(date_trunc('day', p.partition_hour) AS DATE) AS day "
        f'FROM "{raw_labels_table(model).name}" AS l '
        f'JOIN "{raw_predictions_table(model).name}" AS p ON p.prediction_id = l.prediction_id '
        "WHERE l.partition_hour >= :first AND l.partition_hour <= :last ORDER BY 1, 2",
        {"first": min(hours), "last": max(hours)},
    )
    wanted = set(hours)
    days: dict[dt.datetime, tuple[str, ...]] = {}
    for row in found.itertuples():
        hour = row.hour.to_pydatetime()
        if hour in wanted:
            days[hour] = (*days.get(hour, ()), str(row.day)[:10])
    return days
