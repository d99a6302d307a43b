"""A faster SQLite event log for the embedded Dagster instance (``dagster_home/dagster.yaml``).

Dagster's ``ConsolidatedSqliteEventLogStorage`` opens a new SQLAlchemy engine with ``NullPool``
for every connection. Each of the four or so connections an event needs then recompiles its
SQL (every engine has its own compiled cache) and, on close, makes SQLite checkpoint the WAL.
Measured on the 2-core machine: about 17 ms of CPU per event, so a ranged backfill of 720
hours with nine assets and five checks spent 220 s in the event log. Keeping one engine per
process with a connection pool brings it to the in-memory instance's cost (about 4 ms).

Safe for the processes of an instance: SQLite in WAL mode serves one writer and many readers
across processes; each process has its own pool (Dagster starts runs and code servers as new
processes, never by forking a process that holds connections).

Batches: a ranged run's materialisations of one asset (one event per partition) reach the
instance as a batch when ``DAGSTER_EVENT_BATCH_SIZE`` is set (the in-process runner sets it,
``modelmon_dagster/runner.py``); they are then stored on one connection in one transaction, a
commit per batch instead of several per event. If the batch fails, Dagster stores its events
one by one.

Schema look-ups: Dagster's SQLite storage asks whether a table exists (``has_table``, a new
engine each time) for every asset event with tags and every check evaluation, and reflects the
asset-key table's columns for every materialisation. Tables and columns are only ever added (by
migrations), so a positive answer is remembered for the life of the storage object. Measured in a
profiled 10-day backfill (cProfile, wall time on the loaded machine): 47 s of 745 (6 %) went to
these look-ups.

Durability: ``synchronous=NORMAL`` (SQLite's recommended setting with WAL): commits are synced
at checkpoints, not one by one. An application crash loses nothing; a power cut may roll back
the last events, never corrupt the file. Measured on the loaded 2-core machine: a ranged run of
730 events took 30 s with a sync per commit, 11-14 s without. Production instances use
PostgreSQL (``deploy/``).
"""

import threading
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._core.storage.event_log.schema import AssetKeyTable
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


def _wal_normal_sync(dbapi_connection, _record) -> None:
    # In WAL mode, synchronous=NORMAL syncs at checkpoints instead of every commit: a crash of
    # the application loses nothing, a power cut may lose the last commits (never corrupts).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """``ConsolidatedSqliteEventLogStorage`` with one pooled engine per process."""

    _engine: sa.Engine | None = None

    def _pooled_engine(self) -> sa.Engine:
        if self._engine is None:
            engine = sa.create_engine(
                self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
            sa.event.listen(engine, "connect", _wal_normal_sync)
            self._engine = engine
        return self._engine

    def _batch_state(self) -> threading.local:
        if "_batch" not in self.__dict__:
            self._batch = threading.local()
        return self._batch

    @contextmanager
    def _connect(self):
        shared = getattr(self._batch_state(), "conn", None)
        if shared is not None:  # inside store_event_batch: its connection and transaction
            yield shared
            return
        with self._pooled_engine().connect() as conn:
            with conn.begin():
                yield conn

    def _known(self) -> set:
        if "_known_schema" not in self.__dict__:
            self._known_schema = set()
        return self._known_schema

    def has_table(self, table_name: str) -> bool:
        """Whether the table exists; once found, remembered (tables are never dropped)."""
        if table_name in self._known():
            return True
        found = super().has_table(table_name)
        if found:
            self._known().add(table_name)
        return found

    def _has_asset_key_index_cols_on_connection(self, conn) -> bool:
        """Whether the asset-key table has its index columns; once found, remembered."""
        if "asset_key_index_cols" in self._known():
            return True
        found = super()._has_asset_key_index_cols_on_connection(conn)
        if found:
            self._known().add("asset_key_index_cols")
        return found

    def _store_asset_event(self, conn, event, event_id: int) -> None:
        """Dagster's upsert of the asset's row, update first; in a batch, once per asset.

        Dagster inserts and, when the key exists (every event after an asset's first), catches
        the integrity error and updates: two statements and an exception per event. Updating
        first, then inserting where no row was updated, writes the same row.

        Each kind of asset event sets the same columns of the row every time, so after a batch
        the row holds, per column, the value of the batch's last event setting it: only the
        last event of each kind matters, and the row is written once at the end of the batch
        (a ranged run's batch holds an asset's materialisation of every partition).
        """
        if not (event.dagster_event and event.dagster_event.asset_key):
            return
        pending = getattr(self._batch_state(), "asset_rows", None)
        if pending is not None:
            kinds = pending.setdefault(event.dagster_event.asset_key, {})
            kinds.pop(event.dagster_event_type, None)  # re-inserted last: dicts keep order
            kinds[event.dagster_event_type] = (event, event_id)
            return
        self._upsert_asset_row(conn, [(event, event_id)])

    def _upsert_asset_row(self, conn, events) -> None:
        """Set the asset's row from ``events`` (of one asset), later events winning."""
        index_cols = self._has_asset_key_index_cols_on_connection(conn)
        values = {}
        for event, event_id in events:
            values |= self._get_asset_entry_values(event, event_id, index_cols)
        if not values:
            return
        key = events[-1][0].dagster_event.asset_key.to_string()
        update = AssetKeyTable.update().values(**values).where(AssetKeyTable.c.asset_key == key)
        if conn.execute(update).rowcount:
            return
        try:
            conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))
        except sa.exc.IntegrityError:  # inserted meanwhile by another process (as Dagster does)
            conn.execute(update)

    def store_event_batch(self, events) -> None:
        """Store ``events`` in one transaction (all or none of them)."""
        state = self._batch_state()
        if getattr(state, "conn", None) is not None:
            for event in events:
                self.store_event(event)
            return
        with self._pooled_engine().connect() as conn:
            with conn.begin():
                state.conn, state.asset_rows = conn, {}
                try:
                    for event in events:
                        self.store_event(event)
                    for kinds in state.asset_rows.values():
                        self._upsert_asset_row(conn, list(kinds.values()))
                finally:
                    state.conn, state.asset_rows = None, None

    def dispose(self) -> None:
        """Close pooled connections, then what the parent holds."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        super().dispose()
