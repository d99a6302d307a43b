"""Rows sent to PostgreSQL as binary ``COPY`` are stored exactly as given (issue 14, item 4).

``copy_write`` encodes Arrow columns as PostgreSQL's binary format with Arrow compute; every
portable type, NULLs, text beyond ASCII, instants before PostgreSQL's epoch and tables longer
than one encoded piece must come back as they went in. Columns of other Arrow types fall back to
CSV.
"""

import datetime as dt
import math

import pyarrow as pa
import pytest

from modelmon_dagster import copy_write
from modelmon_dagster.copy_write import binary_copy
from modelmon_dagster.warehouse import TableSchema, Warehouse

SCHEMA = TableSchema(
    "copy_probe",
    (
        ("k", "BIGINT"),
        ("s", "VARCHAR"),
        ("d", "DOUBLE PRECISION"),
        ("i", "INTEGER"),
        ("b", "BOOLEAN"),
        ("t", "TIMESTAMP"),
        ("day", "DATE"),
    ),
)

ROWS = pa.table(
    {
        "k": pa.array([0, -(2**63), 2**63 - 1, 7, 8], pa.int64()),
        "s": pa.array(["", "plain", 'é, "quoted"\nline\t€ 🙂', None, "\\N"], pa.string()),
        "d": pa.array([0.1, -0.0, 1e308, None, 5e-324], pa.float64()),
        "i": pa.array([-(2**31), 2**31 - 1, None, 0, 1], pa.int32()),
        "b": pa.array([True, False, None, True, False], pa.bool_()),
        "t": pa.array(
            [
                dt.datetime(2026, 11, 28, 4, 5, 6, 789012),
                dt.datetime(1970, 1, 1),
                dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
                None,
                dt.datetime(2000, 1, 1),
            ],
            pa.timestamp("us"),
        ),
        "day": pa.array(
            [dt.date(2026, 11, 28), dt.date(1969, 7, 20), None, dt.date(2000, 1, 1), None],
            pa.date32(),
        ),
    }
)


def _stored(warehouse: Warehouse) -> list[tuple]:
    cols = ", ".join(SCHEMA.column_names)
    with warehouse.transaction() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM copy_probe ORDER BY k")]


def _expected(rows: pa.Table) -> list[tuple]:
    return sorted(zip(*(c.to_pylist() for c in rows.columns), strict=True), key=lambda r: r[0])


def _same(stored: list[tuple], expected: list[tuple]) -> None:
    assert len(stored) == len(expected)
    for got, want in zip(stored, expected, strict=True):
        for g, w in zip(got, want, strict=True):
            if isinstance(w, float):
                assert g == w and math.copysign(1, g) == math.copysign(1, w)
            else:
                assert g == w


def test_portable_columns_are_encoded_and_others_are_not():
    assert binary_copy(ROWS, SCHEMA.columns) is not None
    as_text = ROWS.set_column(2, "d", ROWS.column("d").cast(pa.string()))
    assert binary_copy(as_text, SCHEMA.columns) is None  # text for a number: CSV parses it
    with_zone = ROWS.set_column(5, "t", ROWS.column("t").cast(pa.timestamp("us", tz="UTC")))
    assert binary_copy(with_zone, SCHEMA.columns) is None


@pytest.mark.postgres
@pytest.mark.parametrize("rows_at_a_time", [1 << 16, 2])
def test_binary_copy_stores_every_value_as_given(postgres_schema_url, monkeypatch, rows_at_a_time):
    monkeypatch.setattr(copy_write, "ROWS_AT_A_TIME", rows_at_a_time)
    warehouse = Warehouse(postgres_schema_url)
    try:
        warehouse.replace_rows(SCHEMA, "true", {}, rows=ROWS)
        _same(_stored(warehouse), _expected(ROWS))
        # Narrower numbers are widened as the column's type, not sent as text.
        narrow = ROWS.set_column(2, "d", pa.array([1, 2, 3, None, 5], pa.int16()))
        assert binary_copy(narrow, SCHEMA.columns) is not None
        warehouse.replace_rows(SCHEMA, "true", {}, rows=narrow)
        widened = narrow.set_column(2, "d", narrow.column("d").cast(pa.float64()))
        _same(_stored(warehouse), _expected(widened))
    finally:
        warehouse.dispose()


@pytest.mark.postgres
def test_other_types_still_go_as_csv(postgres_schema_url):
    warehouse = Warehouse(postgres_schema_url)
    as_text = ROWS.set_column(2, "d", pa.array(["0.1", "-0", "1e308", None, "5e-324"]))
    try:
        warehouse.replace_rows(SCHEMA, "true", {}, rows=as_text)
        _same(_stored(warehouse), _expected(ROWS))
    finally:
        warehouse.dispose()


@pytest.mark.postgres
def test_rows_encoded_ahead_are_stored_as_given(postgres_schema_url):
    """``ready_for_copy`` (the parse thread's encoding) stores what ``insert_arrow`` would."""
    warehouse = Warehouse(postgres_schema_url)
    reordered = ROWS.select(list(reversed(SCHEMA.column_names)))  # put in the schema's order
    as_text = ROWS.set_column(2, "d", pa.array(["0.1", "-0", "1e308", None, "5e-324"]))
    try:
        warehouse.ensure_schema(SCHEMA)
        for rows, form in ((reordered, "binary"), (as_text, "csv")):
            ready = warehouse.ready_for_copy(SCHEMA, rows)
            assert ready.form == form and ready.num_rows == 5
            with warehouse.transaction() as conn:
                conn.exec_driver_sql("DELETE FROM copy_probe")
                assert warehouse.insert_arrow(conn, SCHEMA, ready) == 5
            _same(_stored(warehouse), _expected(ROWS))
    finally:
        warehouse.dispose()


def test_duckdb_takes_rows_as_they_are(tmp_path):
    warehouse = Warehouse.duckdb_file(tmp_path / "wh.duckdb")
    try:
        assert warehouse.ready_for_copy(SCHEMA, ROWS) is ROWS
    finally:
        warehouse.dispose()
