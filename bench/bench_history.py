"""Benchmark: one hour's work on a warehouse that already holds days of raw predictions.

Usage: ``python bench/bench_history.py [--days 10] [--rows-per-day 1000000] [--engines ...]``

An hourly partition must cost the same on day 30 as on day 1: its ingestion deletes the hour's
old rows and looks its ids up among all stored ones, and every hourly SQL model reads the hour
from ``{model}__raw_predictions``. This fills that table with ``--days`` days of the benchmark
model's predictions (SQL inside the warehouse, not timed), then times one real hour (the
benchmark's JSONL for one hour: ingestion with its repeat lookup, then every hourly SQL model)
after 1 day of history and after all of them. On PostgreSQL the same hour is timed again after
dropping the ``partition_hour`` index (what the warehouse had before it was added): every hourly
query and delete then scans the whole table. DuckDB prunes by its row groups' min/max instead.
"""

import argparse
import datetime as dt
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from bench_ingest_aggregate import DAY, bench_config, drop_postgres, fresh_postgres, generate

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_COLUMNS,
    baseline_tables,
    build_baseline,
    load_baseline,
)
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.ingest.parser import parse_prediction_files
from modelmon_dagster.ingest.tables import raw_predictions_table
from modelmon_dagster.sql import SqlProject, run_model_window
from modelmon_dagster.warehouse import Replacement, Warehouse

HOUR = DAY + dt.timedelta(hours=12)


def _value_sql(column: str, type_: str, dialect: str) -> str:
    """A SQL expression for one column of synthetic row ``i`` (``hours`` = its hour offset)."""
    if column in ("partition_hour", "ts"):
        if dialect == "postgresql":
            return "make_interval(hours => hours) + timestamp '{start}'"
        return "to_hours(hours) + timestamp '{start}'"
    fixed = {
        "prediction_id": "'h' || i",
        "model_version": "'v1'",
        "status": "'ok'",
        "prediction_label": "case when s >= 0.5 then '1' else '0' end",
        "score": "s",
        "latency_ms": "exp(2.5 + random())",
        "source_file_name": "'history.jsonl'",
    }
    if column in fixed:
        return fixed[column]
    if type_ == "VARCHAR":
        return (
            "null"
            if column in ("error_type", "probabilities", "schema_errors")
            else "'c' || (i % 12)"
        )
    return "null" if column.startswith("host_") or column == "prediction_value" else "random() * 3"


def fill_history(wh: Warehouse, first: int, last: int, rows_per_day: int) -> None:
    """Insert days ``first`` .. ``last - 1`` before DAY, ``rows_per_day`` rows each."""
    schema = raw_predictions_table(bench_config().models[0])
    wh.ensure_schema(schema)
    per_hour = rows_per_day // 24
    cols = ", ".join(f'"{c}"' for c in schema.column_names)
    hour = "cast(i / {per_hour} as integer)" if wh.dialect == "postgresql" else "i // {per_hour}"
    for day in range(first, last):
        start = DAY - dt.timedelta(days=day + 1)
        values = ", ".join(
            _value_sql(c, t, wh.dialect).format(start=f"{start:%Y-%m-%d %H:%M:%S}")
            for c, t in schema.columns
        )
        sql = (
            f'INSERT INTO "{schema.name}" ({cols}) SELECT {values} FROM ('
            f"SELECT i, random() AS s, {hour.format(per_hour=per_hour)} AS hours "
            f"FROM generate_series({day * rows_per_day}, {(day + 1) * rows_per_day - 1}) t(i)) g"
        )
        with wh.transaction() as conn:
            conn.execute(sa.text(sql))
    if wh.dialect == "postgresql":
        with wh.transaction() as conn:
            conn.execute(sa.text(f'ANALYZE "{schema.name}"'))


def time_hour(wh: Warehouse, root: Path) -> tuple[float, float]:
    """Seconds for one hour's ingestion and for its hourly SQL models."""
    model = bench_config().models[0]
    began = time.perf_counter()
    load_prediction_hour(wh, model, root / "logs", HOUR)
    ingested = time.perf_counter()
    project = SqlProject.load(SQL_PROJECT_DIR)
    baseline = load_baseline(wh, model)
    for sql_model in project.by_grain("hourly"):
        run_model_window(
            wh, project, sql_model, model, HOUR, HOUR + dt.timedelta(hours=1), baseline
        )
    return ingested - began, time.perf_counter() - ingested


def store_baseline(wh: Warehouse, root: Path) -> None:
    model = bench_config().models[0]
    ref = parse_prediction_files([root / "reference.jsonl"], model).rows.to_pandas()
    bins, cols = baseline_tables(build_baseline(model, ref, "v1-bench"), ref)
    wh.replace_many(
        [
            Replacement(BASELINE_BINS, "model_name = :m", {"m": model.name}, rows=bins),
            Replacement(BASELINE_COLUMNS, "model_name = :m", {"m": model.name}, rows=cols),
        ]
    )


def run_engine(url: str, root: Path, days: int, rows_per_day: int) -> None:
    wh = Warehouse(url)
    store_baseline(wh, root)
    engine = "PostgreSQL" if wh.dialect == "postgresql" else "DuckDB"
    table = raw_predictions_table(bench_config().models[0]).name
    for first, last, label in ((0, 1, "1 day"), (1, days, f"{days} days")):
        t = time.perf_counter()
        fill_history(wh, first, last, rows_per_day)
        stored = wh.scalar(f'SELECT count(*) FROM "{table}"')
        filled = time.perf_counter() - t
        ingest, aggregate = time_hour(wh, root)
        print(
            f"{engine:<11} {label + ' of history':<20} {stored:>12,} {ingest:>10.2f} "
            f"{aggregate:>12.2f}   (filled in {filled:.0f} s)"
        )
    if wh.dialect == "postgresql":
        with wh.transaction() as conn:
            conn.execute(sa.text(f'DROP INDEX "{table}__partition_hour__idx"'))
            conn.execute(sa.text(f'ANALYZE "{table}"'))
        # the same Warehouse: it has ensured the table, so it does not build the index again
        ingest, aggregate = time_hour(wh, root)
        print(
            f"{engine:<11} {'no hour index':<20} {stored:>12,} {ingest:>10.2f} {aggregate:>12.2f}"
        )
    wh.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--engines", default="postgres,duckdb")
    args = parser.parse_args()
    pg = os.environ.get(
        "MODELMON_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    root = Path(tempfile.mkdtemp(prefix="modelmon-history-"))
    try:
        generate(root, args.rows_per_day)
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, load average "
            f"{os.getloadavg()[0]:.1f}; one hour = {args.rows_per_day // 24:,} JSONL lines, "
            "25 features\n"
        )
        print(
            f"{'engine':<11} {'warehouse':<20} {'stored rows':>12} {'ingest s':>10} "
            f"{'hourly SQL s':>12}"
        )
        for engine in args.engines.split(","):
            url = (
                f"duckdb:///{root / 'history.duckdb'}"
                if engine == "duckdb"
                else fresh_postgres(pg, "modelmon_history")
            )
            run_engine(url, root, args.days, args.rows_per_day)
            if engine != "duckdb":
                drop_postgres(pg, "modelmon_history")
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
