"""Ingestion keeps PostgreSQL's planner statistics of the raw tables fresh.

Regression: with autovacuum off (as on the test server) or behind a backfill, the raw tables
had no statistics; the planner estimated one prediction in a day and joined the day's labels by
nested loop, and the daily performance counts of a simulated day took minutes on PostgreSQL.
"""

import datetime as dt

import pytest
from factories import write_hour

from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.warehouse import Warehouse

DAY = dt.datetime(2026, 11, 16)


def planner_rows(wh: Warehouse, table: str) -> float:
    return wh.scalar("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)", {"t": table})


@pytest.mark.postgres
def test_raw_tables_are_analysed_as_they_grow_by_a_tenth(postgres_schema_url, tmp_path, fraud):
    table = "fraud_detector__raw_predictions"
    wh = Warehouse(postgres_schema_url)
    try:
        sizes = {0: 2000, 1: 2000, 2: 100}
        for h, n in sizes.items():
            write_hour(tmp_path, fraud, DAY + dt.timedelta(hours=h), n)
        load_prediction_hour(wh, fraud, tmp_path, DAY)
        assert planner_rows(wh, table) == 2000  # a new table: analysed
        load_prediction_hour(wh, fraud, tmp_path, DAY + dt.timedelta(hours=1))
        assert planner_rows(wh, table) == 4000  # grew by half
        load_prediction_hour(wh, fraud, tmp_path, DAY + dt.timedelta(hours=2))
        assert planner_rows(wh, table) == 4000  # 100 rows more: under a tenth, not analysed
        assert wh.refresh_statistics(table, 500) is True
        assert planner_rows(wh, table) == 4100
    finally:
        wh.dispose()


def test_duckdb_needs_no_statistics_refresh(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    try:
        assert wh.refresh_statistics("anything", 10_000) is False
    finally:
        wh.dispose()
