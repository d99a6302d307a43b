"""Quality checks: GX grading on real frames, and the Dagster wiring (blocking, severities)."""

import datetime as dt
import json

import numpy as np
import pytest
from factories import prediction_record, write_hour, write_reference
from pipeline import Pipeline

from modelmon_dagster.baseline import load_baseline
from modelmon_dagster.checks import quality_outcome, schema_outcome
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.logformat import PREDICTIONS, hour_folder
from modelmon_dagster.quality.suite import ERROR, WARN, validate_batch
from modelmon_dagster.warehouse import Warehouse

HOUR = dt.datetime(2026, 11, 16, 4)


def write_broken_hour(logs_root, model, hour, n, broken_fraction, mutate, seed=3):
    rng = np.random.default_rng(seed)
    records = [prediction_record(model, hour + dt.timedelta(seconds=i), i, rng) for i in range(n)]
    for r in records[: int(n * broken_fraction)]:
        mutate(r)
    folder = hour_folder(logs_root, PREDICTIONS, model.name, hour)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")


@pytest.fixture
def ready(settings, demo_config):
    for model in demo_config.models:
        write_reference(
            settings.data_dir / model.baseline.reference_predictions,
            model,
            4000,
            labels_path=settings.data_dir / model.baseline.reference_labels,
        )
    pipeline = Pipeline(demo_config, settings)
    pipeline.baseline()
    wh = Warehouse(settings.warehouse_url)
    yield pipeline, wh
    wh.dispose()


def outcomes(settings, wh, model):
    ingest = load_prediction_hour(wh, model, settings.logs_root, HOUR)
    baseline = load_baseline(wh, model)
    complete = {c.column.name: c.categories_complete for c in baseline.columns}
    report = validate_batch(ingest.table.to_pandas(), model, baseline, complete)
    return (
        schema_outcome(ingest, report, model.thresholds),
        quality_outcome(ingest, report, model.thresholds),
        report,
    )


def missing_amount(r):
    r["features"].pop("amount")


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_grading_by_fraction(ready, settings, fraud):
    _, wh = ready
    write_broken_hour(settings.logs_root, fraud, HOUR, 1000, 0.30, missing_amount)
    schema, quality, report = outcomes(settings, wh, fraud)
    assert not schema.passed and schema.severity == ERROR
    assert [f["column"] for f in schema.metadata["failed_expectations"]] == [
        "f_amount",
        "schema_errors",
    ]
    assert schema.metadata["failed_expectations"][0]["unexpected_fraction"] == pytest.approx(0.30)

    write_broken_hour(settings.logs_root, fraud, HOUR, 1000, 0.01, missing_amount)
    schema, quality, _ = outcomes(settings, wh, fraud)
    assert schema.passed  # 1 % is below the 5 % ERROR rate ...
    assert not quality.passed and quality.severity == WARN  # ... but above the 0.1 % WARN rate
    assert "f_amount" in quality.description


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_out_of_range_and_unseen_categories_warn(ready, settings, fraud):
    _, wh = ready

    def odd(r):
        r["features"]["txn_count_24h"] = 10_000.0
        r["features"]["country"] = "atlantis"

    write_broken_hour(settings.logs_root, fraud, HOUR, 500, 0.05, odd)
    schema, quality, _ = outcomes(settings, wh, fraud)
    assert schema.passed
    failed = {(f["column"], f["expectation"]) for f in quality.metadata["failed_expectations"]}
    assert ("f_txn_count_24h", "expect_column_values_to_be_between") in failed
    assert ("f_country", "expect_column_values_to_be_in_set") in failed
    sample = next(f for f in quality.metadata["failed_expectations"] if f["column"] == "f_country")
    assert sample["sample"][0] == "atlantis" and sample["unexpected_count"] == 25
    assert sample["failing_rows"][0] == {
        "prediction_id": "fraud_detector-2026111604-0",
        "f_country": "atlantis",
    }


def test_blocking_schema_check_stops_only_that_models_aggregates(ready, settings, fraud, demand):
    pipeline, wh = ready
    write_broken_hour(settings.logs_root, fraud, HOUR, 800, 0.4, missing_amount)
    write_hour(settings.logs_root, demand, HOUR, 300)
    result = pipeline.defs.resolve_job_def("hourly_monitoring_job").execute_in_process(
        instance=pipeline.instance,
        partition_key=HOUR.strftime("%Y-%m-%d-%H:%M"),
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        raise_on_error=False,
    )
    assert not result.success
    checks = {(e.asset_key.path[0], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert not checks[("fraud_detector", "schema")].passed
    assert checks[("fraud_detector", "schema")].severity.value == "ERROR"
    assert checks[("demand_forecaster", "schema")].passed
    materialized = {
        tuple(e.materialization.asset_key.path) for e in result.get_asset_materialization_events()
    }
    assert ("fraud_detector", "raw_predictions") in materialized
    assert ("fraud_detector", "hourly_prediction_stats") not in materialized
    assert ("demand_forecaster", "hourly_prediction_stats") in materialized
    assert ("demand_forecaster", "hourly_drift") in materialized
    # the clean model's drift and volume checks ran and passed (no history: volume says so)
    assert checks[("demand_forecaster", "feature_drift")].passed
    volume = checks[("demand_forecaster", "volume")]
    assert volume.passed and "history" in volume.description


def test_empty_hour_is_reported_not_passed(ready, settings):
    pipeline, _ = ready
    result = pipeline.hour(HOUR)
    checks = {(e.asset_key.path[0], e.check_name): e for e in result.get_asset_check_evaluations()}
    schema = checks[("fraud_detector", "schema")]
    assert not schema.passed and schema.severity.value == "WARN"
    assert "no records" in schema.description
    volume = checks[("fraud_detector", "volume")]
    assert not volume.passed and volume.severity.value == "ERROR"
    drift = checks[("fraud_detector", "feature_drift")]
    assert not drift.passed and "no data" in drift.description
    assert ("fraud_detector", "null_rate") not in checks  # not judged: no evaluation


def test_null_rate_check_fails_on_an_optional_feature_going_missing(ready, settings, fraud):
    # device_type is optional: missing values are no schema error, so nothing else sees them.
    pipeline, _ = ready

    def no_device(r):
        r["features"]["device_type"] = None

    write_broken_hour(settings.logs_root, fraud, HOUR, 1000, 0.4, no_device)
    result = pipeline.hour(HOUR)
    checks = {(e.asset_key.path[0], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert checks[("fraud_detector", "schema")].passed
    null_rate = checks[("fraud_detector", "null_rate")]
    assert not null_rate.passed and null_rate.severity.value == "ERROR"
    assert null_rate.metadata["changed_columns"].value == ["device_type"]
    # The empty hour of the other model is not judged: no evaluation, never a failure.
    assert ("demand_forecaster", "null_rate") not in checks
