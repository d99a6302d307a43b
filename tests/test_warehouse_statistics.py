"""A bulk write on PostgreSQL refreshes the planner's statistics at once.

Regression (found by ``bench/bench_scale.py``): a backfill queried rows seconds after writing
them, before autovacuum had analysed the table; planned for an empty table, the daily label
join of ``daily_score_histogram`` ran as a nested loop and took minutes for 30k predictions.
"""

import pyarrow as pa
import pytest

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
