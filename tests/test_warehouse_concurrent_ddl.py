"""The PostgreSQL warehouse under concurrent runs: shared tables, schema-named locks, plans.

Regression: with runs in parallel on the PostgreSQL instance, two first writes of a shared
table (``hourly_latency_histogram``) raced in ``CREATE TABLE IF NOT EXISTS`` and one run failed
with a unique violation on ``pg_type``.
"""

import threading

import pytest
import sqlalchemy as sa
from conftest import fresh_schema

from modelmon_dagster.warehouse import TableSchema, Warehouse

WRITERS = 4


@pytest.mark.postgres
def test_concurrent_first_writes_create_a_table_once(postgres_schema_url):
    errors = []
    for round_ in range(5):
        schema = TableSchema(f"shared_{round_}", (("model_name", "VARCHAR"), ("n", "BIGINT")))
        barrier = threading.Barrier(WRITERS)

        def create(schema=schema, barrier=barrier):
            warehouse = Warehouse(postgres_schema_url)
            try:
                barrier.wait()
                warehouse.ensure_schema(schema)
            except Exception as exc:  # collected: a thread's failure must fail the test
                errors.append(exc)
            finally:
                warehouse.dispose()

        threads = [threading.Thread(target=create) for _ in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    warehouse = Warehouse(postgres_schema_url)
    try:
        with warehouse.transaction() as conn:
            assert warehouse.table_columns(conn, "shared_4") == ["model_name", "n"]
    finally:
        warehouse.dispose()


@pytest.mark.postgres
def test_a_table_created_in_another_schema_does_not_wait(postgres_base_url):
    # Regression: the DDL lock was named by the table alone, and advisory locks span the
    # database, so a warehouse creating a table waited for another schema's transaction that
    # had created a table of the same name (a test's fresh schema behind another's long write).
    schema = TableSchema("shared_between_schemas", (("model_name", "VARCHAR"),))
    with fresh_schema(postgres_base_url) as first_url, fresh_schema(postgres_base_url) as other:
        first, second = Warehouse(first_url), Warehouse(other)
        try:
            with first.transaction() as holding:
                first.ensure_table(holding, schema)  # holds the DDL lock until it commits
                with second.transaction() as conn:
                    conn.execute(sa.text("SET LOCAL lock_timeout = '3s'"))
                    second.ensure_table(conn, schema)
                with second.transaction() as conn:
                    assert second.table_columns(conn, schema.name) == ["model_name"]
        finally:
            first.dispose()
            second.dispose()


@pytest.mark.postgres
def test_sql_model_writes_plan_without_nested_loops(postgres_schema_url):
    # Regression: without statistics the planner joined a day's labels by nested loop (minutes
    # for a simulated day's performance counts). The setting holds for the write only.
    schema = TableSchema("planner_setting", (("model_name", "VARCHAR"), ("value", "VARCHAR")))
    warehouse = Warehouse(postgres_schema_url)
    try:
        warehouse.replace_rows(
            schema,
            "model_name = :m",
            {"m": "x"},
            insert_sql="SELECT :m, current_setting('enable_nestloop')",
        )
        assert warehouse.scalar("SELECT value FROM planner_setting") == "off"
        assert warehouse.scalar("SELECT current_setting('enable_nestloop')") == "on"
    finally:
        warehouse.dispose()
