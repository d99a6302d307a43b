"""The warehouse retry policy reruns a step only after a connection failure (issue: retries).

A deterministic error (our code's, or a SQL error) fails the step at once, in one attempt, with
its message and traceback kept; a dropped PostgreSQL connection is still retried
(tests/test_dropped_connections.py); a DuckDB file locked by another process counts as a
connection failure, other DuckDB errors do not.
"""

import dataclasses
import datetime as dt
import subprocess
import sys
import time

import duckdb
import pytest
import sqlalchemy as sa
from factories import write_hour, write_reference
from pipeline import Pipeline, only

from modelmon_dagster.config import WarehouseRetry
from modelmon_dagster.defs.jobs import BASELINE_JOB, job_name
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings
from modelmon_dagster.defs.retry import is_connection_failure

HOUR = dt.datetime(2026, 11, 16, 3)
DELAY = 5.0  # the first retry would wait this long


def pipeline_on(tmp_path, demo_config) -> Pipeline:
    config = dataclasses.replace(
        only(demo_config, "fraud_detector"),
        warehouse_retry=WarehouseRetry(max_retries=3, delay_seconds=DELAY),
    )
    settings = Settings(
        config_path=PROJECT_ROOT / "config" / "models.yaml",
        data_dir=tmp_path / "data",
        warehouse_url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
    )
    return Pipeline(config, settings)


def attempts(result, step: str) -> tuple[int, int]:
    """(step starts, step retries) of ``step`` in a run."""
    events = [e for e in result.all_events if e.step_key == step]
    starts = sum(e.event_type_value in ("STEP_START", "STEP_RESTARTED") for e in events)
    retries = sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in events)
    return starts, retries


def failure_text(result, step: str) -> str:
    """The step's failure: description, error message and traceback, and its causes."""
    (event,) = [e for e in result.all_events if e.step_key == step and e.is_step_failure]
    data = event.step_failure_data
    parts = [data.user_failure_data.description if data.user_failure_data else ""]
    error = data.error
    while error is not None:
        parts += [error.message, "".join(error.stack)]
        error = error.cause
    return "\n".join(parts)


def test_an_error_in_our_code_fails_the_step_at_once_with_its_traceback(tmp_path, demo_config):
    pipeline = pipeline_on(tmp_path, demo_config)
    fraud = pipeline.config.models[0]
    data = tmp_path / "data"
    write_reference(data / fraud.baseline.reference_predictions, fraud, 300)  # labels missing
    started = time.monotonic()
    result = pipeline.run(BASELINE_JOB, raise_on_error=False)
    elapsed = time.monotonic() - started
    assert not result.success
    assert attempts(result, "fraud_detector__baseline") == (1, 0)
    assert elapsed < DELAY
    text = failure_text(result, "fraud_detector__baseline")
    assert "FileNotFoundError: fraud_detector: reference labels not found" in text
    assert "_read_reference" in text  # the traceback of the original error


def test_a_sql_error_fails_the_step_at_once(tmp_path, demo_config):
    pipeline = pipeline_on(tmp_path, demo_config)
    fraud = pipeline.config.models[0]
    data = tmp_path / "data"
    write_reference(
        data / fraud.baseline.reference_predictions,
        fraud,
        300,
        labels_path=data / fraud.baseline.reference_labels,
    )
    write_hour(data / "logs", fraud, HOUR, 300, seed=13)
    pipeline.baseline()
    pipeline.hour(HOUR)
    # the hour's stats table becomes a view: the step's rewrite of it is a SQL error
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE hourly_prediction_stats"))
        conn.execute(sa.text("CREATE VIEW hourly_prediction_stats AS SELECT 1 AS model_name"))
    engine.dispose()
    started = time.monotonic()
    result = pipeline.run(
        job_name("fraud_detector", "hourly"), HOUR.strftime("%Y-%m-%d-%H:%M"), raise_on_error=False
    )
    elapsed = time.monotonic() - started
    assert not result.success
    step = "fraud_detector__hourly_aggregates"
    assert attempts(result, step) == (1, 0)
    assert elapsed < DELAY + 30  # no retry's wait (the step itself takes seconds when loaded)
    assert "Catalog Error: Can only modify view" in failure_text(result, step)


def test_a_duckdb_file_locked_by_another_process_counts_as_a_connection_failure(tmp_path):
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        engine = sa.create_engine(f"duckdb:///{path}")
        with pytest.raises(sa.exc.OperationalError) as locked:
            engine.connect()
        engine.dispose()
    finally:
        holder.kill()
        holder.wait(10)
    assert "Could not set lock on file" in str(locked.value)
    assert is_connection_failure(locked.value)
    with pytest.raises(duckdb.IOException) as missing:  # an IO error a retry would meet again
        duckdb.sql(f"SELECT * FROM read_json('{tmp_path / 'absent.json'}')")
    assert not is_connection_failure(missing.value)
    with pytest.raises(sa.exc.ProgrammingError) as sql_error:
        with sa.create_engine(f"duckdb:///{tmp_path / 'other.duckdb'}").connect() as conn:
            conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not is_connection_failure(sql_error.value)


HOLD_LOCK = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""
