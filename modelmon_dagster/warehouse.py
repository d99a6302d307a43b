"""The warehouse: one SQLAlchemy URL, an embedded DuckDB file by default or PostgreSQL.

No Dagster here. Everything that writes goes through :meth:`Warehouse.replace_rows`, which
deletes exactly one partition's rows and inserts the new ones in a single transaction, so a rerun
leaves the same table and a failed write leaves the previous partition intact.
"""

import io
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from modelmon_dagster.copy_read import read_copy_batches
from modelmon_dagster.copy_write import binary_copy

# Portable column types (DESIGN.md: DOUBLE PRECISION, not DOUBLE).
PORTABLE_TYPES = frozenset(
    {"VARCHAR", "DOUBLE PRECISION", "BIGINT", "INTEGER", "BOOLEAN", "TIMESTAMP", "DATE"}
)
# A PostgreSQL table that receives this many rows in one replacement is analysed at once.
ANALYZE_AFTER_ROWS = 1_000


@dataclass(frozen=True, eq=False)
class CopyReady:
    """Rows already encoded as one PostgreSQL ``COPY`` stream (``Warehouse.ready_for_copy``).

    Encoding is a third of the client's work in a PostgreSQL load: done where the rows are
    parsed (a thread ahead of the writes), the writing thread only sends bytes.
    """

    rows: pa.Table  # in the schema's column order
    pieces: tuple[bytes, ...]
    form: str  # "binary" or "csv"

    @property
    def num_rows(self) -> int:
        """Rows encoded (as ``pa.Table.num_rows``)."""
        return self.rows.num_rows


def quote(identifier: str) -> str:
    """Quote an identifier that was validated upstream (config or code constants)."""
    if not identifier or '"' in identifier or "\x00" in identifier:
        raise ValueError(f"unsafe identifier {identifier!r}")
    return f'"{identifier}"'


@dataclass(frozen=True)
class TableSchema:
    """Name and ordered, typed columns of a warehouse table."""

    name: str
    columns: tuple[tuple[str, str], ...]
    # Columns looked up by value (PostgreSQL gets a b-tree index on each; DuckDB scans).
    indexed: tuple[str, ...] = ()

    def __post_init__(self):
        for col, type_ in self.columns:
            if type_ not in PORTABLE_TYPES:
                raise ValueError(f"{self.name}.{col}: type {type_!r} is not portable")

    @property
    def column_names(self) -> list[str]:
        """Column names in order."""
        return [c for c, _ in self.columns]


@dataclass(frozen=True)
class Replacement:
    """Replace the rows of ``schema`` matching ``where_sql`` by ``rows`` or by ``insert_sql``."""

    schema: TableSchema
    where_sql: str
    params: Mapping[str, Any]
    rows: pa.Table | None = None
    insert_sql: str | None = None
    # Run after the insert, in the same transaction (e.g. drop rows a check blocked).
    cleanup_sql: str | None = None


class ChunkWriter:
    """Inserts rows into partitions being replaced (see :meth:`Warehouse.replacing`).

    PostgreSQL: rows go straight into their tables, inside the replacement's transaction.
    DuckDB: each chunk is committed to a temporary staging table (one per target and set of
    windows), and the windows are published (old rows deleted, staged rows moved) in one
    transaction at the end.
    """

    def __init__(self, warehouse: "Warehouse", conn: sa.Connection, staging: bool = False):
        self._warehouse = warehouse
        self.connection = conn
        self._staging = staging
        self._stages: dict[TableSchema, TableSchema] = {}  # the current windows' staging tables
        self.rows: dict[TableSchema, int] = {}  # rows inserted per target
        # DuckDB: (windows, their check, their staging tables) in the order they were finished.
        self.finished: list[tuple[list, Callable | None, dict]] = []
        self.stage_names: list[str] = []

    def clear(self, replacement: "Replacement") -> None:
        """Start ``replacement``'s window: its old rows go (on DuckDB: when it is published)."""
        if not self._staging:
            self._warehouse._delete(self.connection, replacement)

    def insert(self, schema: TableSchema, rows: pa.Table) -> int:
        """Add ``rows`` to ``schema``'s new partition (committed with the others at the end)."""
        if not self._staging:
            count = self._warehouse.insert_arrow(self.connection, schema, rows)
        else:
            count = self._warehouse.insert_arrow(self.connection, self._stage(schema), rows)
            self.connection.commit()
        self.rows[schema] = self.rows.get(schema, 0) + count
        return count

    def _stage(self, schema: TableSchema) -> TableSchema:
        if schema not in self._stages:
            stage = TableSchema(f"__modelmon_stage_{uuid.uuid4().hex}", schema.columns)
            cols = ", ".join(f"{quote(c)} {t}" for c, t in stage.columns)
            self.stage_names.append(stage.name)
            self.connection.execute(sa.text(f"CREATE TEMP TABLE {quote(stage.name)} ({cols})"))
            self._stages[schema] = stage
        return self._stages[schema]

    def finish(
        self,
        replacements: "list[Replacement]",
        check: Callable[[sa.Connection], None] | None = None,
    ) -> None:
        """The windows' rows are all inserted: run ``check`` once they are in their tables.

        PostgreSQL: now. DuckDB: when the windows are published, in this order, each window's
        check seeing the windows finished before it and the old rows of those after it.
        """
        if not self._staging:
            if check is not None:
                check(self.connection)
            return
        self.finished.append((list(replacements), check, self._stages))
        self._stages = {}


def _duckdb_session(dbapi_connection, _record) -> None:
    """Settings of every DuckDB warehouse connection."""
    # Timestamps without an offset are read as UTC whatever the machine's zone (the log
    # format's rule; ``ingest.direct`` parses logs in the warehouse itself).
    dbapi_connection.execute("SET TimeZone = 'UTC'")
    # A long statement (a day of logs loaded in one) must not draw a progress bar in the logs.
    dbapi_connection.execute("SET enable_progress_bar = false")


# DuckDB's cache and working memory per process (DuckDB's own default is 80% of the RAM). A
# warehouse URL may set another: ``duckdb:///path.duckdb?memory_limit=256MB``.
DUCKDB_MEMORY_LIMIT = "1GB"


def advisory_lock(conn: sa.Connection, key: str) -> None:
    """Hold a PostgreSQL lock named ``key`` until the transaction ends (waits if taken).

    Advisory locks are shared by the whole database: the key names the schema too, so
    warehouses in other schemas of the same database never wait on each other's tables.
    """
    conn.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '|' || :key, 0))"
        ),
        {"key": key},
    )


class Warehouse:
    """A SQL warehouse reached through SQLAlchemy (DuckDB or PostgreSQL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        self.dialect = self.engine.dialect.name
        if self.dialect == "duckdb" and "memory_limit" not in self.engine.url.query:
            self.engine.dispose()
            config = {"memory_limit": DUCKDB_MEMORY_LIMIT}
            self.engine = sa.create_engine(url, future=True, connect_args={"config": config})
        if self.dialect == "duckdb":
            sa.event.listen(self.engine, "connect", _duckdb_session)
        # Schemas this object has already created or extended (DDL checks cost a round trip).
        self._ensured: set[TableSchema] = set()
        self._existing: set[str] = set()
        if self.dialect not in ("duckdb", "postgresql"):
            raise ValueError(f"unsupported warehouse dialect {self.dialect!r} ({url})")

    @classmethod
    def duckdb_file(cls, path: Path) -> "Warehouse":
        """Open (creating if needed) an embedded DuckDB warehouse file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"duckdb:///{path.resolve()}")

    def dispose(self) -> None:
        """Close pooled connections (releases DuckDB's file lock)."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One transaction: committed on success, rolled back on any exception."""
        with self.engine.begin() as conn:
            yield conn

    # -- DDL ---------------------------------------------------------------------------------
    def ensure_schema(self, schema: TableSchema) -> None:
        """Create ``schema``'s table (empty) if it does not exist yet, in its own transaction."""
        if schema not in self._ensured:
            with self.transaction() as conn:
                self.ensure_table(conn, schema)

    def ensure_table(self, conn: sa.Connection, schema: TableSchema) -> None:
        """Create the table if missing and add any column it lacks (new features)."""
        if schema in self._ensured:
            return
        existing = self.table_columns(conn, schema.name)
        indexes = self._missing_indexes(conn, schema)
        if self.dialect == "postgresql" and (set(schema.column_names) - set(existing) or indexes):
            # Two transactions creating one table (or index) at once fail on PostgreSQL
            # (UniqueViolation on pg_type): the second waits here, then sees the table.
            advisory_lock(conn, f"ddl:{schema.name}")
            existing = self.table_columns(conn, schema.name)
            indexes = self._missing_indexes(conn, schema)
        cols = ", ".join(f"{quote(c)} {t}" for c, t in schema.columns)
        if not existing:
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {quote(schema.name)} ({cols})"))
            existing = schema.column_names
        for col, type_ in schema.columns:
            if col not in existing:
                conn.execute(
                    sa.text(f"ALTER TABLE {quote(schema.name)} ADD COLUMN {quote(col)} {type_}")
                )
        for index, col in indexes:
            table = quote(schema.name)
            conn.execute(
                sa.text(f"CREATE INDEX IF NOT EXISTS {quote(index)} ON {table} ({quote(col)})")
            )
        # Remembered only once the transaction commits (a rollback would undo the DDL).
        sa.event.listen(conn, "commit", lambda _conn: self._ensured.add(schema), once=True)

    def _missing_indexes(self, conn: sa.Connection, schema: TableSchema) -> list[tuple[str, str]]:
        """``(index name, column)`` of ``schema.indexed`` not yet built (PostgreSQL only)."""
        if self.dialect != "postgresql" or not schema.indexed:
            return []
        built = {
            r[0]
            for r in conn.execute(
                sa.text(
                    "SELECT indexname FROM pg_indexes "
                    "WHERE tablename = :table AND schemaname = current_schema()"
                ),
                {"table": schema.name},
            )
        }
        wanted = [(f"{schema.name}__{col}__idx", col) for col in schema.indexed]
        return [(name, col) for name, col in wanted if name not in built]

    def table_columns(self, conn: sa.Connection, table: str) -> list[str]:
        """Column names of ``table`` in the current schema (empty if it does not exist)."""
        # information_schema, not SQLAlchemy reflection: duckdb-engine's reflection fails on
        # SQLAlchemy 2.1 (it queries pg_catalog.pg_collation, which DuckDB lacks).
        rows = conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = :table AND table_schema = current_schema() "
                "ORDER BY ordinal_position"
            ),
            {"table": table},
        )
        return [r[0] for r in rows]

    # -- writes ------------------------------------------------------------------------------
    def replace_rows(
        self,
        schema: TableSchema,
        where_sql: str,
        params: Mapping[str, Any],
        rows: pa.Table | None = None,
        insert_sql: str | None = None,
        cleanup_sql: str | None = None,
    ) -> int:
        """Atomically replace the rows selected by ``where_sql`` with new ones.

        Parameters
        ----------
        schema : TableSchema
            Target table (created or extended if needed).
        where_sql : str
            Boolean SQL over the target's columns naming the partition, with ``:name`` params.
        params : mapping
            Bound parameters for ``where_sql`` and ``insert_sql``.
        rows : pyarrow.Table, optional
            New rows, with the schema's columns (extra columns are ignored).
        insert_sql : str, optional
            A ``SELECT`` whose result is inserted instead (work stays in the warehouse).
        cleanup_sql : str, optional
            A statement run after the insert in the same transaction, with the same params.

        Returns
        -------
        int
            Rows inserted.
        """
        return self.replace_many(
            [Replacement(schema, where_sql, params, rows, insert_sql, cleanup_sql)]
        )[0]

    def _lock_windows(self, conn: sa.Connection, replacements: "list[Replacement]") -> None:
        """Serialise writers of the same (table, window) on PostgreSQL.

        Under READ COMMITTED, two concurrent delete-then-insert transactions of one window both
        delete nothing the other wrote and both insert: the rows double. The second writer
        waits here for the first to commit, then deletes its rows. Locks are taken in sorted
        order (then the DDL locks) so that two writers never deadlock. DuckDB needs none: one
        process writes a file at a time.
        """
        if self.dialect != "postgresql":
            return
        keys = set()
        for rep in replacements:
            params = sorted((k, str(v)) for k, v in rep.params.items())
            keys.add(f"{rep.schema.name}|{rep.where_sql}|{params}")
        for key in sorted(keys):
            advisory_lock(conn, key)

    def _prepare(self, conn: sa.Connection, replacements: "list[Replacement]") -> None:
        """Take the windows' locks and create or extend the tables, in ``conn``'s transaction."""
        self._lock_windows(conn, replacements)
        for schema in sorted({rep.schema for rep in replacements}, key=lambda t: t.name):
            self.ensure_table(conn, schema)

    def _delete(self, conn: sa.Connection, rep: "Replacement") -> None:
        conn.execute(
            sa.text(f"DELETE FROM {quote(rep.schema.name)} WHERE {rep.where_sql}"),
            dict(rep.params),
        )

    def replace_many(self, replacements: "list[Replacement]") -> list[int]:
        """Apply several partition replacements in one transaction (all or nothing)."""
        counts = []
        for rep in replacements:
            if (rep.rows is None) == (rep.insert_sql is None):
                raise ValueError("give exactly one of rows or insert_sql")
        with self.transaction() as conn:
            self._prepare(conn, replacements)
            if self.dialect == "postgresql" and any(r.insert_sql for r in replacements):
                # The SQL models aggregate whole windows: hash joins suit them. Without fresh
                # statistics (autovacuum off, or behind an hourly backfill) the planner took
                # the newest day for one row and joined its labels by nested loop: over 3
                # minutes for a simulated day's performance counts, 0.3 s by hash join.
                conn.execute(sa.text("SET LOCAL enable_nestloop = off"))
            for rep in replacements:
                self._delete(conn, rep)
                if rep.rows is not None:
                    counts.append(self.insert_arrow(conn, rep.schema, rep.rows))
                else:
                    cols = ", ".join(quote(c) for c in rep.schema.column_names)
                    result = conn.execute(
                        sa.text(f"INSERT INTO {quote(rep.schema.name)} ({cols}) {rep.insert_sql}"),
                        dict(rep.params),
                    )
                    counts.append(max(result.rowcount, 0))
                if rep.cleanup_sql is not None:
                    removed = conn.execute(sa.text(rep.cleanup_sql), dict(rep.params)).rowcount
                    counts[-1] -= max(removed, 0)
        self._refresh_statistics(replacements, counts)
        return counts

    def _refresh_statistics(self, replacements: "list[Replacement]", counts: list[int]) -> None:
        """``ANALYZE`` the PostgreSQL tables that just received many rows.

        The planner knows a table's size only from its statistics, and autovacuum refreshes
        them a minute or more after a bulk load. A backfill queries the rows it has just
        written within seconds: planned for the empty table it saw last, the daily label join
        ran as a nested loop, quadratic in the day's rows (more than four minutes for 30k
        predictions, never ending at millions). SQL-model writes also plan without nested
        loops (``replace_many``); fresh statistics serve every other query too. ANALYZE
        samples a fixed number of rows, so its cost does not grow with the table.
        """
        rows: dict[str, int] = {}
        for rep, count in zip(replacements, counts, strict=True):
            rows[rep.schema.name] = max(rows.get(rep.schema.name, 0), count)
        self.refresh_statistics(rows)

    def refresh_statistics(self, rows: Mapping[str, int]) -> None:
        """``ANALYZE`` the PostgreSQL tables of ``rows`` (table -> rows written) that got many."""
        if self.dialect != "postgresql":
            return
        names = {name for name, count in rows.items() if count >= ANALYZE_AFTER_ROWS}
        if names:
            with self.transaction() as conn:
                for name in sorted(names):
                    conn.execute(sa.text(f"ANALYZE {quote(name)}"))

    @contextmanager
    def replacing(
        self,
        replacements: "list[Replacement]",
        before_commit: Callable[[sa.Connection], None] | None = None,
        clear: bool = True,
        staged: bool = True,
        analyze: bool = True,
    ) -> Iterator[ChunkWriter]:
        """Replace the replacements' partitions by rows the caller inserts chunk by chunk.

        All or nothing: the new rows replace the old ones in one transaction, in which
        ``before_commit`` runs last (it sees the new rows; raising rolls everything back). If
        the block raises, the previous partitions stay. The replacements carry no rows.

        With ``clear=False`` the caller takes the windows one after another: ``writer.clear``
        before a window's rows, ``writer.finish`` after them (with a check that sees them).
        Several windows written in one transaction then see each other as a window-by-window
        load would: the old rows of the windows not reached yet are still there.

        On PostgreSQL the chunks are copied inside that transaction. DuckDB keeps a
        transaction's own appended rows in memory whatever its ``memory_limit`` (measured:
        +450 MB for 1.2M rows; 1.3 GB peak for a 2M-line hour), so there each chunk is
        committed to a temporary staging table, and the transaction moves the staged rows of
        each window with one ``INSERT ... SELECT`` (which DuckDB writes to disk as it goes).
        A caller that knows its rows are few (``staged=False``) skips the staging: the rows
        go straight into the transaction, as on PostgreSQL (measured: 2 of 11 CPU-s of a 1M-row
        day's ingestion are the staging's second copy).

        ``analyze=False``: the caller refreshes the statistics itself (``refresh_statistics``),
        e.g. once after several transactions into the same tables.
        """
        # Tables first, committed on their own: a rolled-back load must not undo their creation.
        for rep in replacements:
            self.ensure_schema(rep.schema)
        if self.dialect == "postgresql" or not staged:
            with self.transaction() as conn:
                self._prepare(conn, replacements)
                writer = ChunkWriter(self, conn)
                if clear:
                    for rep in replacements:
                        writer.clear(rep)
                yield writer
                if before_commit is not None:
                    before_commit(conn)
            if analyze:
                self._refresh_statistics(
                    replacements, [writer.rows.get(rep.schema, 0) for rep in replacements]
                )
            return
        # One connection throughout: the staging tables are its temporary tables (no WAL, and
        # DuckDB moves them to disk beyond ``memory_limit``).
        with self.engine.connect() as conn:
            writer = ChunkWriter(self, conn, staging=True)
            try:
                yield writer
                if clear:
                    writer.finish(replacements)
                elif writer._stages:
                    raise RuntimeError("rows inserted after the last window was finished")
                self._prepare(conn, replacements)
                for windows, check, stages in writer.finished:
                    for rep in windows:
                        self._delete(conn, rep)
                    for schema, stage in stages.items():
                        cols = ", ".join(quote(c) for c in schema.column_names)
                        conn.execute(
                            sa.text(
                                f"INSERT INTO {quote(schema.name)} ({cols}) "
                                f"SELECT {cols} FROM {quote(stage.name)}"
                            )
                        )
                    if check is not None:
                        check(conn)
                if before_commit is not None:
                    before_commit(conn)
                conn.commit()
            finally:
                conn.rollback()
                for name in writer.stage_names:
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(name)}"))
                conn.commit()

    def ready_for_copy(self, schema: TableSchema, rows: pa.Table) -> "pa.Table | CopyReady":
        """``rows`` for ``insert_arrow`` into ``schema``, encoded now on PostgreSQL.

        For a thread that prepares rows while another writes: ``insert_arrow`` then only sends
        the bytes. DuckDB takes Arrow as it is (the rows come back unchanged).
        """
        if self.dialect != "postgresql" or rows.num_rows == 0:
            return rows
        rows = rows.select(schema.column_names)
        pieces, form = self._copy_stream(schema, rows)
        return CopyReady(rows, tuple(pieces), form)

    @staticmethod
    def _copy_stream(schema: TableSchema, rows: pa.Table) -> tuple[Iterable[bytes], str]:
        """``rows`` (in ``schema``'s order) as ``COPY`` pieces (encoded as read) and format."""
        # Binary where the columns allow it: half the server's CPU of CSV (``copy_write``).
        pieces = binary_copy(rows, schema.columns)
        if pieces is not None:
            return pieces, "binary"
        buffer = io.BytesIO()
        pacsv.write_csv(
            rows, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
        return (buffer.getvalue(),), "csv"

    def insert_arrow(
        self, conn: sa.Connection, schema: TableSchema, rows: "pa.Table | CopyReady"
    ) -> int:
        """Bulk-insert an Arrow table (or rows ``ready_for_copy``) in the caller's transaction."""
        if rows.num_rows == 0:
            return 0
        ready = rows if isinstance(rows, CopyReady) else None
        rows = ready.rows if ready is not None else rows.select(schema.column_names)
        cols = ", ".join(quote(c) for c in schema.column_names)
        driver = conn.connection.driver_connection
        if self.dialect == "duckdb":
            view = "__modelmon_arrow_insert"
            driver.register(view, rows)
            try:
                conn.exec_driver_sql(
                    f"INSERT INTO {quote(schema.name)} ({cols}) SELECT * FROM {view}"
                )
            finally:
                driver.unregister(view)
        else:
            if ready is not None:
                pieces, form = ready.pieces, ready.form
            else:
                pieces, form = self._copy_stream(schema, rows)
            with driver.cursor() as cur:
                with cur.copy(
                    f"COPY {quote(schema.name)} ({cols}) FROM STDIN WITH (FORMAT {form})"
                ) as copy:
                    for piece in pieces:
                        copy.write(piece)
        return rows.num_rows

    # -- reads -------------------------------------------------------------------------------
    def stored_values(
        self,
        table: str,
        column: str,
        values: pa.Array,
        where_sql: str,
        params: Mapping[str, Any],
    ) -> list[str]:
        """Which of ``values`` (strings) occur in ``table.column`` on rows matching ``where_sql``.

        The values travel as one bulk load into a temporary table and one join, so the cost is
        one round trip whatever their number (an index on ``column`` keeps it small on
        PostgreSQL; see ``TableSchema.indexed``).
        """
        if len(values) == 0 or not self.table_exists(table):
            return []
        probe = pa.table({"v": pa.array(values, pa.string())})
        join = (
            f"SELECT DISTINCT t.{quote(column)} FROM {quote(table)} AS t "
            f"JOIN __modelmon_probe AS p ON p.v = t.{quote(column)} WHERE {where_sql}"
        )
        with self.transaction() as conn:
            driver = conn.connection.driver_connection
            if self.dialect == "duckdb":
                driver.register("__modelmon_probe", probe)
                try:
                    return [r[0] for r in conn.execute(sa.text(join), dict(params))]
                finally:
                    driver.unregister("__modelmon_probe")
            conn.exec_driver_sql("CREATE TEMP TABLE __modelmon_probe (v VARCHAR) ON COMMIT DROP")
            buffer = io.BytesIO()
            pacsv.write_csv(probe, buffer, pacsv.WriteOptions(include_header=False))
            with driver.cursor() as cur:
                with cur.copy("COPY __modelmon_probe (v) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buffer.getvalue())
            conn.exec_driver_sql("ANALYZE __modelmon_probe")
            return [r[0] for r in conn.execute(sa.text(join), dict(params))]

    def query_df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run a query and return a DataFrame."""
        with self.engine.connect() as conn:
            result = conn.execute(sa.text(sql), dict(params or {}))
            # Plain tuples: pandas probes each SQLAlchemy Row for attributes (an exception per
            # row and probe), 4x the time of building the same frame from tuples.
            rows = [tuple(row) for row in result.fetchall()]
            return pd.DataFrame(rows, columns=list(result.keys()))

    def read_batches(
        self, schema: TableSchema, column: str, value: Any, batch_rows: int
    ) -> Iterator[pa.Table]:
        """The rows of ``schema`` where ``column = value``, in batches of about ``batch_rows``.

        Streamed, so memory stays bounded by a batch whatever the partition's size: DuckDB's
        Arrow batches; on PostgreSQL ``COPY ... TO STDOUT`` parsed as CSV with the schema's types.
        Batches come in stored order (insertion order on DuckDB, heap order on PostgreSQL).
        """
        if not self.table_exists(schema.name):
            return
        cols = ", ".join(quote(c) for c in schema.column_names)
        select = f"SELECT {cols} FROM {quote(schema.name)} WHERE {quote(column)} = "
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            if self.dialect == "duckdb":
                reader = driver.sql(select + "?", params=[value]).to_arrow_reader(batch_rows)
                for batch in reader:
                    yield pa.Table.from_batches([batch])
                return
            yield from read_copy_batches(driver, schema, select, value, batch_rows)

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run a query returning one value."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), dict(params or {})).scalar()

    def table_exists(self, table: str) -> bool:
        """Whether ``table`` exists (a table once seen is remembered: tables are never dropped)."""
        if table in self._existing:
            return True
        with self.engine.connect() as conn:
            found = bool(self.table_columns(conn, table))
        if found:
            self._existing.add(table)
        return found
