"""The rerun guarantee, stated in README "Reliability" (issue 9, "Also").

Rerunning a partition gives the same rows: every key, count and text exactly, and every
floating-point number to within 1e-12 of its column's magnitude. Float sums are not promised
bit-identical: the engines add in parallel, in an order that may change between runs.
"""

import datetime as dt

import pandas as pd
import pytest
from factories import write_hour, write_reference
from pipeline import Pipeline, only
from tables import same_rows, snapshot

from modelmon_dagster.warehouse import Warehouse

DAY = dt.datetime(2026, 11, 16)
HOURS = [DAY + dt.timedelta(hours=h) for h in (3, 4)]
RELATIVE = 1e-12


def same_within_guarantee(table: str, before: pd.DataFrame, after: pd.DataFrame) -> None:
    same_rows(table, before, after, RELATIVE)


def test_a_rerun_reproduces_every_table_within_the_stated_guarantee(settings, demo_config, fraud):
    config = only(demo_config, "fraud_detector")
    write_reference(
        settings.data_dir / fraud.baseline.reference_predictions,
        fraud,
        2000,
        labels_path=settings.data_dir / fraud.baseline.reference_labels,
    )
    for hour in HOURS:
        write_hour(settings.logs_root, fraud, hour, 1500, seed=11, extra_lines=["{bad"])
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    wh = Warehouse(settings.warehouse_url)
    try:
        for hour in HOURS:
            pipeline.hour(hour)
        pipeline.day(DAY)
        first = snapshot(wh)
        for hour in reversed(HOURS):  # another order, the same result
            pipeline.hour(hour)
        pipeline.day(DAY)
        second = snapshot(wh)
    finally:
        wh.dispose()
    assert first.keys() == second.keys()
    assert {"fraud_detector__raw_predictions", "hourly_prediction_stats"} <= set(first)
    assert len(first["fraud_detector__raw_predictions"]) == 3000
    for table in first:
        same_within_guarantee(table, first[table], second[table])


def test_the_comparison_catches_a_difference_beyond_the_guarantee():
    before = pd.DataFrame({"k": ["a", "b"], "x": [1.0, 2.0]})
    same_within_guarantee("t", before, before.assign(x=[1.0, 2.0 * (1 + 1e-13)]))
    with pytest.raises(AssertionError):
        same_within_guarantee("t", before, before.assign(x=[1.0, 2.0 * (1 + 1e-10)]))
    with pytest.raises(AssertionError):
        same_within_guarantee("t", before, pd.concat([before, before]))
