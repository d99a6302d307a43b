"""Window edges: a day's partition holds its 24 hours, not the neighbours' first or last hour.

Data sits on both sides of each boundary (23:00 the day before, 00:00 and 23:00 of the day,
00:00 the day after), and every daily SQL model is run for the one day. Issue #10: the daily
histogram window including the next day's first hour (``<=`` on the window end) went unnoticed.
"""

import datetime as dt

import pytest
from factories import store_baseline, write_hour, write_labels, write_reference

from modelmon_dagster.baseline import (
    load_baseline,
)
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.sql import SqlProject, run_model_window

DAY = dt.datetime(2026, 11, 16)
NEXT_DAY = DAY + dt.timedelta(days=1)
SIZES = {
    DAY - dt.timedelta(hours=1): 50,  # the day before's last hour
    DAY: 60,
    DAY + dt.timedelta(hours=23): 70,
    NEXT_DAY: 80,  # the next day's first hour
}
INSIDE = [h for h in SIZES if DAY <= h < NEXT_DAY]
LABELS_LATE_IN_DAY, LABELS_NEXT_DAY = DAY + dt.timedelta(hours=23), NEXT_DAY

# daily model -> (its count column, the hourly table it sums, or None when it reads raw rows)
ROLLUPS = {
    "daily_prediction_stats": ("n_predictions", "hourly_prediction_stats"),
    "daily_status_counts": ("n", "hourly_status_counts"),
    "daily_latency_histogram": ("n", "hourly_latency_histogram"),
    "daily_feature_stats": ("n", "hourly_feature_stats"),
    "daily_feature_histograms": ("n", "hourly_feature_histograms"),
    "daily_segment_histograms": ("n", "hourly_segment_histograms"),
}


@pytest.fixture
def edges(warehouse, tmp_path, fraud):
    ref_path, labels_path = tmp_path / "ref.jsonl", tmp_path / "ref_labels.jsonl"
    write_reference(ref_path, fraud, 1500, labels_path=labels_path)
    store_baseline(warehouse, fraud, ref_path, labels_path)
    baseline = load_baseline(warehouse, fraud)
    logs = tmp_path / "logs"
    records = {h: write_hour(logs, fraud, h, n, seed=3) for h, n in SIZES.items()}
    ok = [r for h in SIZES for r in records[h] if r["status"] == "ok"]
    # every ok prediction gets a label: half arrive at 23:00 of the day, half at 00:00 after
    late = {r["prediction_id"]: "1" if r["score"] > 0.5 else "0" for r in ok[::2]}
    after = {r["prediction_id"]: "0" for r in ok[1::2]}
    write_labels(logs, fraud, LABELS_LATE_IN_DAY, late)
    write_labels(logs, fraud, LABELS_NEXT_DAY, after)
    for hour in SIZES:
        load_prediction_hour(warehouse, fraud, logs, hour)
    for hour in (LABELS_LATE_IN_DAY, LABELS_NEXT_DAY):
        load_label_hour(warehouse, fraud, logs, hour)
    project = SqlProject.load(SQL_PROJECT_DIR)
    first, last = min(SIZES), max(SIZES) + dt.timedelta(hours=1)
    for sql_model in project.by_grain("hourly"):
        run_model_window(warehouse, project, sql_model, fraud, first, last, baseline)
    for sql_model in project.by_grain("daily"):
        run_model_window(warehouse, project, sql_model, fraud, DAY, NEXT_DAY, baseline)
    return {"records": records, "late_labels": late}


def daily_rows(warehouse, table):
    return warehouse.query_df(f"SELECT * FROM {table}")


def test_daily_rollups_hold_exactly_the_days_hours(warehouse, edges):
    for table, (count, hourly_table) in ROLLUPS.items():
        daily = daily_rows(warehouse, table)
        assert len(daily) > 0 and set(daily["day_start"]) == {DAY}, table
        hourly = warehouse.query_df(
            f"SELECT {count} FROM {hourly_table} WHERE hour_start >= :s AND hour_start < :e",
            {"s": DAY, "e": NEXT_DAY},
        )
        assert daily[count].sum() == hourly[count].sum() > 0, table
    stats = daily_rows(warehouse, "daily_prediction_stats").iloc[0]
    assert stats["n_predictions"] == sum(SIZES[h] for h in INSIDE)
    assert stats["hours_with_predictions"] == len(INSIDE)


def test_label_models_read_only_the_days_predictions_and_labels(warehouse, edges):
    ok = [r for h in INSIDE for r in edges["records"][h] if r["status"] == "ok"]
    counts = daily_rows(warehouse, "daily_performance_counts")
    overall = counts[counts["segment_column"] == "__all__"].iloc[0]
    assert set(counts["day_start"]) == {DAY}
    assert overall["n_predictions"] == len(ok) and overall["n_labelled"] == len(ok)
    hist = daily_rows(warehouse, "daily_score_histogram")
    assert set(hist["day_start"]) == {DAY} and hist["n"].sum() == len(ok)
    confusion = daily_rows(warehouse, "daily_confusion_counts")
    assert set(confusion["day_start"]) == {DAY} and confusion["n"].sum() == len(ok)
    # labels count by arrival: those of 23:00 belong to the day, those of 00:00 to the next
    labels = daily_rows(warehouse, "daily_label_histogram")
    assert set(labels["day_start"]) == {DAY}
    assert labels["n"].sum() == len(edges["late_labels"])
