"""A verdict about a day comes after the day: it is still routed, and shown on the day's page.

A daily verdict is reached after its day has ended (the daily run at 00:40, performance as
labels arrive one to three days later). With ``alerting.horizon_hours`` counted from the
partition's *start*, a day judged 30 hours after it ended was already "older than 48 h": its
failure was recorded but never routed. And the health page of a day listed only alerts
*opened* (wall clock) before the day ended, so the alerts of the day's own daily checks, or of
a backfill, were missing from it. A small multiclass model of its own, through
``route_alerts`` into the real ``alerts`` table and the page's data (DuckDB and PostgreSQL).
"""

import datetime as dt
import logging

from ticket_router import TICKET_ROUTER

from modelmon_dagster.check_results import CheckEvaluation
from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import parse_config
from modelmon_dagster.dashboard.data import load_dashboard_data
from modelmon_dagster.defs.alerting.routing import route_alerts

NOW = dt.datetime(2026, 11, 28, 6, 0)  # alerting.horizon_hours: 48 (the default)


def ticket_router():
    config = parse_config({"partitions": {"start_date": "2026-11-18"}, "models": [TICKET_ROUTER]})
    return config.model("ticket_router")


def failure(asset: str, check: str, grain: str, key: str) -> CheckEvaluation:
    fmt = "%Y-%m-%d" if grain == "daily" else "%Y-%m-%d-%H:%M"
    outcome = CheckOutcome(check, False, "ERROR", f"{check} failed in {key}")
    start = dt.datetime.strptime(key, fmt)
    return CheckEvaluation("ticket_router", asset, grain, key, start, outcome, "run-1", NOW)


def test_the_horizon_counts_from_the_partitions_end(warehouse):
    evaluations = [
        # the day ended 30 h ago (started 54 h ago): recent, routed
        failure("daily_performance", "performance", "daily", "2026-11-26"),
        # ended 54 h ago: a backfill of the past, recorded but not routed
        failure("daily_drift", "feature_drift", "daily", "2026-11-25"),
        # an hour that ended 47 h ago (started 48 h ago): routed
        failure("hourly_drift", "feature_drift", "hourly", "2026-11-26-06:00"),
        # an hour that ended 49 h ago: not routed
        failure("hourly_prediction_stats", "volume", "hourly", "2026-11-26-04:00"),
    ]
    route_alerts(warehouse, ticket_router(), evaluations, NOW, logging.getLogger(__name__))
    alerts = warehouse.query_df("SELECT name, dimension, first_period FROM alerts")
    assert sorted(zip(alerts.name, alerts.dimension, alerts.first_period, strict=True)) == [
        ("feature_drift", "hourly_drift", "2026-11-26-06:00"),
        ("performance", "daily_performance", "2026-11-26"),
    ]


def test_a_days_page_lists_the_open_alerts_about_it_opened_after_it(warehouse):
    model = ticket_router()
    evaluations = [  # judged on 2026-11-28 at 06:00
        failure("daily_performance", "performance", "daily", "2026-11-26"),
        failure("hourly_drift", "feature_drift", "hourly", "2026-11-27-05:00"),
    ]
    route_alerts(warehouse, model, evaluations, NOW, logging.getLogger(__name__))

    def listed(day: str) -> list[str]:
        data = load_dashboard_data(warehouse, model, dt.datetime.fromisoformat(day))
        return sorted(data.open_alerts.name) if len(data.open_alerts) else []

    assert listed("2026-11-25") == []  # before the first period of either alert
    assert listed("2026-11-26") == ["performance"]
    assert listed("2026-11-27") == ["feature_drift", "performance"]
