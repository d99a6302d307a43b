"""Regression tests: concurrent writers of one window on PostgreSQL (issue 9, item 5).

Before the fix, two runs of the same hour at once each deleted nothing the other had written
and both inserted (rows doubled, both runs reported success), and two runs creating a table in
a fresh schema failed with ``UniqueViolation ... pg_type_typname_nsp_index``.
"""

import datetime as dt
import json
import threading

import pytest
from factories import write_hour

from modelmon_dagster.ingest import load as ingest_load
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.ingest.tables import raw_predictions_table
from modelmon_dagster.logformat import PREDICTIONS, hour_folder
from modelmon_dagster.warehouse import TableSchema, Warehouse

pytestmark = pytest.mark.postgres

SCHEMA = TableSchema("race", (("k", "BIGINT"), ("v", "BIGINT")))
# Slow enough (0.3 s between delete and commit) that two writers started together overlap.
SLOW_INSERT = "SELECT :k, g FROM generate_series(1, 100) AS g, (SELECT pg_sleep(0.3)) AS s"


def run_together(*calls):
    """Run the calls in threads released at the same instant; re-raise the first error."""
    barrier = threading.Barrier(len(calls))
    errors, results = [], [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def slow_replace(wh: Warehouse, k: int) -> int:
    return wh.replace_rows(SCHEMA, "k = :k", {"k": k}, insert_sql=SLOW_INSERT)


def test_two_writers_creating_one_table_in_a_fresh_schema_both_succeed(postgres_schema_url):
    writers = [Warehouse(postgres_schema_url) for _ in range(2)]
    try:
        assert run_together(*(lambda wh=wh: slow_replace(wh, 1) for wh in writers)) == [100, 100]
    finally:
        for wh in writers:
            wh.dispose()


def test_two_writers_of_one_window_never_double_rows(postgres_schema_url):
    writers = [Warehouse(postgres_schema_url) for _ in range(2)]
    writers[0].ensure_schema(SCHEMA)
    try:
        for _ in range(2):
            counts = run_together(
                *(
                    lambda wh=wh: wh.replace_rows(
                        SCHEMA, "k = :k", {"k": 1}, insert_sql=SLOW_INSERT
                    )
                    for wh in writers
                )
            )
            assert counts == [100, 100]
            assert writers[0].scalar("SELECT count(*) FROM race WHERE k = 1") == 100
        # Other windows do not wait for each other's lock.
        run_together(
            *(
                lambda wh=wh, k=k: wh.replace_rows(
                    SCHEMA, "k = :k", {"k": k}, insert_sql=SLOW_INSERT
                )
                for k, wh in zip((2, 3), writers, strict=True)
            )
        )
        assert writers[0].scalar("SELECT count(*) FROM race") == 300
    finally:
        for wh in writers:
            wh.dispose()


def test_two_ingestions_of_the_same_hour_store_it_once(postgres_schema_url, tmp_path, fraud):
    hour = dt.datetime(2026, 11, 16, 10)
    write_hour(tmp_path, fraud, hour, 3000)
    writers = [Warehouse(postgres_schema_url) for _ in range(2)]
    try:
        for _ in range(2):
            results = run_together(
                *(lambda wh=wh: load_prediction_hour(wh, fraud, tmp_path, hour) for wh in writers)
            )
            assert [r.rows for r in results] == [3000, 3000]
            stored = writers[0].scalar(
                "SELECT count(*) FROM fraud_detector__raw_predictions WHERE partition_hour = :h",
                {"h": hour},
            )
            assert stored == 3000
    finally:
        for wh in writers:
            wh.dispose()


def test_a_new_id_in_two_hours_loaded_at_once_is_kept_once(
    postgres_schema_url, tmp_path, fraud, monkeypatch
):
    # Regression (session 21): each load's repeat lookup ran before the other had committed,
    # saw nothing, and both kept the id (README: "not yet guaranteed"). Both loads here have
    # written their rows when either looks up its repeats; the second lookup must wait for the
    # first commit and quarantine its copy.
    hours = [dt.datetime(2026, 11, 16, 10), dt.datetime(2026, 11, 16, 11)]
    for i, hour in enumerate(hours):
        records = write_hour(tmp_path, fraud, hour, 50, seed=i)
        records[7]["prediction_id"] = "shared-id"
        folder = hour_folder(tmp_path, PREDICTIONS, fraud.name, hour)
        for path in folder.iterdir():
            path.unlink()
        (folder / "w.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    both_written = threading.Barrier(2, timeout=30)
    waited = set()
    lookup = ingest_load._repeated_ids

    def after_both_wrote(conn, model, hour, chunks_read):
        if hour not in waited:  # the first attempt only (a reload after a repeat goes on)
            waited.add(hour)
            both_written.wait()
        return lookup(conn, model, hour, chunks_read)

    monkeypatch.setattr(ingest_load, "_repeated_ids", after_both_wrote)
    writers = [Warehouse(postgres_schema_url) for _ in range(2)]
    writers[0].ensure_schema(raw_predictions_table(fraud))
    try:
        results = run_together(
            *(
                lambda wh=wh, h=h: load_prediction_hour(wh, fraud, tmp_path, h)
                for wh, h in zip(writers, hours, strict=True)
            )
        )
        assert sorted((r.rows, r.quarantined) for r in results) == [(49, 1), (50, 0)]
        table = raw_predictions_table(fraud).name
        kept = f"SELECT count(*) FROM {table} WHERE prediction_id = 'shared-id'"
        assert writers[0].scalar(kept) == 1
    finally:
        for wh in writers:
            wh.dispose()
