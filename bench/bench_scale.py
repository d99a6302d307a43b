"""Benchmark: a day of N predictions across several models, end to end, on both warehouses.

Usage: ``python bench/bench_scale.py [--rows 10000000] [--models 3] [--engines duckdb,postgres]``

What it does, per engine, on the same generated data (not timed):

* one UTC day of prediction logs for ``--models`` binary classifiers (20 numeric and 5
  categorical features, one segment), ``--rows`` predictions in all, spread over the 24 hours;
  labels for half of them arriving three hours after the prediction (so the day's performance
  has labels and the late-label refresh runs); a labelled 2-day reference per model;
* ``modelmon backfill all --from DAY --to DAY`` in a fresh process against a fresh Dagster
  instance (``modelmon init``): the user's path. Every hour: ingestion, hourly aggregates,
  hourly drift and the hourly checks; the day: rollups, daily drift, segment drift,
  performance, calibration and the daily checks; then the performance refresh.

It prints, per engine: wall seconds, CPU seconds, predictions per wall second, the peak RSS of
the backfill process (``os.wait4``: that process alone), the warehouse's size on disk for the
day, and then compares every warehouse table of the two engines: row counts, and every value
(numbers to a relative 1e-9). Columns that record when or by which run something was written
differ by nature and are listed, not compared.

The PostgreSQL warehouse is a fresh schema ``modelmon_scale`` of
``$MODELMON_BENCH_POSTGRES_URL`` (default: the local database ``modelmon_bench``, created when
missing).
"""

import argparse
import datetime as dt
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd
import sqlalchemy as sa
import yaml
from bench_ingest_aggregate import bench_features, features_sql
from bench_ingest_aggregate import fresh_postgres as fresh_schema
from warehouse_snapshot import VOLATILE, compare

DAY = dt.datetime(2026, 11, 16)
LABEL_DELAY_HOURS = 3
REFERENCE_ROWS = 50_000
PG_SCHEMA = "modelmon_scale"


def model_names(count: int) -> list[str]:
    return [f"scale_model_{i}" for i in range(count)]


def write_config(root: Path, models: list[str]) -> Path:
    features = bench_features()
    config = {
        "partitions": {"start_date": f"{DAY:%Y-%m-%d}"},
        "models": [
            {
                "name": name,
                "task": "binary_classification",
                "classes": ["0", "1"],
                "positive_class": "1",
                "features": features,
                "segments": ["cat_0"],
                "label_delay": {"expected_hours": LABEL_DELAY_HOURS, "max_hours": 48},
                "baseline": {
                    "model_version": "v1",
                    "reference_predictions": f"reference/{name}/predictions.jsonl",
                    "reference_labels": f"reference/{name}/labels.jsonl",
                },
            }
            for name in models
        ],
    }
    path = root / "models.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rows_sql(model: str, n: int, start: dt.datetime, seconds: int, prefix: str) -> str:
    """A DuckDB query of ``n`` predictions of ``model`` with their score and a drawn label."""
    return f"""
        SELECT '{prefix}' || i AS prediction_id, '{model}' AS model_name, 'v1' AS model_version,
               TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'
                   + to_microseconds(CAST(random() * {seconds} * 1e6 AS BIGINT)) AS ts,
               {features_sql(categories=8)} AS features,
               round(s, 6) AS score, round(exp(2.5 + random()), 3) AS latency_ms,
               CASE WHEN random() < s THEN '1' ELSE '0' END AS truth,
               random() < 0.5 AS labelled
        FROM (SELECT i, random() AS s FROM range({n}) t(i))
    """


PREDICTION_COLUMNS = """prediction_id, model_name, model_version,
    strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS "timestamp", features,
    CASE WHEN score >= 0.5 THEN '1' ELSE '0' END AS prediction, score, latency_ms,
    'ok' AS status"""
LABEL_COLUMNS = """prediction_id, model_name, truth AS label,
    strftime(date_trunc('hour', ts) + INTERVAL {delay} HOUR
             + to_microseconds(CAST(random() * 3599e6 AS BIGINT)),
             '%Y-%m-%dT%H:%M:%SZ') AS label_timestamp"""


def generate(root: Path, models: list[str], rows: int) -> None:
    """Logs of the day and the references, written with DuckDB (seeded)."""
    con = duckdb.connect(str(root / "generate.duckdb"))
    con.execute("SET enable_progress_bar = false")
    con.execute("SELECT setseed(0.42)")
    per_model = rows // len(models)
    for m, model in enumerate(models):
        n = per_model + (rows - per_model * len(models) if m == len(models) - 1 else 0)
        con.execute(f"CREATE OR REPLACE TABLE day AS {_rows_sql(model, n, DAY, 86399, 'p-')}")
        for h in range(24):
            hour = DAY + dt.timedelta(hours=h)
            folder = root / "data/logs/predictions" / model / f"{hour:%Y-%m-%d/%H}"
            folder.mkdir(parents=True)
            in_hour = f"ts >= TIMESTAMP '{hour}' AND ts < TIMESTAMP '{hour}' + INTERVAL 1 HOUR"
            con.execute(
                f"COPY (SELECT {PREDICTION_COLUMNS} FROM day WHERE {in_hour}) "
                f"TO '{folder / 'server.jsonl'}' (FORMAT JSON)"
            )
            arrival = hour + dt.timedelta(hours=LABEL_DELAY_HOURS)
            if arrival < DAY + dt.timedelta(days=1):
                folder = root / "data/logs/labels" / model / f"{arrival:%Y-%m-%d/%H}"
                folder.mkdir(parents=True)
                labels = LABEL_COLUMNS.format(delay=LABEL_DELAY_HOURS)
                con.execute(
                    f"COPY (SELECT {labels} FROM day WHERE labelled AND {in_hour}) "
                    f"TO '{folder / 'labels.jsonl'}' (FORMAT JSON)"
                )
        ref_start = DAY - dt.timedelta(days=9)
        con.execute(
            "CREATE OR REPLACE TABLE ref AS "
            + _rows_sql(model, REFERENCE_ROWS, ref_start, 2 * 86400 - 1, "r-")
        )
        folder = root / "data/reference" / model
        folder.mkdir(parents=True)
        con.execute(
            f"COPY (SELECT {PREDICTION_COLUMNS} FROM ref) "
            f"TO '{folder / 'predictions.jsonl'}' (FORMAT JSON)"
        )
        con.execute(
            "COPY (SELECT prediction_id, model_name, truth AS label, "
            "strftime(ts + INTERVAL 1 DAY, '%Y-%m-%dT%H:%M:%SZ') AS label_timestamp FROM ref) "
            f"TO '{folder / 'labels.jsonl'}' (FORMAT JSON)"
        )
    con.close()
    (root / "generate.duckdb").unlink()


def fresh_postgres(base_url: str) -> str:
    """The benchmark's database (created if missing) with an emptied ``PG_SCHEMA``."""
    url = sa.engine.make_url(base_url)
    server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": url.database}
        ).scalar()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    server.dispose()
    return fresh_schema(base_url, PG_SCHEMA)


def run_backfill(root: Path, engine: str, url: str) -> dict:
    """``modelmon init`` then ``modelmon backfill all`` in a fresh process; time and peak RSS."""
    home = root / f"dagster_home_{engine}"
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "MODELMON_CONFIG": str(root / "models.yaml"),
        "MODELMON_DATA_DIR": str(root / "data"),
        "MODELMON_WAREHOUSE_URL": url,
    }
    home.mkdir()
    subprocess.run([sys.executable, "-m", "modelmon_dagster.cli", "init"], env=env, check=True)
    log = (root / f"backfill_{engine}.log").open("w")
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelmon_dagster.cli", "backfill", "all"]
        + ["--from", f"{DAY:%Y-%m-%d}", "--to", f"{DAY:%Y-%m-%d}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    log.close()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"backfill on {engine} failed: see {root / f'backfill_{engine}.log'}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
    }


RAW = ("__raw_predictions", "__raw_labels")


def tables(url: str) -> dict[str, pd.DataFrame]:
    """Every warehouse table as a frame in a canonical row order; raw tables as a summary.

    The raw tables (one row per prediction or label) are compared by row count and the sum
    of every numeric column, computed in the database; every other table value by value.
    """
    engine = sa.create_engine(url)
    schema = PG_SCHEMA if engine.dialect.name == "postgresql" else "main"
    frames = {}
    with engine.connect() as conn:
        columns = pd.read_sql(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = :s"
            ),
            conn,
            params={"s": schema},
        )
        for name, cols in columns.groupby("table_name"):
            if name.endswith(RAW):
                numeric = cols[cols.data_type.str.contains("DOUBLE|INT|REAL|NUMERIC", case=False)]
                sums = "".join(f', sum("{c}") AS "{c}"' for c in sorted(numeric.column_name))
                query = f'SELECT count(*) AS n_rows{sums} FROM "{name}"'
                frames[name] = pd.read_sql(sa.text(query), conn)
                continue
            frame = pd.read_sql(sa.text(f'SELECT * FROM "{name}"'), conn)
            frames[name] = canonical(frame[sorted(c for c in frame.columns if c not in VOLATILE)])
    engine.dispose()
    return frames


def _null(value) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _sort_key(column: pd.Series) -> pd.Series:
    """Text and times as text, numbers to 9 significant digits (engines differ past that)."""
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().sum() == column.notna().sum():
        return numbers.map(lambda v: "" if pd.isna(v) else f"{v:.9g}")
    return column.map(lambda v: "" if _null(v) else str(v))


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column, in a fresh index."""
    return frame.sort_values(by=list(frame.columns), key=_sort_key, ignore_index=True)


def warehouse_mb(engine: str, root: Path, url: str) -> float:
    if engine == "duckdb":
        return (root / "data" / "scale.duckdb").stat().st_size / 1e6
    sql = (
        "SELECT sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))) "
        f"FROM pg_tables WHERE schemaname = '{PG_SCHEMA}'"
    )
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        size = conn.execute(sa.text(sql)).scalar()
    eng.dispose()
    return float(size) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    args = parser.parse_args()
    pg = os.environ.get(
        "MODELMON_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/modelmon_bench"
    )
    root = Path(tempfile.mkdtemp(prefix="modelmon-scale-"))
    try:
        models = model_names(args.models)
        write_config(root, models)
        began = time.perf_counter()
        generate(root, models, args.rows)
        size = sum(p.stat().st_size for p in (root / "data/logs").rglob("*.jsonl")) / 1e6
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, "
            f"Python {platform.python_version()}, duckdb {duckdb.__version__}"
        )
        print(
            f"generated {args.rows:,} predictions of {len(models)} models, half labelled "
            f"({size:,.0f} MB JSONL) in {time.perf_counter() - began:.0f} s: {root}\n"
        )
        print(
            f"{'engine':<9} {'wall s':>8} {'CPU s':>8} {'predictions/s':>14} "
            f"{'peak RSS MB':>12} {'warehouse MB':>13}"
        )
        results = {}
        for engine in args.engines.split(","):
            if engine == "duckdb":
                url = f"duckdb:///{root / 'data' / 'scale.duckdb'}"
            else:
                url = fresh_postgres(pg)
            run = run_backfill(root, engine, url)
            print(
                f"{engine:<9} {run['wall']:>8.0f} {run['cpu']:>8.0f} "
                f"{args.rows / run['wall']:>14,.0f} {run['rss_mb']:>12,.0f} "
                f"{warehouse_mb(engine, root, url):>13,.0f}",
                flush=True,
            )
            results[engine] = tables(url)
        if len(results) == 2:
            left, right = results.values()
            problems = compare(
                left, right, rel_tol=1e-9, abs_tol=1e-12, names=("duckdb", "postgres")
            )
            rows = sum(len(f) for f in left.values())
            print(
                f"\n{len(left)} tables, {rows:,} rows compared (volatile columns left out: "
                f"{', '.join(VOLATILE)}): "
                + ("identical" if not problems else f"{len(problems)} differences")
            )
            for line in problems:
                print("  " + line)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
