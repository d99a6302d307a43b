"""Health evidence for rollback, from the stored check results (warehouse I/O, no Dagster).

One :class:`~modelmon_dagster.remediation.rollback.HourHealth` per served hour: the version that
served most of it, and whether every system-health check of the hour passed (any failed: not
healthy; none judged: not judged).
"""

import datetime as dt

import pandas as pd

from modelmon_dagster.baseline import served_versions
from modelmon_dagster.check_results import latest_results
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.remediation.rollback import HourHealth
from modelmon_dagster.warehouse import Warehouse

# What "the version served well" rests on: the hourly system-health checks and the schema.
HEALTH_CHECKS = ("latency", "error_rate", "schema")


def hour_health(
    warehouse: Warehouse, model: ModelConfig, start: dt.datetime, end: dt.datetime
) -> list[HourHealth]:
    """Evidence for the hours in ``[start, end)`` that some version served."""
    served = served_versions(warehouse, model, start, end)
    results = latest_results(warehouse, model.name, since=start)
    results = results[
        (results["grain"] == "hourly")
        & results["check_name"].isin(HEALTH_CHECKS)
        & (pd.to_datetime(results["period_start"]) < end)
    ]
    by_hour = {
        pd.Timestamp(hour).to_pydatetime(): rows for hour, rows in results.groupby("period_start")
    }
    evidence = []
    for hour, version in sorted(served.items()):
        rows = by_hour.get(hour)
        judged = rows[rows["status"] != "not_judged"] if rows is not None else None
        if judged is None or judged.empty:
            evidence.append(HourHealth(version, hour, None))
            continue
        failed = tuple(sorted(judged.loc[judged["status"] == "failed", "check_name"]))
        evidence.append(HourHealth(version, hour, not failed, failed))
    return evidence
