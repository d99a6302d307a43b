import datetime as dt

from modelmon_dagster.logformat import LABELS, PREDICTIONS, closed_files, hour_folder
from modelmon_dagster.sim.live import closed_hour, demo_start, tick


def test_live_ticks_write_each_closed_hour_and_leave_earlier_ones_unchanged(tmp_path, demo_config):
    end = dt.datetime(2026, 11, 20, 14)
    start = dt.datetime(2026, 11, 19)
    tick(demo_config, tmp_path, start, 42, end)
    logs = tmp_path / "logs"
    fraud = "fraud_detector"
    last = hour_folder(logs, PREDICTIONS, fraud, end - dt.timedelta(hours=1))
    assert closed_files(last) and not hour_folder(logs, PREDICTIONS, fraud, end).exists()
    before = {p: p.read_bytes() for p in (logs / PREDICTIONS).rglob("*.jsonl")}
    labels_before = {p: p.read_bytes() for p in (logs / LABELS).rglob("*.jsonl")}

    tick(demo_config, tmp_path, start, 42, end + dt.timedelta(hours=1))  # the next hour closed
    assert closed_files(hour_folder(logs, PREDICTIONS, fraud, end))
    assert all(p.read_bytes() == data for p, data in before.items())  # rewritten identically
    assert all(p.read_bytes() == data for p, data in labels_before.items())
    assert not (tmp_path / "reference").exists()  # the baseline's data is left alone
    assert demo_start(tmp_path, fraud, dt.datetime(2000, 1, 1)) == start
    assert closed_hour(dt.datetime(2026, 11, 20, 14, 59)) == end
