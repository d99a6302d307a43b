"""`make demo`'s driver end to end, on the last day up to now, with its own instance."""

import datetime as dt
import os
import shutil
import subprocess
import sys

import dagster as dg
import pytest

from modelmon_dagster.defs.resources import PROJECT_ROOT
from modelmon_dagster.warehouse import Warehouse


@pytest.mark.e2e
def test_demo_runs_the_pipeline_over_the_hours_up_to_now(tmp_path, monkeypatch):
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
    began = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    result = subprocess.run(
        [sys.executable, "-m", "modelmon_dagster.demo", "--days", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
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
