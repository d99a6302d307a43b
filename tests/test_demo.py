"""`make demo`'s driver end to end, on one simulated day, in a subprocess with its own instance."""

import os
import shutil
import subprocess
import sys

import dagster as dg
import pytest

from modelmon_dagster.defs.resources import PROJECT_ROOT
from modelmon_dagster.warehouse import Warehouse


@pytest.mark.e2e
def test_demo_materialises_every_partition_of_a_day(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "MODELMON_DATA_DIR": str(tmp_path / "data")}
    env.pop("MODELMON_WAREHOUSE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "modelmon_dagster.demo", "--days", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "24/24 hours" in result.stdout
    assert "Performance by prediction day" in result.stdout
    assert (tmp_path / "data" / "reviews" / "fraud_detector" / "2026-11.html").exists()
    assert "Materialised per model: 1 baseline, 24 hourly and 1 daily partitions" in result.stdout

    # The runs are in the persistent instance, as `make ui` will show them.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.from_config(str(home))
    runs = instance.get_runs()
    # baseline; per model one ranged run over the day's hours and one daily run; the late-label
    # refresh; the review
    assert len(runs) == 1 + 2 * 2 + 1 + 1
    assert all(r.is_success for r in runs)
    ranged = [r for r in runs if r.job_name == "fraud_detector__hourly_monitoring"]
    assert ranged[0].tags["dagster/asset_partition_range_end"] == "2026-11-16-23:00"
    key = dg.AssetKey(["fraud_detector", "hourly_prediction_stats"])
    assert len(instance.get_materialized_partitions(key)) == 24
    assert instance.get_materialized_partitions(
        dg.AssetKey(["demand_forecaster", "daily_feature_histograms"])
    ) == {"2026-11-16"}

    warehouse = Warehouse(f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}")
    try:
        hours = warehouse.query_df(
            "SELECT model_name, count(*) AS hours, sum(n_predictions) AS n "
            "FROM hourly_prediction_stats GROUP BY model_name ORDER BY model_name"
        )
        assert hours["hours"].tolist() == [24, 24]
        assert (hours["n"] > 1000).all()
        daily = warehouse.query_df(
            "SELECT model_name, n_predictions, hours_present FROM daily_prediction_stats "
            "ORDER BY model_name"
        )
        assert daily["n_predictions"].tolist() == hours["n"].tolist()
        assert daily["hours_present"].tolist() == [24, 24]
    finally:
        warehouse.dispose()
