"""Alert routing end to end: signals → warehouse state → outbox → a real local HTTP receiver.

Every test runs on DuckDB and PostgreSQL (the ``warehouse`` fixture).
"""

import datetime as dt

import pytest
from alerting_support import DAY, DIGEST_ENV, MODEL, ONCALL_ENV, Receiver, at, signal

from modelmon_dagster.alerting import AlertingConfig, AlertManager, Silence


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def manager(warehouse, receiver, config=None):
    environ = {ONCALL_ENV: receiver.url("oncall"), DIGEST_ENV: receiver.url("digest")}
    return AlertManager(warehouse, {MODEL: config or AlertingConfig()}, environ=environ)


def run(mgr, signals, now):
    """One processing pass followed by a flush, as a Dagster step would do."""
    processed = mgr.process(signals, now)
    return processed, mgr.flush(now)


def alert_rows(warehouse, **where):
    sql = "SELECT * FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = :{k}" for k in where)
    return warehouse.query_df(sql + " ORDER BY name, dimension, seq", where)


def test_critical_is_delivered_at_once_and_warnings_wait_for_the_digest(warehouse, receiver):
    mgr = manager(warehouse, receiver)
    processed, delivered = run(
        mgr,
        [signal("volume"), signal("feature_drift", "firing", "WARN", dimension="amount")],
        at(15, 5),
    )
    assert processed.events["opened"] == 2
    assert delivered.delivered == processed.queued and len(processed.queued) == 1
    [page] = receiver.accepted("oncall")
    assert page["notification_id"] == processed.queued[0]
    assert page["type"] == "failure"
    assert page["title"] == f"[modelmon] {MODEL}: 1 new"
    assert "FIRING ERROR volume" in page["message"] and "feature_drift" not in page["message"]
    assert receiver.accepted("digest") == []
    volume = alert_rows(warehouse, name="volume").iloc[0]
    assert (volume.status, volume.firing_count, volume.notified_routes) == ("open", 1, ONCALL_ENV)
    assert volume.last_notified_at == at(15, 5)
    drift = alert_rows(warehouse, name="feature_drift").iloc[0]
    assert (drift.status, drift.severity, drift.notify_count) == ("open", "WARN", 0)


def test_daily_digest_one_message_per_route_and_day(warehouse, receiver):
    mgr = manager(warehouse, receiver)
    for hour in (9, 10, 11):
        run(
            mgr,
            [signal("feature_drift", "firing", "WARN", hour=hour, dimension="amount")],
            at(hour + 1),
        )
    run(mgr, [signal("data_quality", "firing", "WARN", hour=12)], at(13))
    run(mgr, [signal("data_quality", "ok", "WARN", hour=13)], at(14))
    # A warning recorded the next day belongs to the next day's digest.
    run(mgr, [signal("prediction_drift", "firing", "WARN", hour=23)], at(24, 30))
    assert receiver.accepted() == []

    report = mgr.daily_digest(DAY, at(24, 40))
    assert report.routes[DIGEST_ENV].startswith("queued: ")
    mgr.flush(at(24, 40))
    [digest] = receiver.accepted("digest")
    assert digest["title"] == "[modelmon] daily digest 2026-11-18: 2 warning(s), 0 resolved"
    lines = digest["message"].splitlines()
    assert lines[0] == MODEL
    assert any(
        "feature_drift[amount] (3 periods, 2026-11-18-09:00 … 2026-11-18-11:00; open)" in ln
        for ln in lines
    )
    assert any(
        "data_quality (2026-11-18-12:00; resolved at 2026-11-18-13:00)" in ln for ln in lines
    )
    assert "prediction_drift" not in digest["message"]

    # The same day again: nothing new is queued or sent.
    again = mgr.daily_digest(DAY, at(25))
    assert again.routes[DIGEST_ENV].startswith("already queued")
    mgr.flush(at(25))
    assert len(receiver.accepted("digest")) == 1

    # The next day: the late warning, and the resolution of a warning reported the day before.
    run(mgr, [signal("feature_drift", "ok", "WARN", hour=30, dimension="amount")], at(31))
    mgr.daily_digest(DAY + dt.timedelta(days=1), at(48, 40))
    mgr.flush(at(48, 40))
    second = receiver.accepted("digest")[1]["message"]
    assert "WARN prediction_drift (2026-11-18-23:00; open)" in second
    assert "RESOLVED feature_drift[amount]: ok at 2026-11-19-06:00" in second


def test_several_failing_checks_make_one_notification(warehouse, receiver):
    mgr = manager(warehouse, receiver)
    names = ["volume", "latency_p99", "error_rate"]
    processed, _ = run(mgr, [signal(n) for n in names], at(15, 5))
    assert len(processed.queued) == 1
    [page] = receiver.accepted("oncall")
    assert page["title"] == f"[modelmon] {MODEL}: 3 new"
    assert all(f"FIRING ERROR {n} " in page["message"] for n in names)
    # Next hour: the three still fire (inside the repeat interval) and one more check fails.
    processed, _ = run(mgr, [signal(n, hour=15) for n in [*names, "performance"]], at(16, 5))
    second = receiver.accepted("oncall")[1]
    assert second["title"] == f"[modelmon] {MODEL}: 1 new"
    assert "performance" in second["message"] and "volume" not in second["message"]
    assert alert_rows(warehouse, name="volume").iloc[0].firing_count == 2


def test_schema_failure_inhibits_drift_and_quality_of_the_same_hour(warehouse, receiver):
    mgr = manager(warehouse, receiver)
    processed, _ = run(
        mgr,
        [
            signal("feature_drift", dimension="amount"),
            signal("data_quality", "firing", "WARN"),
            signal("schema"),
            signal("volume"),
        ],
        at(15, 5),
    )
    assert processed.inhibited == 2
    [page] = receiver.accepted("oncall")
    assert "schema" in page["message"] and "volume" in page["message"]
    assert "feature_drift" not in page["message"]
    drift = alert_rows(warehouse, name="feature_drift").iloc[0]
    assert (drift.status, drift.suppressed_by, drift.notify_count) == (
        "open",
        "inhibited by schema",
        0,
    )
    observed = warehouse.query_df(
        "SELECT name, disposition FROM alert_observations ORDER BY name"
    ).values.tolist()
    assert observed == [
        ["data_quality", "inhibited"],
        ["feature_drift", "inhibited"],
        ["schema", "notify"],
        ["volume", "notify"],
    ]
    # A later pass about the same hour is still inhibited by the stored schema failure ...
    processed, _ = run(mgr, [signal("prediction_drift")], at(15, 30))
    assert processed.inhibited == 1 and len(receiver.accepted("oncall")) == 1
    # ... the next hour, with the schema fixed, drift is news.
    run(
        mgr,
        [signal("schema", "ok", hour=15), signal("feature_drift", hour=15, dimension="amount")],
        at(16, 5),
    )
    second = receiver.accepted("oncall")[1]
    assert "FIRING ERROR feature_drift[amount]" in second["message"]
    assert "RESOLVED schema" in second["message"]
    assert "data_quality" not in second["message"]  # never told, so no resolve either


def test_silence_mutes_until_it_expires(warehouse, receiver):
    config = AlertingConfig(
        silences=(
            Silence(name="feature_drift", dimension="amo*", until=at(17), comment="ticket 42"),
        )
    )
    mgr = manager(warehouse, receiver, config)
    for hour in (14, 15):
        processed, _ = run(
            mgr, [signal("feature_drift", hour=hour, dimension="amount")], at(hour + 1, 5)
        )
        assert processed.silenced == 1
    assert receiver.accepted() == []
    drift = alert_rows(warehouse, name="feature_drift").iloc[0]
    assert drift.suppressed_by.startswith("silenced until 2026-11-18 17:00 UTC: ticket 42")
    # A check the silence does not match is notified meanwhile.
    run(mgr, [signal("feature_drift", hour=15, dimension="country")], at(16, 10))
    assert "feature_drift[country]" in receiver.accepted("oncall")[0]["message"]
    # The silence expires at 17:00: the next firing hour notifies the still-open alert.
    processed, _ = run(mgr, [signal("feature_drift", hour=16, dimension="amount")], at(17, 5))
    assert processed.silenced == 0
    page = receiver.accepted("oncall")[1]
    assert (
        "FIRING ERROR feature_drift[amount] (3 periods: 2026-11-18-14:00 … 2026-11-18-16:00)"
        in page["message"]
    )


def test_open_alerts_repeat_after_the_interval(warehouse, receiver):
    mgr = manager(warehouse, receiver, AlertingConfig(repeat_interval_hours=4))
    run(mgr, [signal("volume", hour=14)], at(15))
    for hour in (15, 16, 17):
        processed, _ = run(mgr, [signal("volume", hour=hour)], at(hour + 1))
        assert processed.queued == ()
    run(mgr, [signal("volume", hour=18)], at(19))
    pages = receiver.accepted("oncall")
    assert len(pages) == 2
    assert pages[1]["title"] == f"[modelmon] {MODEL}: 1 still firing"
    assert "STILL FIRING ERROR volume (5 periods" in pages[1]["message"]
    row = alert_rows(warehouse, name="volume").iloc[0]
    assert (row.notify_count, row.last_notified_at) == (2, at(19))


def test_passing_check_resolves_and_tells_the_routes_that_were_told(warehouse, receiver):
    mgr = manager(warehouse, receiver)
    run(mgr, [signal("volume"), signal("data_quality", "firing", "WARN")], at(15, 5))
    processed, _ = run(
        mgr,
        [signal("volume", "ok", hour=15), signal("data_quality", "ok", "WARN", hour=15)],
        at(16, 5),
    )
    assert processed.events["resolved"] == 2
    pages = receiver.accepted("oncall")
    assert len(pages) == 2
    assert pages[1]["type"] == "success"
    assert pages[1]["title"] == f"[modelmon] {MODEL}: 1 resolved"
    assert "RESOLVED volume: ok at 2026-11-18-15:00" in pages[1]["message"]
    assert "data_quality" not in pages[1]["message"]  # a warning: the digest reports it
    rows = alert_rows(warehouse)
    assert rows.status.tolist() == ["resolved", "resolved"]
    assert rows.resolved_at.tolist() == [at(16, 5), at(16, 5)]
    # Firing again later is a new alert, notified as new.
    run(mgr, [signal("volume", hour=18)], at(19, 5))
    assert alert_rows(warehouse, name="volume").seq.tolist() == [1, 2]
    assert receiver.accepted("oncall")[2]["title"] == f"[modelmon] {MODEL}: 1 new"


def test_not_judged_never_opens_refires_or_resolves(warehouse, receiver):
    mgr = manager(warehouse, receiver)
    processed, _ = run(mgr, [signal("performance", "not_judged", daily=True)], at(23))
    assert processed.events == {"not_judged": 1}
    assert not warehouse.table_exists("alerts") or alert_rows(warehouse).empty
    run(mgr, [signal("volume", hour=14)], at(15))
    for hour in (15, 16):
        run(mgr, [signal("volume", "not_judged", hour=hour)], at(hour + 1))
    row = alert_rows(warehouse, name="volume").iloc[0]
    assert (row.status, row.firing_count, row.last_period) == ("open", 1, "2026-11-18-14:00")
    assert len(receiver.accepted()) == 1


def test_rerunning_a_pass_changes_nothing(warehouse, receiver):
    mgr = manager(warehouse, receiver)
    signals = [signal("volume"), signal("schema"), signal("feature_drift", dimension="amount")]
    run(mgr, signals, at(15, 5))
    tables = {
        "alerts": "alert_id",
        "alert_observations": "alert_id, period",
        "alert_outbox": "notification_id",
    }
    before = {t: warehouse.query_df(f"SELECT * FROM {t} ORDER BY {k}") for t, k in tables.items()}
    processed, _ = run(mgr, signals, at(15, 5))
    assert processed.queued == ()
    for table, key in tables.items():
        after = warehouse.query_df(f"SELECT * FROM {table} ORDER BY {key}")
        assert after.equals(before[table]), table
    assert len(receiver.accepted()) == 1
