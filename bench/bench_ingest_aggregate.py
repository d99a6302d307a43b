"""Benchmark: one day of 1M predictions x 25 features, ingestion and aggregation timed apart.

Usage: ``make bench``, or
``python bench/bench_ingest_aggregate.py [--rows N] [--engines duckdb,postgres]``

The day's log (24 hourly folders of JSONL, 20 numeric + 5 categorical features) and a 100k-row
reference file are generated with DuckDB (not timed). Each phase runs in a fresh process so its
peak RSS is its own:

* ingestion: ``load_prediction_hours`` over the 24 hours, as a ranged run loads them (on
  DuckDB straight from the files, up to ``DIRECT_GROUP_BYTES`` of logs in one statement,
  ``ingest/direct.py``; on PostgreSQL parse, validate, write raw rows: chunks parsed in a
  thread ahead of the writes, hours written in groups of about ``GROUP_BYTES`` per
  transaction);
* aggregation: every hourly SQL model over the whole day's window (1M rows -> 24 hourly rows);
* rollup: every daily SQL model for the day (from the hourly rows, no rescan).
"""

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import sqlalchemy as sa

from modelmon_dagster.config import parse_config
from modelmon_dagster.logformat import PREDICTIONS, hour_folder

DAY = dt.datetime(2026, 11, 16)
N_NUMERIC, N_CATEGORICAL = 20, 5


def bench_config():
    features = bench_features()
    return parse_config(
        {
            "partitions": {"start_date": DAY.strftime("%Y-%m-%d")},
            "models": [
                {
                    "name": "bench_model",
                    "task": "binary_classification",
                    "classes": ["0", "1"],
                    "positive_class": "1",
                    "features": features,
                    "label_delay": {"expected_hours": 24, "max_hours": 72},
                    "baseline": {"model_version": "v1", "reference_predictions": "reference.jsonl"},
                }
            ],
        }
    )


def features_sql(categories: int = 12) -> str:
    """A DuckDB struct of the benchmark's features: skewed-normal numbers, skewed categories."""
    nums = ", ".join(
        f"'num_{i}': round(({i} + 1) * (random() + random() + random() - 1.5), 6)"
        for i in range(N_NUMERIC)
    )
    cats = ", ".join(
        f"'cat_{i}': 'c' || CAST(floor(random() * random() * {categories}) AS INTEGER)"
        for i in range(N_CATEGORICAL)
    )
    return f"{{{nums}, {cats}}}"


def bench_features() -> list[dict]:
    """The benchmark's feature list, as the config declares it."""
    features = [{"name": f"num_{i}", "type": "numeric"} for i in range(N_NUMERIC)]
    return features + [{"name": f"cat_{i}", "type": "categorical"} for i in range(N_CATEGORICAL)]


def _select(n: int, start: dt.datetime, seconds: int, prefix: str) -> str:
    return f"""
        SELECT '{prefix}' || i AS prediction_id, 'bench_model' AS model_name, 'v1' AS model_version,
               strftime(TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'
                        + to_microseconds(CAST(random() * {seconds} * 1e6 AS BIGINT)),
                        '%Y-%m-%dT%H:%M:%S.%fZ') AS "timestamp",
               {features_sql()} AS features,
               CASE WHEN s >= 0.5 THEN '1' ELSE '0' END AS prediction,
               round(s, 6) AS score, round(exp(2.5 + random()), 3) AS latency_ms,
               'ok' AS status, NULL AS error_type
        FROM (SELECT i, random() AS s FROM range({n}) t(i))
    """


def generate(root: Path, rows: int) -> None:
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    per_hour = rows // 24
    for h in range(24):
        hour = DAY + dt.timedelta(hours=h)
        folder = hour_folder(root / "logs", PREDICTIONS, "bench_model", hour)
        folder.mkdir(parents=True, exist_ok=True)
        n = per_hour + (rows - per_hour * 24 if h == 23 else 0)
        con.execute(
            f"COPY ({_select(n, hour, 3599, f'p{h}-')}) TO '{folder / 'bench.jsonl'}' (FORMAT JSON)"
        )
    con.execute(
        f"COPY ({_select(100_000, DAY - dt.timedelta(days=7), 7 * 86400 - 1, 'ref-')}) "
        f"TO '{root / 'reference.jsonl'}' (FORMAT JSON)"
    )


def _phase(name, url, root, queue):
    from modelmon_dagster.baseline import (
        BASELINE_BINS,
        BASELINE_COLUMNS,
        baseline_tables,
        build_baseline,
        load_baseline,
    )
    from modelmon_dagster.defs.build import SQL_PROJECT_DIR
    from modelmon_dagster.ingest.load import load_prediction_hours
    from modelmon_dagster.ingest.parser import parse_prediction_files
    from modelmon_dagster.sql import SqlProject, run_model_window
    from modelmon_dagster.warehouse import Replacement, Warehouse

    model = bench_config().models[0]
    wh = Warehouse(url)
    backends = _backend_pids(wh)
    began = time.perf_counter()
    cpu_began = _cpu_seconds()
    rows = 0
    if name == "baseline":
        ref = parse_prediction_files([root / "reference.jsonl"], model).rows.to_pandas()
        base = build_baseline(model, ref, "v1-bench")
        bins, cols = baseline_tables(base, ref)
        wh.replace_many(
            [
                Replacement(BASELINE_BINS, "model_name = :m", {"m": model.name}, rows=bins),
                Replacement(BASELINE_COLUMNS, "model_name = :m", {"m": model.name}, rows=cols),
            ]
        )
        rows = len(ref)
    elif name == "ingestion":
        hours = [DAY + dt.timedelta(hours=h) for h in range(24)]
        rows = sum(r.rows for r in load_prediction_hours(wh, model, root / "logs", hours))
    else:
        project = SqlProject.load(SQL_PROJECT_DIR)
        baseline = load_baseline(wh, model)
        grain = "hourly" if name == "aggregation" else "daily"
        rows = wh.scalar('SELECT count(*) FROM "bench_model__raw_predictions"')
        for sql_model in project.by_grain(grain):
            # the benchmark ingests no labels: skip the models that read them
            if ("logs", "raw_labels") not in sql_model.sources:
                run_model_window(
                    wh, project, sql_model, model, DAY, DAY + dt.timedelta(days=1), baseline
                )
    seconds = time.perf_counter() - began
    cpu = _cpu_seconds() - cpu_began
    server = _server_cpu_seconds(backends)
    wh.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, cpu, rows, rss, server))


def _cpu_seconds() -> float:
    """CPU time of this process, all its threads (DuckDB's included), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _backend_pids(wh) -> set[int]:
    """The PostgreSQL backends this phase's connections open (filled as they connect)."""
    pids: set[int] = set()
    if wh.dialect == "postgresql":

        @sa.event.listens_for(wh.engine, "connect")
        def _note(dbapi_connection, _record):
            pids.add(dbapi_connection.info.backend_pid)

    return pids


def _server_cpu_seconds(pids: set[int]) -> float | None:
    """CPU time of the phase's PostgreSQL backends (a local server only, read in ``/proc``)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total if pids else None


def run_phase(name, url, root):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_phase, args=(name, url, root, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode:
        raise SystemExit(f"phase {name} failed on {url}")
    return result


# NannyML 0.13's drift analysis of the same 1M-row, 25-feature day from an in-memory DataFrame
# on a 2-core machine: 6.6 s in issue #14, 7.0 s in the README's drift table.
NANNYML_SECONDS = "6.6-7.0"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# This run's own schema: two benchmarks on one server never drop each other's tables.
SCHEMA = f"modelmon_bench_{os.getpid()}"


def fresh_postgres(base_url: str, schema: str = SCHEMA) -> str:
    """A URL whose search_path is ``schema``, emptied first (each bench run has its own)."""
    engine = sa.create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{base_url}?options=-csearch_path%3D{schema}"


def drop_postgres(base_url: str, schema: str = SCHEMA) -> None:
    engine = sa.create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="duckdb,postgres")
    args = parser.parse_args()
    pg = os.environ.get(
        "MODELMON_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    root = Path(tempfile.mkdtemp(prefix="modelmon-bench-"))
    try:
        t = time.perf_counter()
        generate(root, args.rows)
        size = sum(p.stat().st_size for p in (root / "logs").rglob("*.jsonl")) / 1e6
        print(
            f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, duckdb {duckdb.__version__}"
        )
        print(
            f"generated {args.rows:,} predictions x {N_NUMERIC + N_CATEGORICAL} features "
            f"({size:.0f} MB JSONL, 24 hourly files) in {time.perf_counter() - t:.1f} s\n"
        )
        print(f"load average at the start: {_load()}")
        print(
            f"{'engine':<10} {'phase':<12} {'seconds':>8} {'CPU s':>7} {'rows/s':>10} "
            f"{'rows/CPU-s':>11} {'peak RSS MB':>12} {'server CPU s':>12}"
        )
        ingestion = {}
        for engine in args.engines.split(","):
            url = f"duckdb:///{root / 'bench.duckdb'}" if engine == "duckdb" else fresh_postgres(pg)
            for phase in ("baseline", "ingestion", "aggregation", "rollup"):
                seconds, cpu, rows, rss, server = run_phase(phase, url, root)
                rate = f"{rows / seconds:,.0f}" if phase != "rollup" else "-"
                per_cpu = f"{rows / cpu:,.0f}" if phase != "rollup" and cpu else "-"
                print(
                    f"{engine:<10} {phase:<12} {seconds:>8.2f} {cpu:>7.2f} {rate:>10} "
                    f"{per_cpu:>11} {rss:>12.0f} {'-' if server is None else f'{server:.2f}':>12}",
                    flush=True,
                )
                if phase == "ingestion":
                    ingestion[engine] = seconds, cpu, server
        print(f"load average at the end: {_load()}")
        # NannyML's figure is for the default day (1M rows) only.
        for engine, (seconds, cpu, server) in ingestion.items() if args.rows == 1_000_000 else ():
            on_server = "" if server is None else f" + {server:.1f} of PostgreSQL's backends"
            print(
                f"{engine}: the day's ingestion, {args.rows:,} lines from JSONL, "
                f"took {seconds:.1f} s ({cpu:.1f} CPU-s of this process{on_server}); "
                f"NannyML analyses the same day from a DataFrame in {NANNYML_SECONDS} s "
                "(issue #14, README)"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if "postgres" in args.engines:
            drop_postgres(pg)


if __name__ == "__main__":
    main()
