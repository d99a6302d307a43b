"""Benchmark: a backfill of the demo models through Dagster's services, serial vs parallel.

Usage: ``python bench/bench_parallel_backfill.py [--days N] [--modes serial,parallel]``

For each mode the demo config's models are simulated over ``--days`` days (not timed), then
``dagster dev`` (webserver, daemon, code server) starts on the mode's instance and the baseline
runs (not timed). Timed: one run per model and day over the day's 24 hours (ranged), all
submitted at once over GraphQL, then one ranged daily run per model, until every run ends.

* ``parallel``: the production instance as shipped (``deploy/dagster.postgres.yaml``: runs
  queued, up to 4 at once, 4 warehouse steps at once);
* ``serial``: the same file with one run and one warehouse step at a time (DuckDB's
  single-writer rule, as ``dagster_home/dagster.yaml`` sets it).

Both on a fresh PostgreSQL database (instance) with the warehouse in a schema of it; both launch
the same runs the same way, only the limits differ. Row counts of every warehouse table and the
warehouse's size on disk are compared between the modes.
"""

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.jobs import BASELINE_JOB, job_name
from modelmon_dagster.defs.resources import PROJECT_ROOT
from modelmon_dagster.service import DagsterDev
from modelmon_dagster.sim import simulate

PG_URL = os.environ.get(
    "MODELMON_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HOUR_KEY = "%Y-%m-%d-%H:%M"
INSTANCE_FILE = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"


def _range(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def _postgres_database() -> sa.URL:
    name = f"modelmon_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = sa.make_url(PG_URL).set(database=name)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA warehouse"))
    engine.dispose()
    return url


def _drop_database(url: sa.URL) -> None:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def _instance_file(mode: str) -> str:
    instance = yaml.safe_load(INSTANCE_FILE.read_text())
    if mode == "serial":
        instance["concurrency"]["runs"]["max_concurrent_runs"] = 1
        instance["concurrency"]["pools"]["default_limit"] = 1
    return yaml.safe_dump(instance)


def _environment(mode: str, work: Path, config_path: Path, pg: sa.URL) -> dict:
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_file(mode))
    env = {
        "DAGSTER_HOME": str(home),
        "MODELMON_CONFIG": str(config_path),
        "MODELMON_DATA_DIR": str(work / "data"),
    }
    warehouse = pg.set(query={"options": "-csearch_path=warehouse"})
    env["MODELMON_WAREHOUSE_URL"] = warehouse.render_as_string(hide_password=False)
    return env | {
        "DAGSTER_PG_HOST": pg.host,
        "DAGSTER_PG_PORT": str(pg.port or 5432),
        "DAGSTER_PG_DB": pg.database,
        "DAGSTER_PG_USERNAME": pg.username,
        "DAGSTER_PG_PASSWORD": pg.password or "",
    }


def _row_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {
                n: conn.execute(sa.text(f'select count(*) from "{n}"')).scalar_one()
                for n in sorted(names)
            }
    finally:
        engine.dispose()


def _warehouse_bytes(url: str) -> int:
    """On-disk size of the warehouse: the DuckDB file, or the PostgreSQL schema's relations."""
    if url.startswith("duckdb:///"):
        return Path(url.removeprefix("duckdb:///")).stat().st_size
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c "
                        "join pg_namespace n on n.oid = c.relnamespace "
                        "where n.nspname = current_schema() and c.relkind = 'r'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


STEP_FAILURES = """
query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
  ... on ExecutionStepFailureEvent { stepKey error { message causes { message } } } } } } }
"""


def _wait_all(dev: DagsterDev, run_ids: list[str]) -> list[dict]:
    runs = dev.wait_finished(run_ids, timeout=3600)
    failed = [r for r in runs if r["status"] != "SUCCESS"]
    if failed:
        errors = [dev.query(STEP_FAILURES, {"id": r["runId"]}) for r in failed]
        raise RuntimeError(f"runs failed: {json.dumps(errors)[:4000]}")
    return runs


def run_mode(mode: str, days: int, work: Path) -> dict:
    """One backfill in ``mode``; timings and the warehouse's row counts."""
    first_day = dt.date.today() - dt.timedelta(days=days + 1)
    start = dt.datetime.combine(first_day, dt.time())
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "models.yaml").read_text())
    raw["partitions"]["start_date"] = first_day.isoformat()
    config_path = work / "models.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    config = load_config(config_path)
    simulate(config, work / "data", start, days, seed=11)
    pg = _postgres_database()
    env = _environment(mode, work, config_path, pg)
    try:
        with DagsterDev(env) as dev:
            _wait_all(dev, [dev.launch(BASELINE_JOB, {})])
            began = time.perf_counter()
            hourly = []
            for model in config.models:
                for d in range(days):
                    day = start + dt.timedelta(days=d)
                    last = day + dt.timedelta(hours=23)
                    tags = _range(day.strftime(HOUR_KEY), last.strftime(HOUR_KEY))
                    hourly.append(dev.launch(job_name(model.name, "hourly", backfill=True), tags))
            _wait_all(dev, hourly)
            hourly_s = time.perf_counter() - began
            last_day = start + dt.timedelta(days=days - 1)
            tags = _range(start.strftime("%Y-%m-%d"), last_day.strftime("%Y-%m-%d"))
            daily = [
                dev.launch(job_name(m.name, "daily", backfill=True), tags) for m in config.models
            ]
            _wait_all(dev, daily)
            total_s = time.perf_counter() - began
        counts = _row_counts(env["MODELMON_WAREHOUSE_URL"])
        size = _warehouse_bytes(env["MODELMON_WAREHOUSE_URL"])
    finally:
        _drop_database(pg)
    return {
        "mode": mode,
        "days": days,
        "models": len(config.models),
        "runs": len(hourly) + len(daily),
        "hourly_s": round(hourly_s, 1),
        "total_s": round(total_s, 1),
        "warehouse_mb": round(size / 1e6, 1),
        "raw_prediction_rows": sum(v for k, v in counts.items() if k.endswith("__raw_predictions")),
        "row_counts": counts,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--modes", default="serial,parallel")
    args = parser.parse_args(argv)
    results = []
    for mode in args.modes.split(","):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix=f"bench_backfill_{mode}_") as tmp:
            result = run_mode(mode, args.days, Path(tmp))
        result["load_before"] = round(load, 1)
        results.append(result)
        print(json.dumps(result), flush=True)
    if len(results) == 2:
        a, b = results
        same = a["row_counts"] == b["row_counts"]
        print(f"row counts equal: {same}; serial/parallel = {a['total_s'] / b['total_s']:.2f}")
        if not same:
            print(json.dumps({a["mode"]: a["row_counts"], b["mode"]: b["row_counts"]}, indent=1))
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M")
    payload = {"cpus": os.cpu_count(), "machine": platform.machine(), "results": results}
    (out / f"backfill_{stamp}.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    sys.exit(main())
