"""Regression tests for hostile log lines (issue 9): one bad line never loses the hour.

Before the fix, one invalid UTF-8 line failed the whole hour (read_text refused the file), NaN
and infinite latencies were stored and then crashed the latency histogram and drift, and a
``\\u0000`` in a string failed the PostgreSQL COPY of the whole hour.
"""

import datetime as dt
import json

import numpy as np
import pytest
from factories import prediction_record

from modelmon_dagster.ingest import parse_label_files, parse_prediction_files
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.logformat import PREDICTIONS, hour_folder

HOUR = dt.datetime(2026, 11, 16, 10)


def good_lines(model, n):
    rng = np.random.default_rng(3)
    lines = []
    for i in range(n):
        rec = prediction_record(model, HOUR + dt.timedelta(seconds=i), i, rng)
        lines.append(json.dumps(rec).encode())
    return lines


def ok_record(model, i, **changes) -> dict:
    rec = prediction_record(model, HOUR, 5000 + i, np.random.default_rng(i))
    label = model.classes[1] if model.classes else 1.0
    rec.update(status="ok", error_type=None, prediction=label, score=0.7)
    rec.update(changes)
    return rec


def raw(rec: dict, **literals) -> bytes:
    """JSON of ``rec`` with some values replaced by literal text (NaN, 1e999, ...)."""
    text = json.dumps(rec)
    for key, literal in literals.items():
        text = text.replace(f'"{key}": "@"', f'"{key}": {literal}')
    return text.encode()


HOSTILE = [
    # (line builder, reason)
    (lambda m: b'{"prediction_id": "x\xff\xfe", "latency_ms": 1}', "invalid UTF-8"),
    (lambda m: raw(ok_record(m, 1, latency_ms="@"), latency_ms="NaN"), "non-finite latency_ms"),
    (
        lambda m: raw(ok_record(m, 2, latency_ms="@"), latency_ms="Infinity"),
        "non-finite latency_ms",
    ),
    (lambda m: raw(ok_record(m, 3, latency_ms="@"), latency_ms="1e999"), "non-finite latency_ms"),
    (lambda m: raw(ok_record(m, 4, score="@"), score="NaN"), "non-finite score"),
    (lambda m: raw(ok_record(m, 5, score="@"), score="-Infinity"), "non-finite score"),
    (
        lambda m: json.dumps(ok_record(m, 6, prediction_id="nul\u0000id")).encode(),
        "NUL character in a string value",
    ),
    (
        lambda m: json.dumps(ok_record(m, 7, error_type="a\u0000b")).encode(),
        "NUL character in a string value",
    ),
]


def write_hour_bytes(root, model, lines: list[bytes]):
    folder = hour_folder(root, PREDICTIONS, model.name, HOUR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "w.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(("builder", "reason"), HOSTILE)
def test_one_hostile_line_is_quarantined_and_the_rest_stored(tmp_path, fraud, builder, reason):
    good = good_lines(fraud, 20)
    bad = builder(fraud)
    path = write_hour_bytes(tmp_path, fraud, good[:10] + [bad] + good[10:])
    batch = parse_prediction_files([path], fraud, HOUR)
    assert batch.rows.num_rows == 20
    assert batch.quarantine.column("reason").to_pylist() == [reason]
    assert batch.quarantine.column("line_no").to_pylist() == [11]
    stored = batch.quarantine.column("raw_line")[0].as_py()
    assert "\x00" not in stored
    assert stored == bad.decode("utf-8", "backslashreplace").replace("\x00", "\\u0000")


def test_every_hostile_line_in_one_hour_loads_on_both_engines(warehouse, tmp_path, fraud):
    good = good_lines(fraud, 30)
    hostile = [builder(fraud) for builder, _ in HOSTILE]
    # A literal NUL byte in a line (invalid JSON) must not break the quarantine's COPY either.
    hostile.append(b'{"prediction_id": "a\x00b"}')
    write_hour_bytes(tmp_path, fraud, good[:15] + hostile + good[15:])
    result = load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    assert (result.lines, result.rows, result.quarantined) == (30 + len(hostile), 30, len(hostile))
    expected = {}
    for reason in [r for _, r in HOSTILE] + ["invalid JSON"]:
        expected[reason] = expected.get(reason, 0) + 1
    assert result.quarantine_reasons == dict(sorted(expected.items()))
    assert warehouse.scalar("SELECT count(*) FROM fraud_detector__raw_predictions") == 30
    assert warehouse.scalar("SELECT count(*) FROM quarantined_lines") == len(hostile)
    nonfinite = warehouse.scalar(
        "SELECT count(*) FROM fraud_detector__raw_predictions "
        "WHERE latency_ms IN ('NaN'::float, 'Infinity'::float, '-Infinity'::float) "
        "OR score IN ('NaN'::float, 'Infinity'::float, '-Infinity'::float)"
    )
    assert nonfinite == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_feature_is_a_schema_error_stored_as_null(tmp_path, fraud, literal):
    numeric = next(f for f in fraud.features if f.type.value == "numeric")
    rec = ok_record(fraud, 1)
    rec["features"][numeric.name] = "@"
    line = json.dumps(rec).replace(f'"{numeric.name}": "@"', f'"{numeric.name}": {literal}')
    # Alone in its file (fast path) and next to a bad line (line path): same result.
    for extra in ([], [b"{bad"]):
        path = write_hour_bytes(tmp_path, fraud, [line.encode(), *extra])
        batch = parse_prediction_files([path], fraud, HOUR)
        row = batch.rows.to_pylist()[0]
        assert batch.rows.num_rows == 1
        assert row[numeric.column] is None
        assert row["schema_errors"] == f"{numeric.name}:non-finite"


def test_non_finite_regression_prediction_and_label_are_rejected(tmp_path, demand, fraud):
    rec = ok_record(demand, 1, prediction="@", score=None)
    path = write_hour_bytes(tmp_path, demand, [raw(rec, prediction="NaN")])
    batch = parse_prediction_files([path], demand, HOUR)
    assert batch.quarantine.column("reason").to_pylist() == ["invalid prediction"]
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        '{"prediction_id": "p", "model_name": "demand_forecaster", "label": Infinity, '
        '"label_timestamp": "2026-11-16T10:00:00Z"}\n'
    )
    assert parse_label_files([labels], demand).quarantine.column("reason").to_pylist() == [
        "invalid label"
    ]
