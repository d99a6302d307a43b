"""Small clean hours are parsed in one pass and split by hour (a backfill's hours hold a few
hundred lines, and the fixed cost of a pass was most of their parsing). Each hour must still
be judged against its own window and store exactly what it stores parsed alone; any line that
needs more sends every hour of the pass to the hour-by-hour parse."""

import datetime as dt
import json

import pytest
from test_ingest_chunks import lines_of, quarantined, write
from test_ingest_hours import _assert_same, _tables

from modelmon_dagster.config import Task
from modelmon_dagster.ingest import load as ingest_load
from modelmon_dagster.ingest.chunks import as_parts
from modelmon_dagster.ingest.load import load_label_hours, load_prediction_hours
from modelmon_dagster.ingest.parser import (
    LABEL_CLOCK_SKEW,
    parse_clean_hours,
    parse_label_files,
    parse_prediction_files,
)
from modelmon_dagster.ingest.tables import raw_labels_table
from modelmon_dagster.logformat import LABELS, PREDICTIONS, format_timestamp

START = dt.datetime(2026, 11, 16, 10)
HOURS = [START + dt.timedelta(hours=h) for h in range(4)]


def _prediction_hours(root, model):
    """Four clean hours, the last with two files; ids unique across hours."""
    paths = {}
    for i, hour in enumerate(HOURS):
        lines = lines_of(model, 20, hour, seed=i)  # ids name their hour: unique across hours
        if i == 3:
            paths[hour] = [
                write(root, model, lines[:8], name="a.jsonl", hour=hour),
                write(root, model, lines[8:], name="b.jsonl", hour=hour),
            ]
        else:
            paths[hour] = [write(root, model, lines, hour=hour)]
    return paths


def _label(model, n):
    """A valid label: a class of a classifier, a number (here with a fraction) of a regression."""
    return n * 1.25 if model.task is Task.REGRESSION else model.classes[n % 2]


def _label_hours(root, model, last_ts_late=False):
    paths = {}
    for i, hour in enumerate(HOURS):
        labels = [
            {"prediction_id": f"h{i}-l{n}", "model_name": model.name, "label": _label(model, n)}
            | {"label_timestamp": format_timestamp(hour + dt.timedelta(minutes=n))}
            for n in range(10)
        ]
        # At the end of the hour plus the clock-skew allowance: refused in this hour only.
        edge = hour + dt.timedelta(hours=1) + LABEL_CLOCK_SKEW
        labels[9]["label_timestamp"] = format_timestamp(edge - dt.timedelta(seconds=1))
        if last_ts_late and i == 1:
            labels[9]["label_timestamp"] = format_timestamp(edge)
        lines = [json.dumps(r) for r in labels]
        paths[hour] = [write(root, model, lines, stream=LABELS, hour=hour)]
    return paths


def test_one_pass_over_clean_hours_gives_each_hours_own_batch(tmp_path, fraud):
    predictions = _prediction_hours(tmp_path, fraud)
    labels = _label_hours(tmp_path, fraud)
    for stream, paths, alone in (
        (PREDICTIONS, predictions, parse_prediction_files),
        (LABELS, labels, parse_label_files),
    ):
        hours = [(h, as_parts(files)) for h, files in paths.items()]
        together = parse_clean_hours(stream, fraud, hours)
        assert together is not None
        for (hour, parts), batch in zip(hours, together, strict=True):
            expected = alone(parts, fraud, hour)
            assert batch.rows.num_rows == expected.rows.num_rows > 0
            key = [("prediction_id", "ascending")]
            assert batch.rows.sort_by(key).equals(expected.rows.sort_by(key))
            assert batch.quarantine.equals(expected.quarantine)
            assert (batch.files, batch.lines, batch.line_path_files) == (
                expected.files,
                expected.lines,
                0,
            )


def _spoiled(paths, spoil):
    """The hours' parts after ``spoil(records, hour index)`` edited each first file."""
    for i, files in enumerate(paths.values()):
        records = [json.loads(line) for line in files[0].read_text().splitlines()]
        spoil(records, i)
        files[0].write_text("".join(json.dumps(r) + "\n" for r in records))
    return [(h, as_parts(files)) for h, files in paths.items()]


def _set(i, hours, **values):
    def spoil(records, hour):
        if hour in hours:
            records[i].update(values)

    return spoil


def _twice_in(hours):
    def spoil(records, hour):
        if hour == hours:
            records[1]["prediction_id"] = records[0]["prediction_id"]

    return spoil


@pytest.mark.parametrize(
    "spoil, declined",
    [
        # Stamped in hour 0 but logged in hour 2: inside the first hour's window, not its own.
        (_set(0, {2}, timestamp=format_timestamp(HOURS[0])), {2}),
        (_set(0, {3}, status="maybe"), {3}),
        # An id twice in hour 1 (ranked by line: the hour alone knows the line numbers).
        (_twice_in(1), {1}),
        # The same id in hours 1 and 3 is a repeat the warehouse finds after each hour is
        # written, as it does for hours parsed alone: each hour alone is clean.
        (_set(0, {1, 3}, prediction_id="shared"), set()),
    ],
)
def test_one_pass_declines_the_hours_that_need_more(tmp_path, fraud, spoil, declined):
    batches = parse_clean_hours(
        PREDICTIONS, fraud, _spoiled(_prediction_hours(tmp_path, fraud), spoil)
    )
    assert {i for i, b in enumerate(batches) if b is None} == declined


def test_a_line_that_is_not_json_fails_the_whole_pass(tmp_path, fraud):
    paths = _prediction_hours(tmp_path, fraud)
    bad = paths[HOURS[2]][0]
    bad.write_text(bad.read_text() + "{not json\n")
    assert (
        parse_clean_hours(PREDICTIONS, fraud, [(h, as_parts(f)) for h, f in paths.items()]) is None
    )


def test_one_pass_declines_a_label_beyond_its_own_hours_skew(tmp_path, fraud):
    paths = _label_hours(tmp_path, fraud, last_ts_late=True)
    hours = [(h, as_parts(files)) for h, files in paths.items()]
    assert [b is None for b in parse_clean_hours(LABELS, fraud, hours)] == [0, 1, 0, 0]


def _spy(monkeypatch):
    calls = []

    def spy(stream, model, hours):
        result = parse_clean_hours(stream, model, hours)
        calls.append((stream, len(hours), result is not None))
        return result

    monkeypatch.setattr(ingest_load, "parse_clean_hours", spy)
    return calls


def test_clean_hours_store_what_hours_parsed_alone_store(warehouse, tmp_path, fraud, monkeypatch):
    _prediction_hours(tmp_path, fraud)
    _label_hours(tmp_path, fraud)
    label_query = (
        f'SELECT * FROM "{raw_labels_table(fraud).name}" ORDER BY partition_hour, arrival_seq'
    )
    monkeypatch.setattr(ingest_load, "parse_clean_hours", lambda *a: None)
    alone = load_prediction_hours(warehouse, fraud, tmp_path, HOURS, direct=False)
    alone_labels = load_label_hours(warehouse, fraud, tmp_path, HOURS, direct=False)
    expected = (*_tables(warehouse, fraud), warehouse.query_df(label_query))
    calls = _spy(monkeypatch)
    together = load_prediction_hours(warehouse, fraud, tmp_path, HOURS, direct=False)
    together_labels = load_label_hours(warehouse, fraud, tmp_path, HOURS, direct=False)
    assert calls == [(PREDICTIONS, 4, True), (LABELS, 4, True)]
    assert together == alone and together_labels == alone_labels
    assert [r.rows for r in together] == [20] * 4
    _assert_same((*_tables(warehouse, fraud), warehouse.query_df(label_query)), expected)
    assert quarantined(warehouse).empty


def test_a_declined_pass_loads_hour_by_hour(warehouse, tmp_path, fraud, monkeypatch):
    paths = _prediction_hours(tmp_path, fraud)
    bad = paths[HOURS[2]][0]
    bad.write_text(bad.read_text() + "{not json\n")
    calls = _spy(monkeypatch)
    results = load_prediction_hours(warehouse, fraud, tmp_path, HOURS)
    # The failed pass is halved: hours 0-1 pass together, 2-3 fail, and each is parsed alone.
    assert calls == [(PREDICTIONS, 4, False), (PREDICTIONS, 2, True), (PREDICTIONS, 2, False)]
    assert [(r.rows, r.quarantined) for r in results] == [(20, 0), (20, 0), (20, 1), (20, 0)]
    assert quarantined(warehouse)["reason"].tolist() == ["invalid JSON"]


def test_hours_over_a_chunk_are_parsed_alone(warehouse, tmp_path, fraud, monkeypatch):
    paths = _prediction_hours(tmp_path, fraud)
    one_hour = sum(p.stat().st_size for p in paths[HOURS[0]])
    calls = _spy(monkeypatch)
    # Chunks hold about two hours: two passes of two hours each.
    load_prediction_hours(
        warehouse, fraud, tmp_path, HOURS, chunk_bytes=int(2.5 * one_hour), direct=False
    )
    assert calls == [(PREDICTIONS, 2, True), (PREDICTIONS, 2, True)]


def test_each_label_hour_names_the_days_of_its_predictions(warehouse, tmp_path, fraud):
    """Asked once for all the hours: each hour's own days (the late-label refresh reads them)."""
    paths = _prediction_hours(tmp_path, fraud)
    early = dt.datetime(2026, 11, 15, 23)
    write(tmp_path, fraud, lines_of(fraud, 3, early, seed=9), hour=early)
    load_prediction_hours(warehouse, fraud, tmp_path, [early, *HOURS])
    ids = [json.loads(x)["prediction_id"] for x in paths[HOURS[0]][0].read_text().splitlines()]
    ids_early = [json.loads(x)["prediction_id"] for x in lines_of(fraud, 3, early, seed=9)]
    arrivals = [dt.datetime(2026, 11, 17, h) for h in (9, 10, 11, 12)]
    label_ids = {
        arrivals[0]: ids[:3],
        arrivals[1]: [],
        arrivals[2]: ["nobody"],
        arrivals[3]: [ids[4], ids_early[0]],
    }
    for hour, pids in label_ids.items():
        ts = format_timestamp(hour)
        records = [
            {"prediction_id": p, "model_name": fraud.name, "label": "1", "label_timestamp": ts}
            for p in pids
        ]
        if records:
            write(tmp_path, fraud, [json.dumps(r) for r in records], stream=LABELS, hour=hour)
    results = load_label_hours(warehouse, fraud, tmp_path, arrivals)
    assert [r.prediction_days for r in results] == [
        ("2026-11-16",),
        (),
        (),
        ("2026-11-15", "2026-11-16"),
    ]
