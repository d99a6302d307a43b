"""`make demo`'s driver end to end, on the last day up to now, with its own instance."""

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from modelmon_dagster.defs.resources import PROJECT_ROOT
from modelmon_dagster.warehouse import Warehouse


def demo_env(tmp_path) -> dict:
    """The demo's environment: its own instance and data folder, DuckDB, no alert routes."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "MODELMON_DATA_DIR": str(tmp_path / "data")}
    for name in (
        "MODELMON_WAREHOUSE_URL",
        "MODELMON_ALERTS_ONCALL_URL",
        "MODELMON_ALERTS_DIGEST_URL",
    ):
        env.pop(name, None)
    return env


@pytest.mark.e2e
def test_demo_runs_the_pipeline_over_the_hours_up_to_now(tmp_path, monkeypatch):
    env = demo_env(tmp_path)
    home = tmp_path / "dagster_home"
    began = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    # Started with SIGTERM ignored, as pytest-xdist's workers start it (an ignored signal is
    # inherited). Regression: run from the demo's thread, Dagster could not install its
    # handlers, its `tail -F` log followers inherited the ignored SIGTERM, and every step
    # waited 2 x 30 s for them to end: the demo took over 10 minutes instead of seconds.
    result = subprocess.run(
        [sys.executable, "-m", "modelmon_dagster.demo", "--days", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Failed checks" in out and "Registry history" in out and "Done in" in out
    assert "Notifications received by the local webhook" in out
    assert "by demo: the version in production when monitoring began" in out  # no "nan on nan"
    start = dt.datetime.combine(began.date(), dt.time())
    if start == began:
        start -= dt.timedelta(days=1)
    hours = int((began - start) / dt.timedelta(hours=1))

    # The runs are in the persistent instance, as `make ui` will show them.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.from_config(str(home))
    runs = instance.get_runs()
    assert runs and all(r.is_success for r in runs)
    ranged = [r for r in runs if r.job_name == "fraud_detector__hourly_backfill"]
    assert ranged[0].tags["dagster/asset_partition_range_start"] == f"{start:%Y-%m-%d-%H:%M}"
    key = dg.AssetKey(["fraud_detector", "hourly_prediction_stats"])
    assert len(instance.get_materialized_partitions(key)) == hours

    warehouse = Warehouse(f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}")
    try:
        stats = warehouse.query_df(
            "SELECT model_name, count(*) AS hours, sum(n_predictions) AS n "
            "FROM hourly_prediction_stats GROUP BY model_name ORDER BY model_name"
        )
        assert stats["hours"].tolist() == [hours, hours]
        assert (stats["n"] > 20 * hours).all()
        events = warehouse.query_df("SELECT model_name, kind, version FROM registry_events")
        assert set(zip(events["model_name"], events["kind"], events["version"], strict=True)) >= {
            ("fraud_detector", "promoted", "v1"),
            ("demand_forecaster", "promoted", "v1"),
        }
        assert warehouse.scalar("SELECT count(*) FROM check_results") > 0
    finally:
        warehouse.dispose()
    # the review of the month
    assert list((tmp_path / "data" / "reviews" / "fraud_detector").glob("*.html"))
    # the health dashboard of the day so far, and the URL make dashboard serves it at
    assert list((tmp_path / "data" / "dashboard").glob("*/fraud_detector.html"))
    assert (tmp_path / "data" / "dashboard" / "index.html").exists()
    assert "http://127.0.0.1:8050/index.html" in out


@pytest.mark.e2e
def test_ctrl_c_stops_the_demo_in_the_middle_of_a_run_within_seconds(tmp_path, monkeypatch):
    env = demo_env(tmp_path)
    out, err = (tmp_path / "demo.out").open("w"), (tmp_path / "demo.err").open("w")
    demo = subprocess.Popen(
        [sys.executable, "-m", "modelmon_dagster.demo", "--days", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=out,
        stderr=err,
        # as a terminal's Ctrl-C finds it: SIGINT at its default (pytest-xdist may ignore it)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    try:
        running = None
        deadline = time.monotonic() + 400
        while running is None and demo.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            if "[3/4]" not in (tmp_path / "demo.out").read_text():
                continue  # the instance is wiped at the start; runs only from [2/4] on
            with dg.DagsterInstance.get() as instance:
                started = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                running = started[0] if started else None
        assert running is not None, (tmp_path / "demo.out").read_text()
        began = time.monotonic()
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - began
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        out.close()
        err.close()
    stderr = (tmp_path / "demo.err").read_text()
    assert took < 10, stderr[-3000:]
    assert demo.returncode == 130, stderr[-3000:]
    assert "Interrupted (Ctrl-C): stopping make demo." in stderr
    assert "Traceback" not in stderr
    with dg.DagsterInstance.get() as instance:
        statuses = {r.run_id: r.status for r in instance.get_runs()}
    assert statuses[running.run_id] == dg.DagsterRunStatus.CANCELED
    assert f"run {running.run_id} ({running.job_name}) marked canceled" in stderr
    assert dg.DagsterRunStatus.STARTED not in statuses.values()
