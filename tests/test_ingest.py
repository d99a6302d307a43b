import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa
from factories import prediction_record, write_hour, write_labels

from modelmon_dagster.ingest import parse_label_files, parse_prediction_files
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.ingest.tables import raw_predictions_table
from modelmon_dagster.logformat import PREDICTIONS, closed_files, hour_folder
from modelmon_dagster.warehouse import Warehouse

HOUR = dt.datetime(2026, 11, 16, 10)


def records(model, n, seed=1):
    rng = np.random.default_rng(seed)
    return [prediction_record(model, HOUR + dt.timedelta(seconds=i), i, rng) for i in range(n)]


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_clean_file_is_read_on_the_fast_path(tmp_path, fraud):
    recs = records(fraud, 50)
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(r) for r in recs])
    batch = parse_prediction_files([path], fraud, HOUR)
    assert (batch.files, batch.lines, batch.rows.num_rows, batch.quarantine.num_rows) == (
        1,
        50,
        50,
        0,
    )
    assert batch.line_path_files == 0
    rows = batch.rows.to_pandas().set_index("prediction_id")
    first = recs[0]
    row = rows.loc[first["prediction_id"]]
    assert row["f_amount"] == pytest.approx(first["features"]["amount"])
    assert row["f_country"] == first["features"]["country"]
    assert row["latency_ms"] == pytest.approx(first["latency_ms"])
    assert row["ts"] == HOUR
    assert row["partition_hour"] == HOUR
    assert list(batch.rows.column_names) == raw_predictions_table(fraud).column_names


BAD_LINES = [
    ("{not json", "invalid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    ('"just a string"', "not a JSON object"),
]


def broken(model, i, **changes):
    rec = prediction_record(
        model, HOUR + dt.timedelta(seconds=i), 1000 + i, np.random.default_rng(i)
    )
    rec.update(status="ok", error_type=None, prediction="1", score=0.7)
    for key, value in changes.items():
        if value is KeyError:
            rec.pop(key)
        else:
            rec[key] = value
    return json.dumps(rec)


@pytest.mark.parametrize(
    ("line_factory", "reason"),
    [
        (lambda m: BAD_LINES[0][0], "invalid JSON"),
        (lambda m: BAD_LINES[1][0], "not a JSON object"),
        (lambda m: broken(m, 1, prediction_id=KeyError), "missing prediction_id"),
        (lambda m: broken(m, 2, model_name="other_model"), "model_name does not match the model"),
        (lambda m: broken(m, 3, timestamp="yesterday"), "missing or invalid timestamp"),
        (
            lambda m: broken(m, 4, timestamp="2026-11-16T11:00:00Z"),
            "timestamp outside the partition hour",
        ),
        (lambda m: broken(m, 5, status="maybe"), "invalid status"),
        (lambda m: broken(m, 6, latency_ms="slow"), "invalid latency_ms"),
        (lambda m: broken(m, 7, latency_ms=-1), "invalid latency_ms"),
        (lambda m: broken(m, 8, prediction=None), "missing prediction on an ok record"),
        (lambda m: broken(m, 9, prediction="7"), "invalid prediction"),
        (lambda m: broken(m, 10, score=1.5), "score outside [0, 1]"),
        (lambda m: broken(m, 11, model_version=KeyError), "missing model_version"),
    ],
)
def test_each_malformed_line_is_quarantined_with_its_reason(tmp_path, fraud, line_factory, reason):
    good = [json.dumps(r) for r in records(fraud, 5)]
    path = write_lines(tmp_path / "a.jsonl", good[:2] + [line_factory(fraud)] + good[2:])
    batch = parse_prediction_files([path], fraud, HOUR)
    assert batch.rows.num_rows == 5
    q = batch.quarantine.to_pylist()
    assert len(q) == 1
    assert q[0]["reason"] == reason
    assert q[0]["line_no"] == 3
    assert q[0]["source_file"] == str(path)
    assert q[0]["raw_line"] == line_factory(fraud)


def test_feature_problems_keep_the_record_and_are_listed(tmp_path, fraud):
    rec = json.loads(broken(fraud, 1))
    rec["features"]["amount"] = "n/a"
    rec["features"].pop("merchant_category")
    rec["features"]["country"] = None
    rec["features"].pop("device_type")  # optional: not a schema error
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(rec)])
    batch = parse_prediction_files([path], fraud, HOUR)
    assert batch.quarantine.num_rows == 0
    row = batch.rows.to_pylist()[0]
    assert row["f_amount"] is None
    assert row["schema_errors"] == "amount:type,merchant_category:missing,country:missing"


@pytest.mark.parametrize("bad_line", [False, True])  # fast path, and the line-by-line path
def test_latency_is_optional_and_stored_null(tmp_path, fraud, bad_line):
    # A batch scorer logs no latency: such records were quarantined ("missing or invalid
    # latency_ms") until latency became optional (issue #12).
    recs = records(fraud, 4)
    recs[0].pop("latency_ms")
    recs[1]["latency_ms"] = None
    lines = [json.dumps(r) for r in recs] + (["{bad"] if bad_line else [])
    batch = parse_prediction_files([write_lines(tmp_path / "a.jsonl", lines)], fraud, HOUR)
    assert batch.rows.num_rows == 4
    assert batch.quarantine.num_rows == int(bad_line)
    latency = batch.rows.column("latency_ms").to_pylist()
    assert latency[:2] == [None, None] and latency[2] == pytest.approx(recs[2]["latency_ms"])


def test_both_parsing_paths_give_identical_rows(tmp_path, fraud):
    good = [json.dumps(r) for r in records(fraud, 200)]
    fast = parse_prediction_files([write_lines(tmp_path / "f.jsonl", good)], fraud, HOUR)
    slow = parse_prediction_files(
        [write_lines(tmp_path / "s.jsonl", good[:100] + ["{bad"] + good[100:])], fraud, HOUR
    )
    assert fast.line_path_files == 0 and slow.line_path_files == 1
    drop = ["source_file_name"]
    assert fast.rows.drop(drop).equals(slow.rows.drop(drop))


def test_duplicate_ids_keep_the_first_and_quarantine_later_ones(tmp_path, fraud):
    recs = [json.dumps(r) for r in records(fraud, 10)]
    a = write_lines(tmp_path / "a.jsonl", recs)
    b = write_lines(tmp_path / "b.jsonl", [recs[3], json.dumps(records(fraud, 11)[10])])
    batch = parse_prediction_files([a, b], fraud, HOUR)
    assert batch.rows.num_rows == 11
    assert batch.quarantine.to_pylist() == [
        {
            "source_file": str(b),
            "line_no": 1,
            "raw_line": recs[3],
            "reason": "duplicate prediction_id",
        }
    ]


def test_empty_hour_gives_empty_batch_with_the_same_schema(tmp_path, fraud):
    batch = parse_prediction_files([], fraud, HOUR)
    full = parse_prediction_files(
        [write_lines(tmp_path / "a.jsonl", [json.dumps(records(fraud, 1)[0])])], fraud, HOUR
    )
    assert (batch.files, batch.lines, batch.rows.num_rows) == (0, 0, 0)
    assert batch.rows.schema == full.rows.schema


def test_regression_predictions_must_be_numbers(tmp_path, demand):
    rec = records(demand, 3)
    rec[0].update(status="ok", prediction=12.5)
    rec[1].update(status="ok", prediction="12.5x")
    rec[2].update(status="ok", prediction=7)
    batch = parse_prediction_files(
        [write_lines(tmp_path / "a.jsonl", [json.dumps(r) for r in rec])], demand, HOUR
    )
    assert batch.rows.column("prediction_value").to_pylist() == [12.5, 7.0]
    assert batch.quarantine.column("reason").to_pylist() == ["invalid prediction"]


def test_open_files_are_not_read(tmp_path, fraud):
    folder = hour_folder(tmp_path, PREDICTIONS, fraud.name, HOUR)
    write_lines(folder / "w1.jsonl", ["{}"])
    write_lines(folder / ".w2.jsonl.open", ["{}"])
    assert [p.name for p in closed_files(folder)] == ["w1.jsonl"]


def test_labels_are_validated_against_the_classes(tmp_path, fraud):
    write_labels(tmp_path, fraud, HOUR, {"p1": "1", "p2": "0", "p3": "maybe", "p4": 1})
    files = closed_files(hour_folder(tmp_path, "labels", fraud.name, HOUR))
    batch = parse_label_files(files, fraud)
    assert sorted(batch.rows.column("label_text").to_pylist()) == ["0", "1", "1"]
    assert batch.quarantine.column("reason").to_pylist() == ["invalid label"]


# -- loading into the warehouse (DuckDB and PostgreSQL) -------------------------------------------


def table_rows(warehouse: Warehouse, table: str, order: str):
    return warehouse.query_df(f'SELECT * FROM "{table}" ORDER BY {order}')


def test_load_is_idempotent_and_stores_quarantine(warehouse, tmp_path, fraud):
    write_hour(tmp_path, fraud, HOUR, 300, extra_lines=["{oops", "[]"])
    first = load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    snapshot = table_rows(warehouse, "fraud_detector__raw_predictions", "prediction_id")
    second = load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    assert first == second
    assert (first.rows, first.quarantined, first.lines) == (300, 2, 302)
    assert first.quarantine_reasons == {"invalid JSON": 1, "not a JSON object": 1}
    again = table_rows(warehouse, "fraud_detector__raw_predictions", "prediction_id")
    assert len(snapshot) == 300
    pd.testing.assert_frame_equal(again, snapshot)
    q = warehouse.query_df(
        "SELECT line_no, reason, raw_line FROM quarantined_lines ORDER BY line_no"
    )
    assert q.to_dict("records") == [
        {"line_no": 301, "reason": "invalid JSON", "raw_line": "{oops"},
        {"line_no": 302, "reason": "not a JSON object", "raw_line": "[]"},
    ]


def test_reload_replaces_only_its_own_hour(warehouse, tmp_path, fraud):
    other = HOUR + dt.timedelta(hours=1)
    write_hour(tmp_path, fraud, HOUR, 50)
    write_hour(tmp_path, fraud, other, 70)
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    load_prediction_hour(warehouse, fraud, tmp_path, other)
    write_hour(tmp_path, fraud, HOUR, 20, seed=5)  # the hour's file changed: rerun picks it up
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    counts = warehouse.query_df(
        "SELECT partition_hour, count(*) AS n FROM fraud_detector__raw_predictions "
        "GROUP BY partition_hour ORDER BY partition_hour"
    )
    assert counts["n"].tolist() == [20, 70]


def test_empty_hour_loads_nothing_and_clears_the_partition(warehouse, tmp_path, fraud):
    write_hour(tmp_path, fraud, HOUR, 10)
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    for f in closed_files(hour_folder(tmp_path, PREDICTIONS, fraud.name, HOUR)):
        f.unlink()
    result = load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    assert (result.files, result.rows) == (0, 0)
    assert warehouse.scalar("SELECT count(*) FROM fraud_detector__raw_predictions") == 0


def test_failed_write_leaves_the_previous_partition_intact(warehouse, tmp_path, fraud):
    write_hour(tmp_path, fraud, HOUR, 40)
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    schema = raw_predictions_table(fraud)
    bad = pa.table(
        {
            c: pa.array(["not a timestamp"] * 3) if c == "ts" else pa.nulls(3)
            for c in schema.column_names
        }
    )
    with pytest.raises((sa.exc.DBAPIError, duckdb.Error, psycopg.Error)):
        warehouse.replace_rows(schema, "partition_hour = :h", {"h": HOUR}, rows=bad)
    assert warehouse.scalar("SELECT count(*) FROM fraud_detector__raw_predictions") == 40


def test_labels_land_in_their_arrival_hour(warehouse, tmp_path, fraud):
    arrival = HOUR + dt.timedelta(hours=30)
    write_labels(tmp_path, fraud, arrival, {"a": "1", "b": "0"})
    result = load_label_hour(warehouse, fraud, tmp_path, arrival)
    assert result.rows == 2
    stored = warehouse.query_df(
        "SELECT partition_hour, prediction_id, label_text FROM fraud_detector__raw_labels "
        "ORDER BY prediction_id"
    )
    assert stored["partition_hour"].tolist() == [arrival, arrival]
    assert stored["label_text"].tolist() == ["1", "0"]
