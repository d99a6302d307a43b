"""Route a step's check results to the alert manager (``modelmon_dagster.alerting``).

Called once per step with all of its evaluations, so the manager groups them into one
notification per model; then the outbox is flushed (what a receiver refused earlier is retried
by every step of every run).
"""

import datetime as dt

from modelmon_dagster.alerting import AlertManager, check_signal
from modelmon_dagster.check_results import CheckEvaluation
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.warehouse import Warehouse


def signals_of(model: ModelConfig, evaluations: list[CheckEvaluation], now: dt.datetime) -> list:
    """Signals of the evaluations recent enough to route (``alerting.horizon_hours``).

    Counted from the partition's end, as the remediation horizon is: a day's performance
    verdict matures as labels arrive after the day, so its start is always long past.
    """
    oldest = now - model.alerting.horizon
    return [
        check_signal(
            model.name,
            e.check_name,
            passed=e.outcome.passed,
            severity=e.outcome.severity,
            period=e.partition_key,
            period_start=e.period_start,
            summary=e.outcome.description,
            details=e.outcome.metadata,
            # the asset tells the hourly and the daily check of the same name apart
            dimension=e.asset_name,
            observed_at=e.evaluated_at,
            run_id=e.run_id,
        )
        for e in evaluations
        if e.period_end >= oldest
    ]


def route_alerts(
    warehouse: Warehouse,
    model: ModelConfig,
    evaluations: list[CheckEvaluation],
    now: dt.datetime,
    log,
) -> dict:
    """Process the evaluations as signals, flush the outbox; return the reports as metadata."""
    manager = AlertManager(warehouse, [model])
    signals = signals_of(model, evaluations, now)
    processed = manager.process(signals, now)
    delivered = manager.flush(now)
    skipped = len(evaluations) - len(signals)
    if skipped:
        log.info(
            f"{model.name}: {skipped} check result(s) of partitions that ended more than "
            f"{model.alerting.horizon_hours:g} h ago recorded, not routed (alerting.horizon_hours)"
        )
    return processed.as_metadata() | delivered.as_metadata()
