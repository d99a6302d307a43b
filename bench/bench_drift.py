"""Benchmark: drift on the reference case of docs (100k reference vs 1M current rows).

Usage: ``python bench/bench_drift.py [--engine duckdb|postgres]`` (part of ``make bench``).

20 numeric + 5 categorical features; 8 drift, the rest do not:

===========  ==========================================
num_0        mean +0.1 sd (the shift PSI on 10 bins misses)
num_1        mean +0.25 sd
num_2        sd x1.2
num_3        sd x0.8
num_4        mean +0.5 sd
num_5        10 % of values moved to a mode at +3 sd
cat_0        category mix changes
cat_1        5 % of values are a new category
===========  ==========================================

The day (24 hourly JSONL files) and the reference are generated with DuckDB (not timed), then
the real pipeline runs: baseline, hourly ingestion, hourly aggregates, daily rollup, daily
drift. The script prints each phase's time, "aggregates to drift" (the drift step alone), the
whole day end to end, and which columns were flagged, true and false.
"""

import argparse
import datetime as dt
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import sqlalchemy as sa

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_COLUMNS,
    baseline_id_for,
    baseline_tables,
    build_baseline,
    load_baseline,
)
from modelmon_dagster.config import parse_config
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.drift import compute_drift, write_drift
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.ingest.parser import parse_prediction_files
from modelmon_dagster.logformat import PREDICTIONS, hour_folder
from modelmon_dagster.sql import SqlProject, run_model_window
from modelmon_dagster.warehouse import Replacement, Warehouse

DAY = dt.datetime(2026, 11, 16)
N_NUMERIC, N_CATEGORICAL = 20, 5
DRIFTED = {"num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "cat_0", "cat_1"}
NORMAL = "(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))"


def config():
    features = [{"name": f"num_{i}", "type": "numeric"} for i in range(N_NUMERIC)]
    features += [{"name": f"cat_{i}", "type": "categorical"} for i in range(N_CATEGORICAL)]
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
    ).models[0]


def _feature(i: int, drifted: bool) -> str:
    sd = i + 1
    if not drifted or i > 5:
        return f"round({sd} * {NORMAL}, 6)"
    return {
        0: f"round({sd} * ({NORMAL} + 0.1), 6)",
        1: f"round({sd} * ({NORMAL} + 0.25), 6)",
        2: f"round({sd} * 1.2 * {NORMAL}, 6)",
        3: f"round({sd} * 0.8 * {NORMAL}, 6)",
        4: f"round({sd} * ({NORMAL} + 0.5), 6)",
        5: f"round({sd} * (CASE WHEN random() < 0.1 THEN 3 + 0.3 * {NORMAL} ELSE {NORMAL} END), 6)",
    }[i]


def _category(i: int, drifted: bool) -> str:
    usual = "'c' || CAST(floor(random() * random() * 12) AS INTEGER)"
    if drifted and i == 0:
        return "'c' || CAST(floor(random() * 12) AS INTEGER)"
    if drifted and i == 1:
        return f"CASE WHEN random() < 0.05 THEN 'new' ELSE {usual} END"
    return usual


def _select(n: int, start: dt.datetime, seconds: int, prefix: str, drifted: bool) -> str:
    nums = ", ".join(f"'num_{i}': {_feature(i, drifted)}" for i in range(N_NUMERIC))
    cats = ", ".join(f"'cat_{i}': {_category(i, drifted)}" for i in range(N_CATEGORICAL))
    return f"""
        SELECT '{prefix}' || i AS prediction_id, 'bench_model' AS model_name, 'v1' AS model_version,
               strftime(TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'
                        + to_microseconds(CAST(random() * {seconds} * 1e6 AS BIGINT)),
                        '%Y-%m-%dT%H:%M:%S.%fZ') AS "timestamp",
               {{{nums}, {cats}}} AS features,
               CASE WHEN s >= 0.5 THEN '1' ELSE '0' END AS prediction,
               round(s, 6) AS score, round(exp(2.5 + random()), 3) AS latency_ms,
               'ok' AS status, NULL AS error_type
        FROM (SELECT i, random() AS s FROM range({n}) t(i))
    """


def generate(root: Path, rows: int, reference_rows: int) -> None:
    con = duckdb.connect()
    con.execute("SELECT setseed(0.7)")
    per_hour = rows // 24
    for h in range(24):
        hour = DAY + dt.timedelta(hours=h)
        folder = hour_folder(root / "logs", PREDICTIONS, "bench_model", hour)
        folder.mkdir(parents=True, exist_ok=True)
        sql = _select(per_hour, hour, 3599, f"p{h}-", drifted=True)
        con.execute(f"COPY ({sql}) TO '{folder / 'bench.jsonl'}' (FORMAT JSON)")
    ref = _select(reference_rows, DAY - dt.timedelta(days=7), 7 * 86400 - 1, "ref-", drifted=False)
    con.execute(f"COPY ({ref}) TO '{root / 'reference.jsonl'}' (FORMAT JSON)")


def timed(label: str, fn, log: list):
    began = time.perf_counter()
    value = fn()
    log.append((label, time.perf_counter() - began))
    return value


def run(url: str, root: Path, model) -> tuple[list, object]:
    wh = Warehouse(url)
    project = SqlProject.load(SQL_PROJECT_DIR)
    log: list = []
    end = DAY + dt.timedelta(days=1)

    def baseline():
        frame = parse_prediction_files([root / "reference.jsonl"], model).rows.to_pandas()
        fixed = build_baseline(model, frame, baseline_id_for(model, model.baseline, ["bench"]))
        bins, cols = baseline_tables(fixed, frame)
        where, params = "model_name = :m", {"m": model.name}
        wh.replace_many(
            [
                Replacement(BASELINE_BINS, where, params, rows=bins),
                Replacement(BASELINE_COLUMNS, where, params, rows=cols),
            ]
        )

    def ingest():
        for h in range(24):
            load_prediction_hour(wh, model, root / "logs", DAY + dt.timedelta(hours=h))

    def models(grain):
        base = load_baseline(wh, model)
        for sql_model in project.by_grain(grain):
            # the benchmark ingests no labels: skip the models that read them
            if ("logs", "raw_labels") not in sql_model.sources:
                run_model_window(wh, project, sql_model, model, DAY, end, base)

    timed("baseline (100k reference rows)", baseline, log)
    timed("ingestion (24 hourly loads)", ingest, log)
    timed("hourly aggregates", lambda: models("hourly"), log)
    timed("daily rollup", lambda: models("daily"), log)
    frame = timed(
        "daily drift from aggregates", lambda: compute_drift(wh, model, "daily", DAY, end), log
    )
    write_drift(wh, "daily", model, DAY, end, frame)
    wh.dispose()
    return log, frame


def fresh_postgres(base_url: str) -> str:
    engine = sa.create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS modelmon_bench_drift CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA modelmon_bench_drift"))
    engine.dispose()
    return f"{base_url}?options=-csearch_path%3Dmodelmon_bench_drift"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--engines", default="duckdb")
    args = parser.parse_args()
    model = config()
    pg = os.environ.get(
        "MODELMON_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    root = Path(tempfile.mkdtemp(prefix="modelmon-drift-bench-"))
    try:
        t = time.perf_counter()
        generate(root, args.rows, args.reference_rows)
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}; generated {args.rows:,} current + "
            f"{args.reference_rows:,} reference rows in {time.perf_counter() - t:.1f} s"
        )
        for engine in args.engines.split(","):
            url = f"duckdb:///{root / 'bench.duckdb'}" if engine == "duckdb" else fresh_postgres(pg)
            log, frame = run(url, root, model)
            print(f"\n{engine}:")
            for label, seconds in log:
                print(f"  {label:<34} {seconds:7.2f} s")
            total = sum(s for label, s in log if not label.startswith("baseline"))
            print(f"  {'whole day end to end':<34} {total:7.2f} s (baseline excluded)")
            features = frame[frame["column_role"] == "feature"]
            flagged = set(features.loc[features["drifted"].astype(bool), "column_name"])
            print(
                f"  flagged {len(flagged & DRIFTED)} of {len(DRIFTED)} drifted columns, "
                f"{len(flagged - DRIFTED)} false flags"
            )
            print(
                f"  missed: {sorted(DRIFTED - flagged) or 'none'}; "
                f"false: {sorted(flagged - DRIFTED) or 'none'}"
            )
            top = features.sort_values("effect_size", ascending=False).head(12)
            for r in top.itertuples():
                mark = "drifted" if r.drifted else ""
                print(
                    f"    {r.column_name:<7} {r.effect_measure:<16} {r.effect_size:7.4f} "
                    f"adj_p {r.adjusted_p:9.2e}  psi {r.psi:7.4f}  {mark}"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
