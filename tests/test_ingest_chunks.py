"""An hour is read and written in chunks of bounded size (issue 9, item 4).

The chunk size is made tiny here (a few lines) so that chunk boundaries fall inside an hour of
small test data: what the boundaries must not change is checked against the same hour loaded
in one chunk, on both engines.
"""

import datetime as dt
import json

import numpy as np
import pytest
from factories import prediction_record
from test_checks import ready  # noqa: F401 (a fixture)

from modelmon_dagster.baseline import load_baseline
from modelmon_dagster.checks import blocked_columns, quality_outcome
from modelmon_dagster.ingest.chunks import chunks
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.ingest.tables import QUARANTINE, raw_predictions_table
from modelmon_dagster.logformat import LABELS, PREDICTIONS, format_timestamp, hour_folder
from modelmon_dagster.quality.hours import judge_prediction_hours
from modelmon_dagster.quality.suite import validate_batch
from modelmon_dagster.warehouse import Replacement

HOUR = dt.datetime(2026, 11, 16, 10)
WHOLE = 1 << 30  # larger than any test hour: one chunk


def lines_of(model, n, hour=HOUR, seed=3):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rec = prediction_record(model, hour + dt.timedelta(seconds=i), i, rng)
        out.append(json.dumps(rec))
    return out


def write(root, model, lines, name="w.jsonl", stream=PREDICTIONS, hour=HOUR):
    folder = hour_folder(root, stream, model.name, hour)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"".join(line.encode() + b"\n" for line in lines))
    return path


def stored(warehouse, model):
    return warehouse.query_df(
        f'SELECT * FROM "{raw_predictions_table(model).name}" ORDER BY prediction_id'
    )


def quarantined(warehouse):
    return warehouse.query_df(
        "SELECT source_file, line_no, raw_line, reason FROM quarantined_lines "
        "ORDER BY source_file, line_no"
    )


def test_ranges_end_at_line_ends_and_cover_the_file(tmp_path):
    path = tmp_path / "a.jsonl"
    text = "".join(f'{{"n": {i}, "s": "{"é" * (i % 7)}"}}\n' for i in range(50))
    path.write_text(text, encoding="utf-8")
    # Each range is read before the next is cut (its scratch file is removed afterwards).
    pieces, firsts = [], []
    for (part,) in chunks([path], 64, _scratch(tmp_path)):
        pieces.append(part.read_path.read_bytes())
        firsts.append(part.first_line)
    assert len(pieces) > 10
    assert b"".join(pieces) == path.read_bytes()
    assert all(p.endswith(b"\n") for p in pieces)
    assert firsts == [sum(p.count(b"\n") for p in pieces[:i]) for i in range(len(pieces))]
    assert not list(_scratch(tmp_path).iterdir())


def _scratch(tmp_path):
    folder = tmp_path / "scratch2"
    folder.mkdir(exist_ok=True)
    return folder


def test_small_files_are_grouped_and_large_ones_split(tmp_path):
    small = [tmp_path / f"s{i}.jsonl" for i in range(3)]
    for p in small:
        p.write_bytes(b"{}\n" * 10)  # 30 bytes
    large = tmp_path / "large.jsonl"
    large.write_bytes(b"{}\n" * 100)  # 300 bytes
    groups = [
        [(p.source_file.name, p.first_line) for p in parts]
        for parts in chunks([*small, large], 64, _scratch(tmp_path))
    ]
    assert groups[0] == [("s0.jsonl", 0), ("s1.jsonl", 0)]
    assert groups[1] == [("s2.jsonl", 0)]
    # 64-byte reads, each range ending at its last newline (the rest carried over).
    assert [g[0][1] for g in groups[2:]] == [0, 21, 42, 64, 85]
    assert all(len(g) == 1 and g[0][0] == "large.jsonl" for g in groups[2:])


def test_a_chunked_hour_stores_what_one_chunk_stores(warehouse, tmp_path, fraud):
    lines = lines_of(fraud, 60)
    lines[7] = lines[3]  # a duplicate within one chunk
    lines[40] = lines[5]  # and one across chunks: the first copy stays
    lines[44] = "{not json"  # a bad line in a later chunk
    path = write(tmp_path, fraud, lines)
    size = len(lines[0]) * 4  # about four lines a chunk
    chunked = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=size)
    rows, quarantine = stored(warehouse, fraud), quarantined(warehouse)
    whole = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=WHOLE)
    assert chunked.chunks > 10 and whole.chunks == 1
    assert (chunked.lines, chunked.rows, chunked.quarantined) == (60, 57, 3)
    assert chunked.lines == chunked.rows + chunked.quarantined
    assert (
        chunked.quarantine_reasons
        == whole.quarantine_reasons
        == {
            "duplicate prediction_id": 2,
            "invalid JSON": 1,
        }
    )
    # Only the chunk with the bad line and those holding a duplicate went line by line.
    assert chunked.line_path_files == 3
    assert rows.equals(stored(warehouse, fraud))
    assert quarantine.equals(quarantined(warehouse))
    assert quarantine["line_no"].tolist() == [8, 41, 45]
    assert set(quarantine["source_file"]) == {str(path)}


def test_a_duplicate_of_an_earlier_chunk_is_quarantined_and_the_first_copy_kept(
    warehouse, tmp_path, fraud
):
    lines = lines_of(fraud, 20)
    first = json.loads(lines[2])
    copy = dict(first, latency_ms=999.0)
    lines[17] = json.dumps(copy)
    write(tmp_path, fraud, lines)
    result = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=len(lines[0]) * 3)
    assert result.chunks > 3
    assert result.quarantine_reasons == {"duplicate prediction_id": 1}
    kept = warehouse.query_df(
        f'SELECT latency_ms FROM "{raw_predictions_table(fraud).name}" WHERE prediction_id = :p',
        {"p": first["prediction_id"]},
    )
    assert kept["latency_ms"].tolist() == [first["latency_ms"]]
    assert quarantined(warehouse)["line_no"].tolist() == [18]
    # A rerun gives the same partition.
    again = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=len(lines[0]) * 3)
    assert again == result


def test_a_multibyte_character_across_a_chunk_boundary_is_kept_whole(warehouse, tmp_path, fraud):
    lines = lines_of(fraud, 12)
    records = [json.loads(line) for line in lines]
    for i, rec in enumerate(records):
        rec["features"]["country"] = "日本" + "é" * i
    encoded = [json.dumps(r, ensure_ascii=False) for r in records]
    write(tmp_path, fraud, encoded)
    # The first read block ends inside the first record's "日" (three bytes in UTF-8).
    offset = encoded[0].encode().index("日".encode())
    result = load_prediction_hour(
        warehouse, fraud, tmp_path, HOUR, chunk_bytes=offset + 1, direct=False
    )
    assert result.chunks == 12 and (result.rows, result.quarantined) == (12, 0)
    got = stored(warehouse, fraud).set_index("prediction_id")["f_country"]
    assert got.to_dict() == {r["prediction_id"]: r["features"]["country"] for r in records}


def test_invalid_utf8_in_a_later_chunk_is_quarantined_with_its_line(warehouse, tmp_path, fraud):
    lines = lines_of(fraud, 10)
    path = write(tmp_path, fraud, lines)
    raw = path.read_bytes().split(b"\n")
    raw[8] = raw[8].replace(b'"v1"', b'"v\xff"')
    path.write_bytes(b"\n".join(raw))
    result = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=len(lines[0]) * 2)
    assert (result.rows, result.quarantine_reasons) == (9, {"invalid UTF-8": 1})
    q = quarantined(warehouse)
    assert q["line_no"].tolist() == [9] and "\\xff" in q["raw_line"][0]


def test_a_repeat_of_another_hour_in_a_later_chunk(warehouse, tmp_path, fraud):
    earlier = HOUR - dt.timedelta(hours=2)
    old = lines_of(fraud, 3, hour=earlier, seed=5)
    write(tmp_path, fraud, old, hour=earlier)
    load_prediction_hour(warehouse, fraud, tmp_path, earlier)
    lines = lines_of(fraud, 15)
    repeat = json.loads(old[1])
    repeat["timestamp"] = format_timestamp(HOUR + dt.timedelta(minutes=30))
    lines[12] = json.dumps(repeat)
    lines[13] = json.dumps(repeat)  # twice: every copy of a repeat is quarantined
    write(tmp_path, fraud, lines)
    size = len(lines[0]) * 3
    result = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=size)
    assert result.quarantine_reasons == {"prediction_id already stored in another hour": 2}
    assert (result.rows, result.lines) == (13, 15)
    assert load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=size) == result
    count = warehouse.scalar(
        f'SELECT count(*) FROM "{raw_predictions_table(fraud).name}" WHERE prediction_id = :p',
        {"p": repeat["prediction_id"]},
    )
    assert count == 1


def test_labels_repeated_across_chunks_keep_their_arrival_order(warehouse, tmp_path, fraud):
    arrival = HOUR + dt.timedelta(hours=3)
    ts = format_timestamp(HOUR + dt.timedelta(minutes=10))
    labels = [
        {"prediction_id": f"p{i}", "model_name": fraud.name, "label": "0", "label_timestamp": ts}
        for i in range(12)
    ]
    labels[10] = dict(labels[1], label="1")  # a correction, same timestamp, later in the file
    lines = [json.dumps(r) for r in labels]
    write(tmp_path, fraud, lines, stream=LABELS, hour=arrival)
    result = load_label_hour(warehouse, fraud, tmp_path, arrival, chunk_bytes=len(lines[0]) * 3)
    assert result.chunks > 3 and result.rows == 12
    seq = warehouse.query_df(
        "SELECT label_text, arrival_seq FROM fraud_detector__raw_labels "
        "WHERE prediction_id = 'p1' ORDER BY arrival_seq"
    )
    assert seq["label_text"].tolist() == ["0", "1"]


def test_a_failed_chunked_write_leaves_the_previous_partition(warehouse, tmp_path, fraud):
    write(tmp_path, fraud, lines_of(fraud, 8))
    load_prediction_hour(warehouse, fraud, tmp_path, HOUR)
    schema = raw_predictions_table(fraud)
    before = stored(warehouse, fraud)
    params = {"model_name": fraud.name, "stream": PREDICTIONS, "hour": HOUR}
    with pytest.raises(RuntimeError, match="producer died"):
        with warehouse.replacing(
            [
                Replacement(schema, "partition_hour = :hour", params),
                Replacement(QUARANTINE, "partition_hour = :hour", params),
            ]
        ) as writer:
            writer.insert(schema, warehouse_rows(warehouse, fraud).slice(0, 2))
            raise RuntimeError("producer died")  # a failure after the first chunk
    assert stored(warehouse, fraud).equals(before)
    # Nothing is left behind (DuckDB's staging tables are dropped).
    tables = warehouse.query_df(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    assert not [t for t in tables["table_name"] if t.startswith("__modelmon_stage")]


def warehouse_rows(warehouse, model):
    return next(warehouse.read_batches(raw_predictions_table(model), "partition_hour", HOUR, 100))


def test_checks_judge_a_chunked_hour_as_one(ready, settings, fraud):  # noqa: F811
    _, wh = ready  # baselines built from reference data (see tests/test_checks.py)
    rng = np.random.default_rng(8)
    records = [prediction_record(fraud, HOUR + dt.timedelta(seconds=i), i, rng) for i in range(300)]
    for i, rec in enumerate(records):
        if i % 9 == 0:
            rec["features"].pop("amount")  # 11 % missing: blocked, an ERROR
        if i % 13 == 0:
            rec["features"]["country"] = "atlantis"  # unseen: a WARN with failing rows
    lines = [json.dumps(r) for r in records]
    lines[150] = "{not json"
    write(settings.logs_root, fraud, lines)
    size = len(lines[0]) * 20
    result = load_prediction_hour(wh, fraud, settings.logs_root, HOUR, chunk_bytes=size)
    assert result.chunks > 10
    whole_batch = judge_prediction_hours(wh, fraud, [result], print, batch_rows=10**6)
    small_batches = judge_prediction_hours(wh, fraud, [result], print, batch_rows=17)
    assert small_batches == whole_batch
    (judged,) = small_batches
    assert judged.schema.severity == "ERROR" and list(judged.blocked) == ["amount"]
    # The same grades as the suite run on the hour's whole frame (how it was judged before).
    baseline = load_baseline(wh, fraud)
    complete = {c.column.name: c.categories_complete for c in baseline.columns}
    rows = result.table.to_pandas()
    report = validate_batch(rows, fraud, baseline, complete)
    assert judged.quality == quality_outcome(result, report, fraud.thresholds)
    assert judged.blocked == blocked_columns(result, rows, fraud)
    failing = next(
        f for f in judged.quality.metadata["failed_expectations"] if f["column"] == "country"
    )
    assert failing["unexpected_count"] == 24 and len(failing["failing_rows"]) == 5


def test_a_declined_chunk_goes_line_by_line_in_smaller_pieces(
    warehouse, tmp_path, fraud, monkeypatch
):
    """Clean chunks stay large (fast), a chunk the one pass declines is parsed line by line in
    pieces of ``LINE_PATH_CHUNK_BYTES`` (the line path takes several times its chunk in memory):
    the same rows and quarantine as the whole chunk parsed line by line."""
    from modelmon_dagster.ingest import load as ingest_load

    lines = lines_of(fraud, 60)
    lines[7] = lines[3]  # a duplicate within a piece
    lines[40] = lines[5]  # and one across pieces: the first copy stays
    lines[44] = "{not json"
    lines[50] = json.dumps(dict(json.loads(lines[50]), status="maybe"))
    write(tmp_path, fraud, lines[:30], name="a.jsonl")
    write(tmp_path, fraud, lines[30:], name="b.jsonl")
    whole = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=WHOLE)
    rows, quarantine = stored(warehouse, fraud), quarantined(warehouse)
    monkeypatch.setattr(ingest_load, "LINE_PATH_CHUNK_BYTES", len(lines[0]) * 8)
    pieces = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=WHOLE)
    assert whole.chunks == 1 and pieces.chunks > 6
    assert (pieces.lines, pieces.rows, pieces.quarantined) == (60, 56, 4)
    assert pieces.quarantine_reasons == whole.quarantine_reasons
    assert rows.equals(stored(warehouse, fraud))
    assert quarantine.equals(quarantined(warehouse))
    assert quarantine["line_no"].tolist() == [8, 11, 15, 21]  # b.jsonl's lines 11, 15, 21
    # A clean chunk larger than a piece is still read in one pass.
    write(tmp_path, fraud, lines_of(fraud, 60)[:30], name="a.jsonl")
    write(tmp_path, fraud, lines_of(fraud, 60)[30:], name="b.jsonl")
    clean = load_prediction_hour(warehouse, fraud, tmp_path, HOUR, chunk_bytes=WHOLE)
    assert clean.chunks == 1 and clean.line_path_files == 0
