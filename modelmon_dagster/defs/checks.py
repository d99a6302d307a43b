"""Record :class:`modelmon_dagster.checks.CheckOutcome` values: in the warehouse and in Dagster.

Every outcome of every partition goes to the warehouse's ``check_results`` (what people,
alerts and dashboards read). Dagster's event log gets one ``AssetCheckEvaluation`` per
partition, so the UI shows check history per partition:

- when the check is part of the run (scheduled runs, UI launches): every judged outcome;
- when it is not (fast backfills run their jobs without checks, to avoid two events per check
  and partition): failures, and passes that end a failure recorded earlier;
- never for "not judged" outcomes: the check then shows as not executed, and the reason is in
  ``check_results`` and in the run's log.

Then the outcomes go to alert routing (``defs/alerting/routing.py``).
"""

import datetime as dt
import math

import dagster as dg

from modelmon_dagster.check_results import (
    CheckEvaluation,
    previous_statuses,
    record_evaluations,
)
from modelmon_dagster.checks import FAILED, CheckOutcome
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.dashboard.urls import page_url
from modelmon_dagster.defs.alerting.routing import route_alerts
from modelmon_dagster.defs.partitions import Period
from modelmon_dagster.warehouse import Warehouse

SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


def _rounded(value):
    """Floats to 4 significant digits for people (the warehouse keeps full precision)."""
    if isinstance(value, float):
        return value if not math.isfinite(value) or value == 0 else float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def dagster_metadata(metadata: dict) -> dict:
    """Outcome metadata as Dagster metadata values (dicts and lists become JSON)."""
    out = {}
    for key, value in metadata.items():
        value = _rounded(value)
        if isinstance(value, dict | list):
            out[key] = dg.MetadataValue.json(value)
        elif value is None:
            out[key] = dg.MetadataValue.null()
        else:
            out[key] = value
    return out


def check_evaluation(
    outcome: CheckOutcome, asset_key: dg.AssetKey, partition_key: str | None
) -> dg.AssetCheckEvaluation:
    """The Dagster evaluation event of a judged outcome on one partition."""
    if not outcome.judged:
        raise ValueError(f"{outcome.name}: a check that did not judge has no evaluation")
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=bool(outcome.passed),
        severity=SEVERITY[outcome.severity],
        description=outcome.description,
        metadata=dagster_metadata(outcome.metadata) | _where(asset_key, partition_key),
        partition=partition_key,
    )


def _where(asset_key: dg.AssetKey, partition_key: str | None) -> dict:
    """The partition judged (the UI's check page shows none) and the day's dashboard page."""
    if partition_key is None:
        return {}
    day = dt.datetime.strptime(partition_key[:10], "%Y-%m-%d")
    return {
        "partition": dg.MetadataValue.text(partition_key),
        "dashboard": dg.MetadataValue.url(page_url(asset_key.path[0], day)),
    }


class CheckRecorder:
    """Collect a step's outcomes per partition, then record them all at once (``flush``)."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        model: ModelConfig,
        grain: str,
        now: dt.datetime,
    ):
        self.context = context
        self.warehouse = warehouse
        self.model = model
        self.model_name = model.name
        self.grain = grain
        self.now = now
        self._pending: list[tuple[dg.AssetKey, CheckEvaluation]] = []

    def add(self, asset_key: dg.AssetKey, period: Period, outcome: CheckOutcome) -> None:
        """Remember ``outcome`` of the check on ``asset_key`` for one partition."""
        evaluation = CheckEvaluation(
            model_name=self.model_name,
            asset_name=asset_key.path[-1],
            grain=self.grain,
            partition_key=period.key,
            period_start=period.start,
            outcome=outcome,
            run_id=self.context.run.run_id,
            evaluated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
        self._pending.append((asset_key, evaluation))

    def flush(self) -> list[CheckEvaluation]:
        """Write the collected outcomes to ``check_results`` and log Dagster evaluations."""
        if not self._pending:
            return []
        evaluations = [e for _, e in self._pending]
        checks = sorted({(e.asset_name, e.check_name) for e in evaluations})
        start = min(e.period_start for e in evaluations)
        end = max(e.period_start for e in evaluations) + dt.timedelta(microseconds=1)
        before = previous_statuses(self.warehouse, self.model_name, self.grain, checks, start, end)
        record_evaluations(
            self.warehouse, self.model_name, self.grain, checks, start, end, evaluations
        )
        selected = self.context.selected_asset_check_keys
        not_judged = 0
        for asset_key, e in self._pending:
            outcome = e.outcome
            if not outcome.judged:
                not_judged += 1
                continue
            in_run = dg.AssetCheckKey(asset_key, outcome.name) in selected
            recovered = (
                outcome.passed
                and before.get((e.asset_name, e.check_name, e.partition_key)) == FAILED
            )
            if in_run or not outcome.passed or recovered:
                self.context.log_event(check_evaluation(outcome, asset_key, e.partition_key))
        if not_judged:
            self.context.log.info(
                f"{self.model_name}: {not_judged} check evaluation(s) could not judge "
                "(reasons in the warehouse table check_results)"
            )
        self._pending = []
        report = route_alerts(self.warehouse, self.model, evaluations, self.now, self.context.log)
        if report.get("notifications_queued") or report.get("delivered"):
            self.context.log.info(f"{self.model_name}: alerts {report}")
        return evaluations
