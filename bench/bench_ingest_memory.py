"""Benchmark: peak memory of ingesting one hour, by the hour's size, clean or with one bad line.

Usage: ``python bench/bench_ingest_memory.py [--lines 100000,2000000]``

Each case generates one hour of JSONL (one file, 20 numeric + 5 categorical features, with
DuckDB: not timed) and loads it with ``load_prediction_hour`` into a fresh DuckDB warehouse in a
fresh process, so the peak RSS printed is that load's own. "bad line" appends one invalid-JSON
line, which sends the file down the line-by-line path.

Issue #9 item 4 asks for a flat peak from 100k to 2M lines; this script is how to show it. It
is not flat yet (see README "Reliability"): the line path reads the failing file whole, and the
hour's rows are held for the quality checks.
"""

import argparse
import datetime as dt
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from bench_ingest_aggregate import _select, bench_config

from modelmon_dagster.logformat import PREDICTIONS, hour_folder

HOUR = dt.datetime(2026, 11, 16, 10)


def generate(root: Path, lines: int, bad_line: bool) -> Path:
    folder = hour_folder(root / "logs", PREDICTIONS, "bench_model", HOUR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.jsonl"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SELECT setseed(0.42)")
    con.execute(f"COPY ({_select(lines, HOUR, 3599, 'p-')}) TO '{path}' (FORMAT JSON)")
    if bad_line:
        with path.open("a") as out:
            out.write("{not json\n")
    return path


def _load(root: Path, queue) -> None:
    from modelmon_dagster.ingest.load import load_prediction_hour
    from modelmon_dagster.warehouse import Warehouse

    model = bench_config().models[0]
    wh = Warehouse(f"duckdb:///{root / 'bench.duckdb'}")
    began = time.perf_counter()
    result = load_prediction_hour(wh, model, root / "logs", HOUR)
    seconds = time.perf_counter() - began
    wh.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, result.rows, result.quarantined, peak_mb))


def measure(lines: int, bad_line: bool) -> tuple:
    root = Path(tempfile.mkdtemp(prefix="modelmon-mem-"))
    try:
        generate(root, lines, bad_line)
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_load, args=(root, queue))
        proc.start()
        result = queue.get()
        proc.join()
        if proc.exitcode:
            raise SystemExit(f"load of {lines} lines failed")
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", default="100000,2000000")
    args = parser.parse_args()
    print(f"{'lines':>10} {'case':<9} {'seconds':>8} {'rows':>10} {'quar.':>6} {'peak RSS MB':>12}")
    for lines in (int(n) for n in args.lines.split(",")):
        for bad in (False, True):
            seconds, rows, quarantined, peak = measure(lines, bad)
            case = "bad line" if bad else "clean"
            print(
                f"{lines:>10,} {case:<9} {seconds:>8.2f} {rows:>10,} {quarantined:>6} {peak:>12.0f}"
            )


if __name__ == "__main__":
    main()
