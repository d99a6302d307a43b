"""A bulk write on PostgreSQL refreshes the planner's statistics at once.

Regression (found by ``bench/bench_scale.py``): a backfill queried rows seconds after writing
them, before autovacuum had analysed the table; planned for an empty table, the daily label
join of ``daily_score_histogram`` ran as a nested loop and took minutes for 30k predictions.
"""

import datetime as dt
import json

import pyarrow as pa
import pytest
import sqlalchemy as sa
from factories import write_hour, write_labels

from modelmon_dagster.ingest.load import (
    load_label_hour,
    load_prediction_hour,
    load_prediction_hours,
)
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.warehouse import ANALYZE_AFTER_ROWS, Replacement, TableSchema, Warehouse

SCHEMA = TableSchema("stats_probe", (("partition_hour", "INTEGER"), ("v", "DOUBLE PRECISION")))


def _reltuples(warehouse: Warehouse) -> float:
    return warehouse.scalar(
        "SELECT c.reltuples FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE c.relname = 'stats_probe' AND n.nspname = current_schema()"
    )


def _replace(warehouse: Warehouse, hour: int, rows: int) -> None:
    table = pa.table({"partition_hour": [hour] * rows, "v": [float(i) for i in range(rows)]})
    warehouse.replace_rows(SCHEMA, "partition_hour = :h", {"h": hour}, rows=table)


@pytest.mark.postgres
def test_a_large_write_is_analysed_and_a_small_one_is_not(postgres_schema_url):
    warehouse = Warehouse(postgres_schema_url)
    try:
        _replace(warehouse, 0, ANALYZE_AFTER_ROWS - 1)
        assert _reltuples(warehouse) == -1  # never analysed: the planner guesses
        _replace(warehouse, 1, 5 * ANALYZE_AFTER_ROWS)
        assert _reltuples(warehouse) == 6 * ANALYZE_AFTER_ROWS - 1
        plan = warehouse.scalar(
            "EXPLAIN (FORMAT JSON) SELECT * FROM stats_probe WHERE partition_hour = 1"
        )
        assert plan[0]["Plan"]["Plan Rows"] == 5 * ANALYZE_AFTER_ROWS
    finally:
        warehouse.dispose()


@pytest.mark.postgres
def test_a_chunked_write_is_analysed_as_a_whole(postgres_schema_url):
    # ingestion writes an hour chunk by chunk: the chunks together count, not each one
    warehouse = Warehouse(postgres_schema_url)
    chunk = pa.table({"partition_hour": [2] * 400, "v": [float(i) for i in range(400)]})
    try:
        with warehouse.replacing([Replacement(SCHEMA, "partition_hour = :h", {"h": 2})]) as out:
            for _ in range(5):
                out.insert(SCHEMA, chunk)
        assert _reltuples(warehouse) == 2000
    finally:
        warehouse.dispose()


@pytest.mark.postgres
def test_one_hour_of_a_grown_raw_table_is_read_through_its_hour_index(
    postgres_schema_url, fraud, tmp_path
):
    # Regression: raw tables had no partition_hour index on PostgreSQL, so every hourly query
    # and every hour's delete scanned all stored days (10M rows: 1.7-3.3 s an hour instead of
    # 20-70 ms; bench/bench_history.py). Here 48 hours are ingested for real; the plan for one
    # hour, and for the delete of one hour, must use the index, on predictions and on labels.
    warehouse = Warehouse(postgres_schema_url)
    start = dt.datetime(2026, 11, 1)
    try:
        for h in range(48):
            hour = start + dt.timedelta(hours=h)
            records = write_hour(tmp_path, fraud, hour, 60, seed=h)
            write_labels(tmp_path, fraud, hour, {r["prediction_id"]: "0" for r in records})
            load_prediction_hour(warehouse, fraud, tmp_path, hour)
            load_label_hour(warehouse, fraud, tmp_path, hour)
        for table in (raw_predictions_table(fraud).name, raw_labels_table(fraud).name):
            with warehouse.transaction() as conn:
                conn.execute(sa.text(f'ANALYZE "{table}"'))
            hour = "timestamp '2026-11-02 05:00'"
            for statement in (
                f'SELECT * FROM "{table}" WHERE partition_hour >= {hour} '
                f"AND partition_hour < {hour} + interval '1 hour'",
                f'DELETE FROM "{table}" WHERE partition_hour = {hour}',
            ):
                plan = warehouse.scalar(f"EXPLAIN (FORMAT JSON) {statement}")
                assert f"{table}__partition_hour__idx" in json.dumps(plan), (statement, plan)
    finally:
        warehouse.dispose()


@pytest.mark.postgres
def test_a_ranged_load_analyses_after_its_first_group_and_once_at_the_end(
    postgres_schema_url, fraud, tmp_path
):
    # Regression (issue 14, item 4): every group of a ranged run was analysed, 3.9 of 16 s of
    # a 1M-row day. Now after the first group (the table may have been empty) and at the end.
    warehouse = Warehouse(postgres_schema_url)
    hours = [dt.datetime(2026, 11, 16, h) for h in range(4)]
    for h, hour in enumerate(hours):
        write_hour(tmp_path, fraud, hour, ANALYZE_AFTER_ROWS + 100, seed=h)
    analysed = []

    @sa.event.listens_for(warehouse.engine, "before_cursor_execute")
    def _note(conn, cursor, statement, *args):
        if statement.startswith("ANALYZE"):
            analysed.append(statement)

    try:
        one_hour = sum(f.stat().st_size for f in tmp_path.rglob("*.jsonl")) // 4
        loaded = load_prediction_hours(warehouse, fraud, tmp_path, hours, group_bytes=one_hour)
        table = raw_predictions_table(fraud).name
        assert analysed == [f'ANALYZE "{table}"'] * 2
        rows = sum(r.rows for r in loaded)
        assert warehouse.scalar(f"SELECT reltuples FROM pg_class WHERE relname = '{table}'") == rows
    finally:
        warehouse.dispose()
