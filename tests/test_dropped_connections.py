"""PostgreSQL drops a run's connections mid-write (issue #14, item 5).

A real hourly run (ingestion, then the hourly aggregates) writes a fresh PostgreSQL database.
Another connection holds a lock on one of the hour's tables, so the run's write stops inside
its transaction, with earlier tables of the step already written; then it terminates every
connection of that database but its own (``pg_terminate_backend``, what a server restart does
to a run) and releases the lock. With the warehouse retry policy the step is retried and the run
succeeds; without it the run fails, and every table holds either the hour completely or not at
all. Either way, the final tables equal those of a run that nothing disturbed. Only this test's
own database is touched: the shared server keeps running.
"""

import dataclasses
import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa
from factories import write_hour, write_reference
from pipeline import Pipeline, only
from tables import same_rows, snapshot

from modelmon_dagster.config import WarehouseRetry
from modelmon_dagster.defs.jobs import job_name
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings
from modelmon_dagster.warehouse import Warehouse

pytestmark = pytest.mark.postgres

DAY = dt.datetime(2026, 11, 16)
FIRST, SECOND = DAY + dt.timedelta(hours=3), DAY + dt.timedelta(hours=4)
LOCKED = "hourly_prediction_stats"  # the fourth of the hour's six SQL models
RELATIVE = 1e-12  # the rerun guarantee (tests/test_rerun_guarantee.py)


class ConnectionDropper(threading.Thread):
    """Lock ``table``; once a statement waits for it, terminate the database's other connections."""

    def __init__(self, url: str, table: str):
        super().__init__(daemon=True)
        self.url, self.table = url, table
        self.locked = threading.Event()
        self.terminated: list[int] = []
        self.error: BaseException | None = None

    def run(self):
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'LOCK TABLE "{self.table}" IN ACCESS EXCLUSIVE MODE'))
                self.locked.set()
                deadline = time.monotonic() + 120
                while not self._waiting(conn):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no statement waited for {self.table}")
                    time.sleep(0.05)
                # the pids first, then one by one: only this database's other connections
                self.terminated = list(
                    conn.execute(
                        sa.text(
                            "SELECT pid FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    ).scalars()
                )
                for pid in self.terminated:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                conn.commit()  # releases the lock
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.locked.set()
        finally:
            engine.dispose()

    @staticmethod
    def _waiting(conn) -> int:
        """Connections of this database waiting for a lock."""
        # pg_stat_activity is read once per transaction unless its snapshot is cleared
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
        ).scalar()


@pytest.fixture
def data_dir(tmp_path, fraud):
    data = tmp_path / "data"
    write_reference(
        data / fraud.baseline.reference_predictions,
        fraud,
        2000,
        labels_path=data / fraud.baseline.reference_labels,
    )
    for hour in (FIRST, SECOND):
        write_hour(data / "logs", fraud, hour, 3000, seed=13)
    return data


def pipeline_on(url: str, data_dir, demo_config, max_retries: int) -> Pipeline:
    config = dataclasses.replace(
        only(demo_config, "fraud_detector"),
        warehouse_retry=WarehouseRetry(max_retries=max_retries, delay_seconds=0.5),
    )
    settings = Settings(
        config_path=PROJECT_ROOT / "config" / "models.yaml", data_dir=data_dir, warehouse_url=url
    )
    return Pipeline(config, settings)


@pytest.fixture
def undisturbed(postgres_schema_url, data_dir, demo_config):
    """The tables of a run nothing disturbed: after the first hour, and after both."""
    pipeline = pipeline_on(postgres_schema_url, data_dir, demo_config, max_retries=0)
    wh = Warehouse(postgres_schema_url)
    try:
        pipeline.baseline()
        pipeline.hour(FIRST)
        after_first = snapshot(wh)
        pipeline.hour(SECOND)
        return after_first, snapshot(wh)
    finally:
        wh.dispose()


def assert_same(tables: dict, expected: dict) -> None:
    assert tables.keys() == expected.keys()
    for name in expected:
        same_rows(name, expected[name], tables[name], RELATIVE)


def run_second_hour_dropping_connections(pipeline: Pipeline, url: str):
    """The second hour's run, its connections terminated while it waits inside a write."""
    dropper = ConnectionDropper(url, LOCKED)
    dropper.start()
    assert dropper.locked.wait(60) and dropper.error is None, dropper.error
    result = pipeline.run(
        job_name("fraud_detector", "hourly"),
        SECOND.strftime("%Y-%m-%d-%H:%M"),
        raise_on_error=False,
    )
    dropper.join(60)
    assert dropper.error is None, dropper.error
    assert dropper.terminated, "the run's connections were not terminated"
    return result


def test_a_dropped_connection_is_retried_and_the_tables_equal_an_undisturbed_run(
    fresh_database, data_dir, demo_config, undisturbed
):
    url = fresh_database.render_as_string(hide_password=False)
    pipeline = pipeline_on(url, data_dir, demo_config, max_retries=2)
    pipeline.baseline()
    pipeline.hour(FIRST)
    result = run_second_hour_dropping_connections(pipeline, url)
    assert result.success
    retried = [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == ["fraud_detector__hourly_aggregates"]
    wh = Warehouse(url)
    try:
        assert_same(snapshot(wh), undisturbed[1])
    finally:
        wh.dispose()


def test_without_retries_the_run_fails_leaving_no_partial_rows_and_a_rerun_repairs_it(
    fresh_database, data_dir, demo_config, undisturbed
):
    after_first, after_both = undisturbed
    url = fresh_database.render_as_string(hide_password=False)
    pipeline = pipeline_on(url, data_dir, demo_config, max_retries=0)
    pipeline.baseline()
    pipeline.hour(FIRST)
    result = run_second_hour_dropping_connections(pipeline, url)
    assert not result.success
    wh = Warehouse(url)
    try:
        tables = snapshot(wh)
        # every table holds the second hour completely (written before the drop) or not at all
        written = set()
        for name, rows in tables.items():
            before = after_first.get(name)
            if before is not None and len(rows) == len(before):
                same_rows(name, before, rows, RELATIVE)
            else:
                same_rows(name, after_both[name], rows, RELATIVE)
                written.add(name)
        assert "fraud_detector__raw_predictions" in written  # the ingestion step had finished
        assert LOCKED not in written  # the write that was cut off left nothing
        pipeline.hour(SECOND)  # the rerun
        assert_same(snapshot(wh), after_both)
    finally:
        wh.dispose()
