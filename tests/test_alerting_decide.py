"""The alert manager's pure decisions, called directly (no warehouse, no network)."""

import datetime as dt
from dataclasses import replace

import pytest
from alerting_support import DIGEST_ENV, ONCALL_ENV, at, signal

from modelmon_dagster.alerting.config import AlertingConfig, Route, Silence
from modelmon_dagster.alerting.decide import (
    INHIBITED,
    NOTIFY,
    SILENCED,
    DeliveryPolicy,
    apply_signal,
    disposition,
    notification_id,
    plan_notifications,
)
from modelmon_dagster.alerting.delivery import redact, secret_fragments, with_notification_id
from modelmon_dagster.alerting.messages import render_alerts

NOW = at(15, 5)
FREE = (NOTIFY, "")


def opened(sig=None, now=NOW):
    return apply_signal(None, None, sig or signal("volume"), FREE, None, now).alert


def test_not_judged_changes_nothing():
    alert = opened()
    for current in (None, alert):
        step = apply_signal(current, None, signal("volume", "not_judged", hour=15), FREE, None, NOW)
        assert (step.event, step.alert, step.observation) == ("not_judged", None, None)


def test_a_firing_signal_opens_an_alert_with_a_deterministic_id():
    step = apply_signal(None, None, signal("volume", dimension="hourly"), FREE, None, NOW)
    assert step.event == "opened"
    alert = step.alert
    assert (alert.status, alert.seq, alert.firing_count, alert.severity) == ("open", 1, 1, "ERROR")
    assert (alert.first_period, alert.last_period) == ("2026-11-18-14:00", "2026-11-18-14:00")
    assert alert.alert_id == opened(signal("volume", dimension="hourly")).alert_id
    assert alert.alert_id != opened(signal("volume", dimension="daily")).alert_id
    assert step.observation.disposition == NOTIFY


def test_reruns_do_not_count_twice_and_backfills_do_not_change_the_current_state():
    alert = opened(signal("volume", "firing", "WARN", hour=14))
    later = apply_signal(alert, None, signal("volume", hour=16), FREE, None, NOW).alert
    assert (later.firing_count, later.severity, later.last_period) == (
        2,
        "ERROR",
        "2026-11-18-16:00",
    )
    rerun = apply_signal(later, None, signal("volume", hour=16), FREE, "firing", NOW).alert
    assert rerun.firing_count == 2
    backfill = signal("volume", "firing", "WARN", hour=10)
    older = apply_signal(rerun, None, backfill, FREE, None, NOW).alert
    assert older.firing_count == 3
    assert (older.first_period, older.last_period) == ("2026-11-18-10:00", "2026-11-18-16:00")
    assert (older.severity, older.max_severity) == ("ERROR", "ERROR")


def test_ok_resolves_only_from_the_latest_firing_period_on():
    alert = apply_signal(opened(), None, signal("volume", hour=16), FREE, None, NOW).alert
    # An earlier hour that was firing turns out fine (a rerun): that hour is cleared.
    cleared = apply_signal(alert, None, signal("volume", "ok", hour=14), FREE, "firing", NOW)
    assert (cleared.event, cleared.alert.status, cleared.alert.firing_count) == (
        "cleared",
        "open",
        1,
    )
    # An earlier hour that never fired says nothing about the incident.
    ignored = apply_signal(alert, None, signal("volume", "ok", hour=15), FREE, None, NOW)
    assert (ignored.event, ignored.alert) == ("ignored", None)
    resolved = apply_signal(alert, None, signal("volume", "ok", hour=17), FREE, None, NOW)
    assert resolved.event == "resolved"
    assert (resolved.alert.status, resolved.alert.resolved_period) == (
        "resolved",
        "2026-11-18-17:00",
    )
    assert resolved.alert.resolved_at == NOW
    assert apply_signal(None, None, signal("volume", "ok"), FREE, None, NOW).event == "ignored"


def test_after_a_resolve_old_periods_are_stale_and_new_ones_open_a_new_alert():
    first = opened()
    resolved = apply_signal(first, None, signal("volume", "ok", hour=15), FREE, None, NOW).alert
    stale = apply_signal(None, resolved, signal("volume", hour=14), FREE, None, NOW)
    assert (stale.event, stale.alert) == ("stale", None)
    again = apply_signal(None, resolved, signal("volume", hour=16), FREE, None, NOW).alert
    assert (again.seq, again.status, again.firing_count) == (2, "open", 1)
    assert again.alert_id != first.alert_id


def test_disposition_inhibition_by_the_same_hour_then_silences():
    config = AlertingConfig(
        silences=(Silence(name="feature_drift", until=at(16), comment="known change"),)
    )
    drift = signal("feature_drift", dimension="amount", hour=14)
    schema_at_14 = {"2026-11-18-14:00": frozenset({"schema"})}
    how = disposition(drift, config, schema_at_14, NOW)
    assert how == (INHIBITED, "inhibited by schema")  # inhibition wins over the silence
    assert disposition(drift, config, {}, NOW)[0] == SILENCED
    assert "known change" in disposition(drift, config, {}, NOW)[1]
    assert disposition(drift, config, {}, at(16)) == FREE  # the silence has expired
    other_hour = {"2026-11-18-13:00": frozenset({"schema"})}
    assert disposition(drift, config, other_hour, at(16)) == FREE
    volume = signal("volume", hour=14)  # not a target of the schema rule
    assert disposition(volume, config, schema_at_14, NOW) == FREE


def test_plan_new_repeat_escalation_resolve_and_muted():
    config = AlertingConfig(
        routes=(
            Route(name="oncall", url_env=ONCALL_ENV, severities=("ERROR",)),
            Route(name="chat", url_env="CHAT_URL", severities=("WARN", "ERROR")),
            Route(name="ds", url_env=DIGEST_ENV, severities=("WARN",), delivery="digest"),
        ),
        repeat_interval_hours=4,
    )
    warn = opened(signal("volume", "firing", "WARN"))
    items, told = plan_notifications([(warn, "firing")], config, NOW)
    assert [(i.route, i.event) for i in items] == [("CHAT_URL", "firing")]
    warn = told[0]
    assert (warn.notified_routes, warn.last_notified_at, warn.notify_count) == (
        frozenset({"CHAT_URL"}),
        NOW,
        1,
    )
    # Nothing new within the repeat interval.
    assert plan_notifications([(warn, "firing")], config, NOW + dt.timedelta(hours=3)) == ([], [])
    # Escalation to ERROR: the on-call route hears it first, the chat route as an escalation.
    error = replace(warn, severity="ERROR", max_severity="ERROR")
    items, told = plan_notifications([(error, "firing")], config, NOW + dt.timedelta(hours=1))
    assert sorted((i.route, i.event) for i in items) == [
        ("CHAT_URL", "escalated"),
        (ONCALL_ENV, "firing"),
    ]
    error = told[0]
    later = NOW + dt.timedelta(hours=5)
    items, _ = plan_notifications([(error, "firing")], config, later)
    assert sorted((i.route, i.event) for i in items) == [
        ("CHAT_URL", "repeat"),
        (ONCALL_ENV, "repeat"),
    ]
    muted = replace(
        error, suppressed_by="silenced until ...", last_notified_at=NOW - dt.timedelta(days=1)
    )
    assert plan_notifications([(muted, "firing")], config, later) == ([], [])
    resolved = replace(error, status="resolved")
    items, told = plan_notifications([(resolved, "resolved")], config, later)
    assert sorted((i.route, i.event) for i in items) == [
        ("CHAT_URL", "resolved"),
        (ONCALL_ENV, "resolved"),
    ]
    assert told == []
    never_told = opened(signal("volume", "firing", "WARN"))
    assert plan_notifications(
        [(replace(never_told, status="resolved"), "resolved")], config, later
    ) == ([], [])


def test_grouped_notification_ids_are_deterministic():
    config = AlertingConfig()
    alerts = [opened(signal(name)) for name in ("volume", "latency", "schema")]
    items, _ = plan_notifications([(a, "firing") for a in alerts], config, NOW)
    first = render_alerts("fraud_detector", ONCALL_ENV, items, NOW)
    again = render_alerts("fraud_detector", ONCALL_ENV, list(reversed(items)), NOW)
    assert first.notification_id == again.notification_id
    assert first.notification_id != notification_id("OTHER_URL", "fraud_detector", items)
    assert first.body.count("FIRING ERROR") == 3
    assert first.body.endswith(f"notification id: {first.notification_id}")
    assert first.notify_type == "failure"


def test_backoff_doubles_up_to_the_cap():
    policy = DeliveryPolicy()
    delays = [(policy.next_attempt(n, NOW) - NOW).total_seconds() / 60 for n in range(1, 10)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert policy.next_attempt(10_000, NOW) == NOW + dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("json://bot:pa%24%24word@hooks.example.com/hooks/T0KEN123", ["pa$$word", "T0KEN123"]),
        (
            "slack://TAAAAAAAA/BBBBBBBBB/cccccccccccccccccccccccc/#alerts",
            ["cccccccccccccccccccccccc"],
        ),
        ("pagerduty://r0utingkey@integrationkey123", ["r0utingkey", "integrationkey123"]),
    ],
)
def test_secret_fragments_cover_every_token_of_the_url(url, secrets):
    text = f"POST {url} failed; token {' '.join(secrets)}; port 8080"
    clean = redact(text, secret_fragments(url))
    for secret in secrets:
        assert secret not in clean
    assert "port 8080" in clean


def test_the_notification_id_rides_in_json_payloads_only():
    assert with_notification_id("json://h:1/p", "abc") == "json://h:1/p?:notification_id=abc"
    assert with_notification_id("jsons://h/p?x=1", "abc") == "jsons://h/p?x=1&:notification_id=abc"
    assert with_notification_id("slack://a/b/c/#ch", "abc") == "slack://a/b/c/#ch"
