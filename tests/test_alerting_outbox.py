"""The outbox: receivers that are down, failing, unconfigured or raced; secrets kept secret.

A real HTTP server on 127.0.0.1 receives every payload; runs on DuckDB and PostgreSQL.
"""

import datetime as dt
import logging
import threading

import pytest
import sqlalchemy as sa
from alerting_support import MODEL, ONCALL_ENV, Receiver, at, signal

from modelmon_dagster.alerting import AlertingConfig, AlertManager
from modelmon_dagster.alerting.config import parse_alerting
from modelmon_dagster.warehouse import Warehouse

T = at(15, 5)
MINUTE, HALF_MINUTE = dt.timedelta(minutes=1), dt.timedelta(seconds=30)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def outbox(warehouse):
    return warehouse.query_df(
        "SELECT notification_id, status, attempts, next_attempt_at, last_error, delivered_at "
        "FROM alert_outbox ORDER BY created_at, notification_id"
    )


def test_receiver_down_then_up_loses_nothing_and_sends_nothing_twice(warehouse, receiver):
    mgr = AlertManager(
        warehouse, {MODEL: AlertingConfig()}, environ={ONCALL_ENV: receiver.url("oncall")}
    )
    receiver.stop()
    first = mgr.process([signal("volume")], T).queued
    report = mgr.flush(T)
    assert report.delivered == () and list(report.failed) == list(first)
    assert report.routes[ONCALL_ENV].startswith("failing: failure: A Connection error occurred")
    row = outbox(warehouse).iloc[0]
    assert (row.status, row.attempts, row.next_attempt_at) == ("queued", 1, T + MINUTE)

    # While it waits for its backoff, nothing of that route is tried, not even newer messages.
    second = mgr.process([signal("latency_p99", hour=15)], T + HALF_MINUTE).queued
    report = mgr.flush(T + HALF_MINUTE)
    assert report.routes[ONCALL_ENV].startswith("waiting until") and report.failed == {}
    assert outbox(warehouse).attempts.tolist() == [1, 0]

    report = mgr.flush(T + MINUTE)  # due again, still down: the backoff doubles
    assert outbox(warehouse).attempts.tolist() == [2, 0]
    assert outbox(warehouse).next_attempt_at.tolist()[0] == T + 3 * MINUTE
    third = mgr.process([signal("volume", "ok", hour=15)], T + 2 * MINUTE).queued

    receiver.start()
    report = mgr.flush(T + 3 * MINUTE)
    expected = [*first, *second, *third]
    assert report.delivered == tuple(expected) and report.queued == 0
    assert report.routes == {ONCALL_ENV: "ok"}
    assert mgr.flush(T + 4 * MINUTE).delivered == ()
    assert [p["notification_id"] for p in receiver.accepted()] == expected  # in order, once each
    rows = outbox(warehouse)
    assert rows.status.tolist() == ["delivered"] * 3
    assert rows.delivered_at.tolist() == [T + 3 * MINUTE] * 3
    assert rows.last_error.isna().all()


def test_a_rejected_notification_is_retried_with_the_same_id(warehouse, receiver):
    mgr = AlertManager(
        warehouse, {MODEL: AlertingConfig()}, environ={ONCALL_ENV: receiver.url("oncall")}
    )
    receiver.status = 500
    [nid] = mgr.process([signal("volume")], T).queued
    report = mgr.flush(T)
    assert "error=500" in report.failed[nid]
    assert outbox(warehouse).last_error.tolist() == [report.failed[nid]]
    receiver.status = 200
    assert mgr.flush(T + MINUTE).delivered == (nid,)
    assert [r["json"]["notification_id"] for r in receiver.requests] == [nid, nid]
    assert [r["status"] for r in receiver.requests] == [500, 200]


def test_an_unset_route_variable_keeps_notifications_queued(warehouse, receiver):
    environ: dict[str, str] = {}
    mgr = AlertManager(warehouse, {MODEL: AlertingConfig()}, environ=environ)
    [nid] = mgr.process([signal("volume")], T).queued
    report = mgr.flush(T)
    assert report.routes == {ONCALL_ENV: "no target configured"}
    assert report.queued == 1 and report.delivered == ()
    row = outbox(warehouse).iloc[0]
    assert (row.status, row.attempts) == ("queued", 0)
    assert row.last_error == f"no target configured ({ONCALL_ENV} is not set)"
    environ[ONCALL_ENV] = receiver.url("oncall")
    assert mgr.flush(T).delivered == (nid,)
    assert len(receiver.accepted()) == 1


@pytest.mark.postgres  # DuckDB allows one writing process: concurrent flushers need PostgreSQL
def test_concurrent_flushers_send_each_notification_once(postgres_schema_url):
    warehouse = Warehouse(postgres_schema_url)
    slow = Receiver(delay=0.05)
    try:
        routes = [f"ROUTE_{i}_URL" for i in range(4)]
        environ = {route: slow.url(route.lower()) for route in routes}
        configs = {
            f"model_{i}": parse_alerting(
                {"routes": [{"name": "oncall", "url_env": routes[i % 4]}]}, "m"
            )
            for i in range(12)
        }
        queued = AlertManager(warehouse, configs).process(
            [signal("volume", model=m, hour=h) for m in configs for h in (14, 15)], T
        )
        # A second pass: each model's resolve joins its route's queue behind the alert.
        queued = [
            *queued.queued,
            *AlertManager(warehouse, configs)
            .process([signal("volume", "ok", model=m, hour=16) for m in configs], T + MINUTE)
            .queued,
        ]
        assert len(queued) == 24
        warehouses = [Warehouse(postgres_schema_url) for _ in range(2)]
        managers = [AlertManager(w, configs, environ=environ) for w in warehouses]
        barrier = threading.Barrier(2)
        reports = []

        def flush(mgr):
            barrier.wait()
            reports.append(mgr.flush(T + 2 * MINUTE))

        threads = [threading.Thread(target=flush, args=(m,)) for m in managers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for w in warehouses:
            w.dispose()
        sent = [p["notification_id"] for p in slow.accepted()]
        assert sorted(sent) == sorted(queued)  # every one, once
        # A route is claimed whole by one flusher: the other finds it taken and leaves it.
        assert sorted(len(r.delivered) for r in reports) == [0, 24]
        for model in configs:  # per model, the alert went out before its resolve
            mine = [p["title"] for p in slow.accepted() if f" {model}:" in p["title"]]
            assert mine == [f"[modelmon] {model}: 1 new", f"[modelmon] {model}: 1 resolved"]
    finally:
        slow.stop()
        warehouse.dispose()


SECRETS = ("pa55-Word-xyz", "T0KEN-abc-123456")


def test_target_secrets_never_leave_the_process(warehouse, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    port = receiver.port
    environ = {ONCALL_ENV: f"json://bot:{SECRETS[0]}@127.0.0.1:{port}/hooks/{SECRETS[1]}"}
    mgr = AlertManager(warehouse, {MODEL: AlertingConfig()}, environ=environ)
    reports = [mgr.process([signal("volume")], T)]
    receiver.stop()  # requests' connection error repeats the URL's path
    reports.append(mgr.flush(T))
    receiver.start()
    receiver.status = 500
    reports.append(mgr.flush(T + MINUTE))
    receiver.status = 200
    reports.append(mgr.flush(T + 5 * MINUTE))
    environ[ONCALL_ENV] = f"nonsense://{SECRETS[1]}@{SECRETS[0]}"  # Apprise refuses it, loudly
    reports.append(mgr.process([signal("volume", "ok", hour=15)], T + 6 * MINUTE))
    reports.append(mgr.flush(T + 6 * MINUTE))

    assert len(receiver.accepted()) == 1, "the scenario must have delivered through the URL"
    assert "not a valid Apprise URL" in reports[-1].routes[ONCALL_ENV]
    assert any("JSON POST URL" in r.getMessage() for r in caplog.records), "Apprise logged"
    # The receiver's own access log (werkzeug, same process here) is the receiver's business.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    texts = [ours, *(repr(r) for r in reports), *(str(r.as_metadata()) for r in reports)]
    texts.append(repr(mgr))
    with warehouse.engine.connect() as conn:
        for table in ("alerts", "alert_observations", "alert_outbox"):
            texts.append(str(conn.execute(sa.text(f"SELECT * FROM {table}")).fetchall()))
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
