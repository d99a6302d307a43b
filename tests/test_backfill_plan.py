import datetime as dt
import io

import pytest

from modelmon_dagster.commands.plan import day_keys, hour_keys, missing_runs, refresh_days, window
from modelmon_dagster.commands.progress import Progress, duration

START = dt.datetime(2026, 11, 1)


def test_missing_runs_skip_done_partitions_and_respect_the_run_size():
    keys = hour_keys(START, START + dt.timedelta(hours=10))
    done = {keys[2], keys[3], keys[7]}
    runs = missing_runs("m", "hourly", keys, done, per_run=3)
    assert [(r.first, r.last) for r in runs] == [
        (keys[0], keys[1]),
        (keys[4], keys[6]),
        (keys[8], keys[9]),
    ]
    assert missing_runs("m", "hourly", keys, set(keys), per_run=24) == []


def test_window_covers_whole_days_up_to_the_last_closed_hour():
    now = dt.datetime(2026, 11, 5, 13, 27)
    start, end = window(dt.date(2026, 11, 2), dt.date(2026, 11, 9), START, now)
    assert (start, end) == (dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 5, 13))
    assert day_keys(start, end) == ["2026-11-02", "2026-11-03", "2026-11-04"]  # 5th not over
    with pytest.raises(ValueError, match="before partitions.start_date"):
        window(dt.date(2026, 10, 31), dt.date(2026, 11, 2), START, now)
    with pytest.raises(ValueError, match="before --from"):
        window(dt.date(2026, 11, 3), dt.date(2026, 11, 2), START, now)


def test_refresh_days_are_earlier_materialised_days_within_the_label_delay():
    arrivals = [
        ("2026-11-01", dt.datetime(2026, 11, 4, 5)),  # 77 h after: beyond 48 h + a day
        ("2026-11-02", dt.datetime(2026, 11, 4, 5)),  # yes
        ("2026-11-03", dt.datetime(2026, 11, 4, 5)),  # yes, but recomputed by this backfill
        ("2026-11-04", dt.datetime(2026, 11, 4, 5)),  # the arrival's own day: its daily run
    ]
    done = {"2026-11-01", "2026-11-02", "2026-11-03"}
    assert refresh_days(arrivals, 48, done, rerun={"2026-11-03"}) == ["2026-11-02"]
    assert refresh_days(arrivals, 48, set(), rerun=set()) == []  # never measured: nothing


def test_progress_eta_follows_the_rate_so_far():
    out = io.StringIO()
    progress = Progress(10, out=out)
    assert progress.eta() is None
    progress.started -= 8.0  # 8 s ago
    progress.update("running x", 4)  # 4 of 10 units in 8 s: 12 s to go
    assert progress.eta() == pytest.approx(12.0, rel=0.01)
    assert " 40%" in out.getvalue() and "ETA 12 s  running x" in out.getvalue()
    assert duration(42) == "42 s" and duration(185) == "3 min 05 s"
    assert duration(3720) == "1 h 02 min"
