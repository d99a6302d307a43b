"""Benchmark: peak memory of ingesting one hour, by the hour's size, clean or with one bad line.

Usage: ``python bench/bench_ingest_memory.py [--lines 100000,500000,2000000] [--memory-limit 1GB]``

Each case generates one hour of JSONL (one file, 20 numeric + 5 categorical features, with
DuckDB: not timed) and loads it with ``load_prediction_hour`` into a fresh DuckDB warehouse in a
fresh process, so the peak RSS printed is that load's own ("load peak"); then the hour's schema
and quality checks run as the ingestion asset runs them ("+checks": the peak of both; "checks
CPU s": their CPU time, rows read back in batches of ``quality.hours.BATCH_VALUES``). "bad
line" appends one invalid-JSON line, which sends its chunk down the line-by-line path.

Issue #9 item 4 asks for a flat peak from 100k to 2M lines; this script measures it. "DuckDB
MB" is DuckDB's own memory after the checks (``duckdb_memory()``: mostly its cache of the
table's blocks, bounded by ``memory_limit``), and "peak-DuckDB" the peak less it: the part
that must not grow with the hour (README, "Reliability"). A clean
hour is loaded straight from its file in one DuckDB statement (``ingest/direct.py``); one with a
bad line rolls that back and is read in chunks (``ingest.chunks.CHUNK_BYTES``, parsed one
chunk ahead of the writes), an hour over ``ingest.load.GROUP_BYTES`` is staged in temporary
tables before its transaction, and DuckDB's cache is bounded by the warehouse's
``memory_limit`` (``--memory-limit``; the warehouse's default otherwise).
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
from bench_ingest_aggregate import _select, bench_config, run_phase

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
    # The checks grade against a baseline (built from these reference rows before the load).
    week = 7 * 86400 - 1
    start = HOUR - dt.timedelta(days=7)
    reference = root / "reference.jsonl"
    con.execute(f"COPY ({_select(20_000, start, week, 'ref-')}) TO '{reference}' (FORMAT JSON)")
    return path


def _load(root: Path, memory_limit: str | None, queue) -> None:
    from modelmon_dagster.ingest.load import load_prediction_hour
    from modelmon_dagster.quality.hours import judge_prediction_hours
    from modelmon_dagster.warehouse import Warehouse

    model = bench_config().models[0]
    query = f"?memory_limit={memory_limit}" if memory_limit else ""
    wh = Warehouse(f"duckdb:///{root / 'bench.duckdb'}{query}")
    began = time.perf_counter()
    result = load_prediction_hour(wh, model, root / "logs", HOUR)
    seconds = time.perf_counter() - began
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The hour's checks, as the ingestion asset runs them (rows read back in batches).
    cpu = _cpu()
    judge_prediction_hours(wh, model, [result], lambda message: None)
    checks_cpu = _cpu() - cpu
    # DuckDB's own memory now: its cache of the table's blocks (bounded by memory_limit, kept
    # until evicted), the part of the peak that grows with the hour until the limit is reached.
    duckdb_mb = wh.scalar("SELECT sum(memory_usage_bytes) FROM duckdb_memory()") / 2**20
    wh.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        (
            seconds,
            result.rows,
            result.quarantined,
            result.chunks,
            load_peak,
            peak_mb,
            checks_cpu,
            duckdb_mb,
        )
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(lines: int, bad_line: bool, memory_limit: str | None) -> tuple:
    root = Path(tempfile.mkdtemp(prefix="modelmon-mem-"))
    try:
        generate(root, lines, bad_line)
        query = f"?memory_limit={memory_limit}" if memory_limit else ""
        run_phase("baseline", f"duckdb:///{root / 'bench.duckdb'}{query}", root)
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_load, args=(root, memory_limit, queue))
        proc.start()
        proc.join()
        if proc.exitcode:
            raise SystemExit(f"load of {lines} lines failed")
        return queue.get()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", default="100000,500000,2000000")
    parser.add_argument(
        "--memory-limit",
        default="",
        help="DuckDB memory_limit in the warehouse URL (default: the warehouse's own, 1GB)",
    )
    args = parser.parse_args()
    print(
        f"{'lines':>10} {'case':<9} {'load s':>7} {'lines/s':>8} {'rows':>10} {'quar.':>5} "
        f"{'chunks':>6} {'load peak MB':>12} {'+checks MB':>10} {'checks CPU s':>12} "
        f"{'DuckDB MB':>9} {'peak-DuckDB':>11}"
    )
    for lines in (int(n) for n in args.lines.split(",")):
        for bad in (False, True):
            seconds, rows, quarantined, chunks, load_peak, peak, checks_cpu, cache = measure(
                lines, bad, args.memory_limit or None
            )
            case = "bad line" if bad else "clean"
            print(
                f"{lines:>10,} {case:<9} {seconds:>7.1f} {lines / seconds:>8,.0f} {rows:>10,} "
                f"{quarantined:>5} {chunks:>6} {load_peak:>12.0f} {peak:>10.0f} "
                f"{checks_cpu:>12.1f} {cache:>9.0f} {peak - cache:>11.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
