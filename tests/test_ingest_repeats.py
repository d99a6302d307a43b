"""Regression tests for repeated ids and corrected labels (issue 9, items 6 and 7).

Before the fix, an id repeated in another hour was stored (and counted) twice; a label corrected
within its hour was quarantined as a duplicate so the stale label won; a label stamped in 2099
won "latest label" forever.
"""

import datetime as dt
import json

import numpy as np
import pytest
import sqlalchemy as sa
from factories import prediction_record

from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.ingest import load
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.ingest.tables import raw_predictions_table
from modelmon_dagster.logformat import LABELS, PREDICTIONS, format_timestamp, hour_folder
from modelmon_dagster.sql import SqlProject, run_model_window
from modelmon_dagster.training.data import load_labelled
from modelmon_dagster.warehouse import Warehouse

HOUR = dt.datetime(2026, 11, 16, 10)
REPEAT = "prediction_id already stored in another hour"


def ok_records(model, hour, ids):
    rng = np.random.default_rng(hour.hour)
    recs = []
    for i, pid in enumerate(ids):
        rec = prediction_record(model, hour + dt.timedelta(seconds=i), i, rng)
        rec.update(prediction_id=pid, status="ok", error_type=None, score=0.9)
        rec["prediction"] = model.classes[1]
        recs.append(rec)
    return recs


def write(root, stream, model, hour, records, name="w.jsonl"):
    folder = hour_folder(root, stream, model.name, hour)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def count(warehouse, table, where="true", params=None):
    return warehouse.scalar(f'SELECT count(*) FROM "{table}" WHERE {where}', params)


def test_id_already_stored_in_another_hour_is_quarantined_as_a_repeat(warehouse, tmp_path, fraud):
    later = HOUR + dt.timedelta(hours=5)
    write(tmp_path, PREDICTIONS, fraud, HOUR, ok_records(fraud, HOUR, ["a", "b", "c"]))
    write(tmp_path, PREDICTIONS, fraud, later, ok_records(fraud, later, ["d", "b", "e"]))
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    result = load_prediction_hour(warehouse, fraud, tmp_path, later)
    assert (result.rows, result.quarantined) == (2, 1)
    assert result.quarantine_reasons == {REPEAT: 1}
    q = warehouse.query_df("SELECT line_no, reason, raw_line FROM quarantined_lines")
    assert q["line_no"].tolist() == [2] and '"prediction_id": "b"' in q["raw_line"][0]
    # Reruns of either hour keep the first stored copy: the id is counted once.
    assert load_prediction_hour(warehouse, fraud, tmp_path, later) == result
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    table = "fraud_detector__raw_predictions"
    assert count(warehouse, table) == 5
    assert count(warehouse, table, "prediction_id = 'b'") == 1


def test_repeats_outside_the_label_delay_span_are_not_looked_up(warehouse, tmp_path, fraud):
    far = HOUR + dt.timedelta(hours=fraud.label_delay.max_hours + 1)
    write(tmp_path, PREDICTIONS, fraud, HOUR, ok_records(fraud, HOUR, ["a"]))
    write(tmp_path, PREDICTIONS, fraud, far, ok_records(fraud, far, ["a"]))
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    assert load_prediction_hour(warehouse, fraud, tmp_path, far).rows == 1


def label(pid, value, ts):
    return {
        "prediction_id": pid,
        "model_name": "fraud_detector",
        "label": value,
        "label_timestamp": format_timestamp(ts),
    }


def test_corrected_labels_are_kept_and_the_latest_wins_in_every_join(warehouse, tmp_path, fraud):
    write(tmp_path, PREDICTIONS, fraud, HOUR, ok_records(fraud, HOUR, ["p1", "p2", "p3"]))
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    arrival = HOUR + dt.timedelta(hours=2)
    t = arrival + dt.timedelta(minutes=10)
    labels = [
        label("p1", "1", t + dt.timedelta(minutes=1)),  # later label_ts wins over later line
        label("p1", "0", t),
        label("p2", "0", t),  # same label_ts: the later line (arrival) wins
        label("p2", "1", t),
        label("p3", "0", t),
    ]
    # A clean file (fast path): repeated ids still get line numbers for the arrival order.
    write(tmp_path, LABELS, fraud, arrival, labels)
    result = load_label_hour(warehouse, fraud, tmp_path, arrival)
    assert (result.rows, result.quarantined) == (5, 0)
    frame = load_labelled(
        warehouse, fraud, HOUR, HOUR + dt.timedelta(hours=1), arrival + dt.timedelta(hours=1)
    )
    assert dict(zip(frame["prediction_id"], frame["label_text"], strict=True)) == {
        "p1": "1",
        "p2": "1",
        "p3": "0",
    }
    project = SqlProject.load(SQL_PROJECT_DIR)
    day = dt.datetime(2026, 11, 16)
    sql_model = project.models["daily_confusion_counts"]
    run_model_window(warehouse, project, sql_model, fraud, day, day + dt.timedelta(days=1))
    confusion = warehouse.query_df("SELECT label, prediction, n FROM daily_confusion_counts")
    assert sorted(zip(confusion["label"], confusion["n"], strict=True)) == [("0", 1), ("1", 2)]


def test_label_stamped_beyond_its_arrival_hour_is_quarantined(warehouse, tmp_path, fraud):
    arrival = HOUR + dt.timedelta(hours=2)
    end = arrival + dt.timedelta(hours=1)
    labels = [
        label("p1", "1", dt.datetime(2099, 1, 1)),
        label("p2", "1", end + dt.timedelta(minutes=14)),  # within the clock-skew allowance
        label("p3", "1", end + dt.timedelta(minutes=16)),
    ]
    write(tmp_path, LABELS, fraud, arrival, labels)
    result = load_label_hour(warehouse, fraud, tmp_path, arrival)
    assert result.rows == 1
    assert result.quarantine_reasons == {"label_timestamp after its arrival hour": 2}


def _plan(conn, table, params, settings):
    """The repeat lookup's plan under ``settings`` (the transaction's, put back after)."""
    sql = load.probe_elsewhere_sql(f'"{table}"')
    with load.planner_settings(conn, settings):
        plan = conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar()
    return json.dumps(plan)


@pytest.mark.postgres
def test_postgres_repeat_lookup_probes_the_id_index_whatever_is_stored(
    postgres_schema_url, tmp_path, fraud
):
    # Regression (session 21): the planner hashed the hour's ids and scanned every row of the
    # ±label_delay span (145 hours by default), so each hour's lookup grew with the traffic
    # stored around it (bench/bench_history.py: 0.84 s with 1 day stored, 1.37 s with 5).
    # The lookup must probe the prediction_id index, analysed or not, and put the
    # transaction's planner settings back.
    warehouse = Warehouse(postgres_schema_url)
    statements = []
    sa.event.listen(
        warehouse.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: statements.append(statement),
    )
    table = raw_predictions_table(fraud).name
    try:
        for h in range(3):
            hour = HOUR + dt.timedelta(hours=h)
            ids = [f"{h}-{i}" for i in range(200)]
            write(tmp_path, PREDICTIONS, fraud, hour, ok_records(fraud, hour, ids))
            load_prediction_hour(warehouse, fraud, tmp_path, hour)
        probe = load.probe_elsewhere_sql(f'"{table}"')
        assert sum(probe.split("WHERE")[0] in s for s in statements) == 3  # one per hour loaded
        later = HOUR + dt.timedelta(hours=2)
        span = dt.timedelta(hours=fraud.label_delay.max_hours)
        params = {"hour": later, "since": later - span, "until": later + span}
        with warehouse.transaction() as conn:
            # A busy span around the hour: 40 hours of 5k predictions, and 5k in the hour.
            conn.execute(
                sa.text(
                    f'INSERT INTO "{table}" (partition_hour, prediction_id) '
                    "SELECT :start + (g % 41) * interval '1 hour', 'x' || g "
                    "FROM generate_series(0, 204999) AS g"
                ),
                {"start": later - dt.timedelta(hours=40)},
            )
            # A repeat as a load writes it, before its hour's check quarantines it.
            conn.execute(
                sa.text(f'INSERT INTO "{table}" (partition_hour, prediction_id) VALUES (:h, :p)'),
                {"h": later, "p": "0-7"},
            )
            conn.execute(sa.text(f'CREATE TABLE "{table}_fresh" (LIKE "{table}" INCLUDING ALL)'))
            conn.execute(sa.text(f'INSERT INTO "{table}_fresh" SELECT * FROM "{table}"'))
            conn.execute(sa.text(f'ANALYZE "{table}"'))
            # Left to itself the planner hashes the span's rows (what made the test needed).
            assert "Hash" in _plan(conn, table, params, {})
            for name in (table, f"{table}_fresh"):  # with statistics, and never analysed
                plan = _plan(conn, name, params, load.PROBE_SETTINGS)
                assert "Index Scan" in plan and "prediction_id" in plan, plan
                assert "Seq Scan" not in plan and "Hash Join" not in plan, plan
            found = load._probed_elsewhere(conn, f'"{table}"', params)
            assert [r[0] for r in found] == ["0-7"]
            assert conn.execute(sa.text("SHOW enable_hashjoin")).scalar() == "on"
            assert conn.execute(sa.text("SHOW enable_seqscan")).scalar() == "on"
            conn.execute(sa.text(f'DROP TABLE "{table}_fresh"'))
    finally:
        warehouse.dispose()
