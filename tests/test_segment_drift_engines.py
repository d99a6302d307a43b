"""Segment drift decided through the real SQL on both engines (the scenario tests run DuckDB only).

One country's amounts move by two standard deviations; the other countries stay as on the
reference. Only that segment value drifts, at ERROR, with the effect on the raw rows.
"""

import datetime as dt
import json

import numpy as np
import pytest
from factories import store_baseline, write_hour, write_reference

from modelmon_dagster.baseline import load_baseline
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.drift import compute_segment_drift, segment_drift_outcome
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.logformat import PREDICTIONS, hour_folder
from modelmon_dagster.sql import SqlProject, run_model_window

DAY = dt.datetime(2026, 11, 16)
SHIFT = 30.0  # two standard deviations of the factories' amounts (normal 100, 15)


def test_one_countrys_shift_is_segment_drift_at_error(warehouse, tmp_path, fraud):
    ref_path = tmp_path / "ref.jsonl"
    write_reference(ref_path, fraud, 3000)
    _, frame = store_baseline(warehouse, fraud, ref_path)
    baseline = load_baseline(warehouse, fraud)
    logs = tmp_path / "logs"
    shifted = []
    for h in range(3):
        hour = DAY + dt.timedelta(hours=h)
        records = write_hour(logs, fraud, hour, 500, seed=5)
        for r in records:
            if r["features"]["country"] == "a":
                r["features"]["amount"] += SHIFT
                shifted.append(r["features"]["amount"])
        folder = hour_folder(logs, PREDICTIONS, fraud.name, hour)
        (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
        load_prediction_hour(warehouse, fraud, logs, hour)
    project = SqlProject.load(SQL_PROJECT_DIR)
    end = DAY + dt.timedelta(days=1)
    for grain in ("hourly", "daily"):
        for sql_model in project.by_grain(grain):
            if ("logs", "raw_labels") not in sql_model.sources:
                run_model_window(warehouse, project, sql_model, fraud, DAY, end, baseline)

    drift = compute_segment_drift(warehouse, fraud, DAY, end)
    outcome = segment_drift_outcome(drift, fraud)
    assert outcome.passed is False and outcome.severity == "ERROR"
    worst = outcome.metadata["worst"][0]
    assert (worst["segment"], worst["column"]) == ("country=a", "amount")
    countries = drift[(drift["segment_column"] == "country") & (drift["column_name"] == "amount")]
    flagged = set(countries.loc[countries["drifted"].astype(bool), "segment_value"])
    assert flagged == {"a"}
    # W1/std of a pure shift is the shift over the reference std (within the stated bound)
    row = countries[countries["segment_value"] == "a"].iloc[0]
    country, amount = fraud.feature("country").column, fraud.feature("amount").column
    ref_a = frame.loc[frame[country] == "a", amount].astype(float)
    assert row["effect_size"] == pytest.approx(SHIFT / ref_a.std(ddof=0), abs=0.15)
    assert np.mean(shifted) > ref_a.mean() + SHIFT / 2
