"""On DuckDB, clean hours are loaded straight from their files in one statement (issue 14,
item 4). Whatever it stores must be what the general path stores; any hour that needs more (a
rejected record, a line that is not JSON, an id twice in an hour or already stored nearby) must
roll the whole group back and go the general way."""

import datetime as dt
import json
import time

import duckdb
import pytest
from test_ingest_chunks import lines_of, quarantined, write
from test_ingest_clean_hours import HOURS, _label_hours, _prediction_hours
from test_ingest_hours import _assert_same, _tables

from modelmon_dagster.ingest import load as ingest_load
from modelmon_dagster.ingest.direct import (
    REASON_CHARS,
    Declined,
    decline_reason,
    load_hours_directly,
)
from modelmon_dagster.ingest.load import load_label_hours, load_prediction_hours
from modelmon_dagster.ingest.tables import QUARANTINE, raw_labels_table, raw_predictions_table
from modelmon_dagster.logformat import PREDICTIONS, format_timestamp, hour_folder
from modelmon_dagster.quality.hours import combined
from modelmon_dagster.warehouse import Replacement, Warehouse


@pytest.fixture
def two(tmp_path):
    """A DuckDB warehouse loaded directly, and one loaded the general way, on the same logs."""
    pair = [Warehouse.duckdb_file(tmp_path / f"{name}.duckdb") for name in ("direct", "general")]
    yield pair
    for wh in pair:
        wh.dispose()


@pytest.fixture
def attempts(monkeypatch):
    """Each direct attempt: the hours it was given and whether it committed."""
    calls = []

    def spy(warehouse, model, stream, schema, hours, partitions):
        counts = load_hours_directly(warehouse, model, stream, schema, hours, partitions)
        calls.append(([h for h, _ in hours], not isinstance(counts, str)))
        return counts

    monkeypatch.setattr(ingest_load, "load_hours_directly", spy)
    return calls


def _labels(warehouse, model):
    return warehouse.query_df(
        f'SELECT * FROM "{raw_labels_table(model).name}" ORDER BY partition_hour, arrival_seq'
    )


@pytest.mark.parametrize("model_name", ["fraud", "demand"])  # a classifier, a regression
def test_clean_hours_loaded_directly_store_what_the_general_path_stores(
    two, tmp_path, model_name, request, attempts
):
    fraud = request.getfixturevalue(model_name)
    _prediction_hours(tmp_path, fraud)
    _label_hours(tmp_path, fraud)
    empty = HOURS[-1] + dt.timedelta(hours=1)  # no files: zero rows, its partitions cleared
    hours = [*HOURS, empty]
    direct, general = two
    got = load_prediction_hours(direct, fraud, tmp_path, hours)
    got_labels = load_label_hours(direct, fraud, tmp_path, hours)
    assert attempts == [(hours, True), (hours, True)]
    want = load_prediction_hours(general, fraud, tmp_path, hours, direct=False)
    want_labels = load_label_hours(general, fraud, tmp_path, hours, direct=False)
    assert got == want and got_labels == want_labels
    assert [(r.rows, r.files, r.chunks) for r in got] == [(20, 1, 1)] * 3 + [(20, 2, 1), (0, 0, 0)]
    assert [r.direct_hours for r in got + got_labels] == [1] * 10
    assert [r.direct_hours for r in want + want_labels] == [0] * 10
    _assert_same(_tables(direct, fraud), _tables(general, fraud))
    _assert_same([_labels(direct, fraud)], [_labels(general, fraud)])
    assert [r.prediction_days for r in got_labels] == [r.prediction_days for r in want_labels]
    # A rerun replaces the hours: nothing doubles, and it is still direct.
    again = load_prediction_hours(direct, fraud, tmp_path, hours)
    assert again == got and attempts[-1] == (hours, True)
    _assert_same(_tables(direct, fraud), _tables(general, fraud))


# What a declined group's hours say, by problem.
REASONS = {
    "not json": "InvalidInputException: Invalid Input Error: Malformed JSON in file",
    "rejected record": "InvalidInputException: Invalid Input Error: rejected record: score outside",
    "mistyped": "in line 6: Failed to cast value to numerical",
    "twice in an hour": "an id twice in an hour",
    "in another hour": "an id stored in another hour",
}


def _problem_hours(root, model, problem):
    paths = _prediction_hours(root, model)
    target = paths[HOURS[2]][0]
    lines = target.read_text().splitlines()
    if problem == "not json":
        lines[5] = "{not json"
    elif problem == "rejected record":
        lines[5] = json.dumps(dict(json.loads(lines[5]), score=7.0))
    elif problem == "mistyped":
        lines[5] = json.dumps(dict(json.loads(lines[5]), latency_ms="slow"))
    elif problem == "twice in an hour":
        lines[5] = lines[4]
    elif problem == "in another hour":
        first = json.loads(paths[HOURS[0]][0].read_text().splitlines()[3])
        again = dict(first, timestamp=format_timestamp(HOURS[2] + dt.timedelta(minutes=9)))
        lines[5] = json.dumps(again)
    target.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "problem",
    ["not json", "rejected record", "mistyped", "twice in an hour", "in another hour"],
)
def test_a_group_that_needs_more_is_declined_and_loaded_the_general_way(
    two, tmp_path, fraud, attempts, problem
):
    _problem_hours(tmp_path, fraud, problem)
    direct, general = two
    got = load_prediction_hours(direct, fraud, tmp_path, HOURS)
    assert attempts == [(HOURS, False)]
    want = load_prediction_hours(general, fraud, tmp_path, HOURS, direct=False)
    assert got == want and not any(r.direct_hours for r in got)
    assert sum(r.quarantined for r in got) >= 1
    # Each hour of the group says why (the ingestion asset's ``direct_load_declined``).
    reasons = [r.direct_declined for r in got]
    assert all(r == reasons[0] and sum(r.values()) == 1 for r in reasons), reasons
    assert REASONS[problem] in next(iter(reasons[0])), reasons[0]
    _assert_same(_tables(direct, fraud), _tables(general, fraud))


def test_a_declined_group_leaves_the_stored_hours_as_they_were(tmp_path, fraud):
    wh = Warehouse.duckdb_file(tmp_path / "wh.duckdb")
    _prediction_hours(tmp_path, fraud)
    load_prediction_hours(wh, fraud, tmp_path, HOURS)
    before = _tables(wh, fraud)
    _problem_hours(tmp_path, fraud, "rejected record")
    schema = raw_predictions_table(fraud)
    partitions = [
        Replacement(table, "partition_hour = :h", {"h": hour})
        for hour in HOURS
        for table in (schema, QUARANTINE)
    ]
    files = [
        (h, sorted(hour_folder(tmp_path, PREDICTIONS, fraud.name, h).iterdir())) for h in HOURS
    ]
    assert all(f for _, f in files)
    reason = load_hours_directly(wh, fraud, PREDICTIONS, schema, files, partitions)
    assert reason.endswith("rejected record: score outside [0, 1]")
    _assert_same(_tables(wh, fraud), before)
    # The temporary view and table went with the rolled-back transaction.
    names = wh.query_df("SELECT table_name FROM information_schema.tables")["table_name"]
    assert not {"file_all", "__modelmon_old_ids"} & set(names)
    wh.dispose()


def test_an_id_in_the_old_rows_of_a_later_hour_sends_the_group_the_general_way(
    two, tmp_path, fraud, attempts
):
    """A general load of hour 0 sees hour 1's old rows: an id there is a repeat in hour 0."""
    paths = _prediction_hours(tmp_path, fraud)
    moved = paths[HOURS[1]][0].read_text().splitlines()[2]
    direct, general = two
    for wh in two:
        load_prediction_hours(wh, fraud, tmp_path, [HOURS[1]], direct=wh is direct)
    # Hour 1's record now arrives in hour 0 instead (the old hour 1 still holds it).
    hour0 = paths[HOURS[0]][0]
    record = dict(json.loads(moved), timestamp=format_timestamp(HOURS[0]))
    hour0.write_text(hour0.read_text() + json.dumps(record) + "\n")
    hour1 = paths[HOURS[1]][0]
    hour1.write_text(
        "\n".join(hour1.read_text().splitlines()[:2] + hour1.read_text().splitlines()[3:]) + "\n"
    )
    got = load_prediction_hours(direct, fraud, tmp_path, HOURS[:2])
    assert attempts[-1] == (HOURS[:2], False)
    want = load_prediction_hours(general, fraud, tmp_path, HOURS[:2], direct=False)
    assert got == want
    assert got[0].quarantine_reasons == {"prediction_id already stored in another hour": 1}
    _assert_same(_tables(direct, fraud), _tables(general, fraud))


def test_after_two_declined_groups_in_a_row_the_rest_is_not_tried(
    tmp_path, fraud, attempts, monkeypatch
):
    paths = _prediction_hours(tmp_path, fraud)
    for hour in HOURS[:2]:
        path = paths[hour][0]
        path.write_text(path.read_text() + "{not json\n")
    monkeypatch.setattr(ingest_load, "DIRECT_GROUP_BYTES", 1)  # one hour a group
    wh = Warehouse.duckdb_file(tmp_path / "wh.duckdb")
    results = load_prediction_hours(wh, fraud, tmp_path, HOURS)
    assert attempts == [([HOURS[0]], False), ([HOURS[1]], False)]
    assert [(r.rows, r.quarantined) for r in results] == [(20, 1), (20, 1), (20, 0), (20, 0)]
    assert [r.direct_declined for r in results[2:]] == [{ingest_load.NOT_TRIED_DECLINES: 1}] * 2
    attempts.clear()
    # A decline followed by a success starts the count again.
    path = paths[HOURS[1]][0]
    path.write_text(path.read_text().replace("{not json\n", ""))
    load_prediction_hours(wh, fraud, tmp_path, HOURS)
    assert attempts == [([h], h != HOURS[0]) for h in HOURS]
    wh.dispose()


def test_timestamps_without_an_offset_are_utc_whatever_the_machine_zone(
    tmp_path, fraud, monkeypatch
):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        wh = Warehouse.duckdb_file(tmp_path / "wh.duckdb")
        hour = HOURS[0]
        lines = lines_of(fraud, 3, hour, seed=1)
        naive = [
            dict(json.loads(x), timestamp=f"{hour:%Y-%m-%dT%H}:0{i}:00")
            for i, x in enumerate(lines)
        ]
        write(tmp_path, fraud, [json.dumps(r) for r in naive], hour=hour)
        result = load_prediction_hours(wh, fraud, tmp_path, [hour])[0]
        assert (result.rows, result.quarantined) == (3, 0)
        assert wh.scalar("SELECT current_setting('TimeZone')") == "UTC"
        stored = wh.query_df(f'SELECT ts FROM "{raw_predictions_table(fraud).name}" ORDER BY ts')
        assert [t.to_pydatetime() for t in stored["ts"]] == [
            hour + dt.timedelta(minutes=i) for i in range(3)
        ]
        assert quarantined(wh).empty
        wh.dispose()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_model_with_lines_quarantined_in_the_day_before_skips_the_direct_load(
    tmp_path, fraud, attempts
):
    """Logs with a steady trickle of bad lines would have every hourly run read twice."""
    paths = _prediction_hours(tmp_path, fraud)
    path = paths[HOURS[0]][0]
    path.write_text(path.read_text() + "{not json\n")
    wh = Warehouse.duckdb_file(tmp_path / "wh.duckdb")
    load_prediction_hours(wh, fraud, tmp_path, HOURS[:1])
    assert attempts == [([HOURS[0]], False)]
    attempts.clear()
    results = load_prediction_hours(wh, fraud, tmp_path, HOURS[1:])
    assert attempts == [] and [r.rows for r in results] == [20, 20, 20]
    reason = ingest_load.NOT_TRIED_QUARANTINED
    assert "24 hours" in reason and [r.direct_declined for r in results] == [{reason: 1}] * 3
    assert combined(results).direct_declined == {reason: 3}
    # Quarantined more than a day before the run's first hour: tried again.
    later = HOURS[0] + ingest_load.DIRECT_QUARANTINE_LOOKBACK + dt.timedelta(hours=1)
    write(tmp_path, fraud, lines_of(fraud, 5, later, seed=7), hour=later)
    assert load_prediction_hours(wh, fraud, tmp_path, [later])[0].rows == 5
    assert attempts == [([later], True)]
    # Labels are judged by their own stream's quarantine.
    _label_hours(tmp_path, fraud)
    load_label_hours(wh, fraud, tmp_path, HOURS[1:2])
    assert attempts[-1] == ([HOURS[1]], True)
    wh.dispose()


def test_a_decline_reason_is_one_line_of_bounded_length():
    assert decline_reason(Declined("an id twice in an hour")) == "an id twice in an hour"
    long = duckdb.OutOfMemoryException("Out of Memory Error: " + "x" * 1000 + "\nmore")
    reason = decline_reason(long)
    assert reason.startswith("OutOfMemoryException: Out of Memory Error: xxx")
    assert len(reason) == REASON_CHARS + len("OutOfMemoryException: ") and "\n" not in reason
