"""Hours loaded together (one transaction a group, parsed a chunk ahead in a thread) store
exactly what hours loaded one by one store; the one-pass parse of clean chunks gives the rows
of the long path; range copies cut where ``line_blocks`` cuts (issue 14, item 4)."""

import datetime as dt
import json
import random
import threading

import pytest
import sqlalchemy as sa
from test_ingest_chunks import lines_of, quarantined, write

from modelmon_dagster.ingest import chunks as ingest_chunks
from modelmon_dagster.ingest import load as ingest_load
from modelmon_dagster.ingest import parser
from modelmon_dagster.ingest.chunks import chunks, line_blocks
from modelmon_dagster.ingest.load import (
    load_label_hour,
    load_label_hours,
    load_prediction_hour,
    load_prediction_hours,
)
from modelmon_dagster.ingest.parser import parse_label_files, parse_prediction_files
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.logformat import LABELS, format_timestamp

START = dt.datetime(2026, 11, 16, 10)
HOURS = [START + dt.timedelta(hours=h) for h in range(5)]
# Columns that record when a row was written are not in these tables: all are compared.


def _hour_lines(model, hour, seed):
    lines = lines_of(model, 30, hour=hour, seed=seed)
    # Ids unique per hour and seed (the factory's ids repeat across calls of one hour).
    return [line.replace(f"-{hour:%Y%m%d%H}-", f"-{hour:%Y%m%d%H}-s{seed}-") for line in lines]


def _write_hours(root, model):
    """Five hours: clean, a bad line, an id repeated within and across hours, two files."""
    by_hour = {h: _hour_lines(model, h, seed=i) for i, h in enumerate(HOURS)}
    by_hour[HOURS[1]][4] = "{not json"
    by_hour[HOURS[1]][9] = by_hour[HOURS[1]][2]  # repeated within the hour: first copy stays
    repeat = json.loads(by_hour[HOURS[0]][5])  # stored in hour 0, repeated in hours 2 and 3
    for h in (HOURS[2], HOURS[3]):
        again = dict(repeat, timestamp=format_timestamp(h + dt.timedelta(minutes=7)))
        by_hour[h][11] = json.dumps(again)
    by_hour[HOURS[3]][20] = json.dumps(dict(json.loads(by_hour[HOURS[3]][20]), score=7.0))
    for hour, lines in by_hour.items():
        write(root, model, lines[:18], name="a.jsonl", hour=hour)
        write(root, model, lines[18:], name="b.jsonl", hour=hour)
    return repeat["prediction_id"]


def _tables(warehouse, model):
    rows = warehouse.query_df(
        f'SELECT * FROM "{raw_predictions_table(model).name}" '
        "ORDER BY partition_hour, source_file_name, prediction_id"
    )
    return rows, quarantined(warehouse)


def _clear(warehouse, model):
    with warehouse.transaction() as conn:
        conn.exec_driver_sql(f'DELETE FROM "{raw_predictions_table(model).name}"')
        conn.exec_driver_sql("DELETE FROM quarantined_lines")


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.reset_index(drop=True).equals(y.reset_index(drop=True))


@pytest.mark.parametrize("group_bytes", [1, 40_000, 1 << 30])  # staged, 2-3 hours, all
def test_hours_loaded_together_store_what_hours_loaded_one_by_one_store(
    warehouse, tmp_path, fraud, group_bytes
):
    repeat = _write_hours(tmp_path, fraud)
    sizes = [sum(p.stat().st_size for p in (tmp_path / d).iterdir()) for d in _dirs(tmp_path)]
    assert group_bytes != 40_000 or max(sizes) < group_bytes < 3 * min(sizes)
    # Hour 2 was loaded alone before: its copy of the repeated id is the first stored, and a
    # rerun of hours 0-4 keeps it (hour 0 sees it elsewhere, in hour 2's old rows).
    load_prediction_hour(warehouse, fraud, tmp_path, HOURS[2])
    one_by_one = [load_prediction_hour(warehouse, fraud, tmp_path, h) for h in HOURS]
    expected = _tables(warehouse, fraud)
    _clear(warehouse, fraud)
    load_prediction_hour(warehouse, fraud, tmp_path, HOURS[2])
    together = load_prediction_hours(warehouse, fraud, tmp_path, HOURS, group_bytes=group_bytes)
    assert together == one_by_one
    _assert_same(_tables(warehouse, fraud), expected)
    assert [r.quarantine_reasons for r in together] == [
        {"prediction_id already stored in another hour": 1},
        {"duplicate prediction_id": 1, "invalid JSON": 1},
        {},
        {"prediction_id already stored in another hour": 1, "score outside [0, 1]": 1},
        {},
    ]
    kept = warehouse.query_df(
        f'SELECT partition_hour FROM "{raw_predictions_table(fraud).name}" '
        "WHERE prediction_id = :p",
        {"p": repeat},
    )
    assert kept["partition_hour"].tolist() == [HOURS[2]]
    assert all(r.lines == r.rows + r.quarantined for r in together)
    assert not [t for t in threading.enumerate() if t.name == "modelmon-parse-ahead"]


def test_labels_loaded_together_store_what_labels_loaded_one_by_one_store(
    warehouse, tmp_path, fraud
):
    for i, hour in enumerate(HOURS[:3]):
        ts = format_timestamp(hour - dt.timedelta(minutes=5))
        labels = [
            {"prediction_id": f"p{i}-{n}", "model_name": fraud.name, "label": "1"}
            | {"label_timestamp": ts}
            for n in range(12)
        ]
        labels[3]["label"] = "maybe"  # quarantined
        labels[7] = dict(labels[2], label="0")  # a correction
        write(tmp_path, fraud, [json.dumps(r) for r in labels], stream=LABELS, hour=hour)
    query = f'SELECT * FROM "{raw_labels_table(fraud).name}" ORDER BY partition_hour, arrival_seq'
    one_by_one = [load_label_hour(warehouse, fraud, tmp_path, h) for h in HOURS[:3]]
    expected = warehouse.query_df(query), quarantined(warehouse)
    together = load_label_hours(warehouse, fraud, tmp_path, HOURS[:3], group_bytes=1 << 30)
    assert together == one_by_one
    _assert_same((warehouse.query_df(query), quarantined(warehouse)), expected)
    assert [r.quarantine_reasons for r in together] == [{"invalid label": 1}] * 3


def test_a_failure_while_parsing_ahead_keeps_the_group_and_stops_the_thread(
    warehouse, tmp_path, fraud, monkeypatch
):
    _write_hours(tmp_path, fraud)
    load_prediction_hours(warehouse, fraud, tmp_path, HOURS)
    before = _tables(warehouse, fraud)
    real = ingest_load.parse_prediction_files

    def parse(parts, model, hour, **kwargs):
        if hour == HOURS[3]:
            raise OSError("disk gone")
        return real(parts, model, hour, **kwargs)

    monkeypatch.setattr(ingest_load, "parse_prediction_files", parse)
    _clear_hour(warehouse, fraud, HOURS[0])  # so that a committed earlier group shows
    with pytest.raises(OSError, match="disk gone"):
        # Hours 0-1 in one group (committed), hours 2-3 in the next (rolled back).
        load_prediction_hours(warehouse, fraud, tmp_path, HOURS, group_bytes=2 * _size(tmp_path))
    _assert_same(_tables(warehouse, fraud), before)
    assert not [t for t in threading.enumerate() if t.name == "modelmon-parse-ahead"]


def _clear_hour(warehouse, model, hour):
    with warehouse.transaction() as conn:
        conn.execute(
            sa.text(f'DELETE FROM "{raw_predictions_table(model).name}" WHERE partition_hour = :h'),
            {"h": hour},
        )


def _size(root):
    """Bytes of one hour's files (every test hour has the same two files, nearly)."""
    return max(sum(p.stat().st_size for p in d.iterdir()) for d in _hour_dirs(root))


def _hour_dirs(root):
    return {p.parent for p in root.rglob("*.jsonl")}


def _dirs(root):
    return sorted(_hour_dirs(root))


def test_a_clean_chunk_parsed_in_one_pass_gives_the_long_paths_rows(tmp_path, fraud, monkeypatch):
    lines = _hour_lines(fraud, START, seed=4)
    paths = [
        write(tmp_path, fraud, lines[:10], name="a.jsonl"),
        write(tmp_path, fraud, lines[10:], name="b.jsonl"),
    ]
    one_pass = parse_prediction_files(paths, fraud, START)
    ts = format_timestamp(START)
    labels = [
        json.dumps(
            {"prediction_id": f"p{i}", "model_name": fraud.name, "label": "1"} | {"l": 1}
        ).replace('"l": 1', f'"label_timestamp": "{ts}"')
        for i in range(6)
    ]
    label_path = write(tmp_path, fraud, labels, stream=LABELS)
    labels_one_pass = parse_label_files([label_path], fraud, START)
    calls = []
    monkeypatch.setattr(parser, "_read_clean", lambda *a: calls.append(1))  # always declines
    long_path = parse_prediction_files(paths, fraud, START)
    labels_long = parse_label_files([label_path], fraud, START)
    assert len(calls) == 2
    assert one_pass.rows.num_rows == 30 and labels_one_pass.rows.num_rows == 6
    # The same rows (files read in parallel may come in another order).
    assert _sorted(one_pass.rows).equals(_sorted(long_path.rows))
    assert _sorted(labels_one_pass.rows).equals(_sorted(labels_long.rows))
    assert one_pass.quarantine.num_rows == long_path.quarantine.num_rows == 0
    assert one_pass.quarantine.schema.equals(long_path.quarantine.schema)


def _sorted(table):
    return table.sort_by([("prediction_id", "ascending")]).combine_chunks()


def test_a_chunk_the_one_pass_declines_is_quarantined_by_line(tmp_path, fraud):
    lines = _hour_lines(fraud, START, seed=5)
    lines[3] = json.dumps(dict(json.loads(lines[3]), status="maybe"))  # a rejected record
    lines[8] = lines[6]  # an id twice
    path = write(tmp_path, fraud, lines)
    batch = parse_prediction_files([path], fraud, START)
    columns = batch.quarantine.to_pydict()
    got = sorted(zip(columns["line_no"], columns["reason"], strict=True))
    assert got == [(4, "invalid status"), (9, "duplicate prediction_id")]
    assert batch.rows.num_rows == 28 and batch.line_path_files == 1


@pytest.mark.parametrize("chunk_bytes", [7, 64, 100, 333, 4096])
@pytest.mark.parametrize("copy_bytes", [13, 1 << 20])
def test_range_copies_cut_where_line_blocks_cuts(tmp_path, chunk_bytes, copy_bytes, monkeypatch):
    monkeypatch.setattr(ingest_chunks, "COPY_BYTES", copy_bytes)
    rng = random.Random(chunk_bytes)
    text = "".join(
        "x" * rng.choice([0, 1, 5, 40, 150, 700]) + ("\n" if rng.random() < 0.9 else "\n\n")
        for _ in range(300)
    )
    for tail in ("", "no newline at the end"):
        path = tmp_path / f"f{len(tail)}.jsonl"
        path.write_text(text + tail)
        scratch = tmp_path / f"scratch{len(tail)}"
        scratch.mkdir()
        pieces = [(p.first_line, p.read_path.read_bytes()) for (p,) in chunks([path], 1, scratch)]
        expected, first = [], 0
        for block in line_blocks(path, 1):
            expected.append((first, block))
            first += block.count(b"\n")
        assert pieces == expected  # one line a range
        pieces = [
            (p.first_line, p.read_path.read_bytes())
            for (p,) in chunks([path], chunk_bytes, scratch)
        ]
        expected, first = [], 0
        for block in line_blocks(path, chunk_bytes):
            expected.append((first, block))
            first += block.count(b"\n")
        assert pieces == expected
        assert not list(scratch.iterdir())
