"""The metric store holds the same numbers pandas computes from the raw records (both engines)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from factories import write_hour, write_reference
from pipeline import Pipeline, only

from modelmon_dagster.metrics.store import read_metrics
from modelmon_dagster.warehouse import Warehouse

DAY = dt.datetime(2026, 11, 16)
HOURS = [DAY + dt.timedelta(hours=h) for h in (2, 3)]


@pytest.fixture
def stored(settings, demo_config, fraud):
    write_reference(
        settings.data_dir / fraud.baseline.reference_predictions,
        fraud,
        2000,
        labels_path=settings.data_dir / fraud.baseline.reference_labels,
    )
    records = []
    for hour, n in zip(HOURS, (300, 450), strict=True):
        records += [r | {"hour": hour} for r in write_hour(settings.logs_root, fraud, hour, n, 4)]
    pipeline = Pipeline(only(demo_config, "fraud_detector"), settings)
    pipeline.baseline()
    pipeline.backfill("hourly", HOURS[0], HOURS[-1])
    pipeline.day(DAY)
    warehouse = Warehouse(settings.warehouse_url)
    yield records, warehouse
    warehouse.dispose()


def test_hourly_metrics_equal_pandas(stored):
    records, warehouse = stored
    frame = pd.DataFrame(records)
    series = read_metrics(warehouse, "fraud_detector", "hourly")
    for hour, rows in frame.groupby("hour"):
        got = series[series["period_start"] == hour]
        value = got.set_index(["metric", "dimension"])["value"]
        n = len(rows)
        assert value[("volume", "")] == n
        assert value[("error_rate", "")] == pytest.approx((rows["status"] == "error").mean())
        latencies = rows["latency_ms"].to_numpy()
        assert value[("latency_p99_ms", "")] == pytest.approx(np.quantile(latencies, 0.99))
        assert value[("host_cpu_pct", "")] == pytest.approx(10.0)
        assert value[("host_memory_mb", "")] == pytest.approx(500.0)
        ages = rows["features"].map(lambda f: f.get("account_age_days"))
        assert value[("mean", "account_age_days")] == pytest.approx(ages.mean(), rel=1e-9)
        scores = rows["score"].dropna()
        assert value[("mean", "score")] == pytest.approx(scores.mean(), rel=1e-9)
        positives = (rows["prediction"] == "1").sum()
        judged = rows["prediction"].notna().sum()
        assert value[("positive_rate", "")] == pytest.approx(positives / judged)
        assert value[("null_rate", "amount")] == 0.0
        assert set(got["model_version"]) == {"v1"}


def test_daily_metrics_roll_up_the_hours(stored):
    records, warehouse = stored
    frame = pd.DataFrame(records)
    daily = read_metrics(warehouse, "fraud_detector", "daily").set_index(["metric", "dimension"])
    assert daily.loc[("volume", ""), "value"] == len(frame)
    errors = (frame["status"] == "error").sum()
    assert daily.loc[("error_rate", ""), "events"] == errors
    assert daily.loc[("error_rate", ""), "n"] == len(frame)
    # daily percentiles come from the merged log histogram: within one bin (4.7 %)
    p99 = np.quantile(frame["latency_ms"], 0.99)
    assert daily.loc[("latency_p99_ms", ""), "value"] == pytest.approx(p99, rel=0.05)
