"""Retrain and rollback jobs per model, and the escalation job (critical alerts).

The remediation sensor launches them with tags naming the failing check, partition, severity
and policy rule (``modelmon/...``), so a run in the Dagster UI says why it started; they can
also be launched by hand (the trigger then says "manual"). Each records its outcome as a run
tag (``modelmon/outcome``), which the sensor reads back into its policy state.
"""

import datetime as dt

import dagster as dg

from modelmon_dagster.alerting import AlertManager, Signal
from modelmon_dagster.config import ModelConfig, MonitoringConfig
from modelmon_dagster.defs.resources import (
    WAREHOUSE_POOL,
    ClockResource,
    LogStoreResource,
    RegistryResource,
    WarehouseResource,
)
from modelmon_dagster.registry import Trigger
from modelmon_dagster.remediation.evidence import hour_health
from modelmon_dagster.remediation.retrain import retrain
from modelmon_dagster.remediation.rollback import rollback

ESCALATION_JOB = "remediation_escalation_job"
TAG = "modelmon/"


def remediation_job_name(model_name: str, action: str) -> str:
    """``{model}__retrain`` or ``{model}__rollback``."""
    return f"{model_name}__{action}"


def trigger_from_tags(tags: dict, run_id: str) -> Trigger:
    """Who asked for the run and why, from its tags (a run without them was started by hand)."""
    if f"{TAG}action_id" not in tags:
        return Trigger(actor="manual", reason="launched by hand", run_id=run_id)
    check = tags.get(f"{TAG}check", "")
    asset, _, name = check.rpartition(".")
    return Trigger(
        actor="sensor:remediation_policy",
        reason=f"{check} failed at {tags.get(f'{TAG}severity')} on {tags.get(f'{TAG}partition')}",
        check=name or None,
        asset=asset or None,
        partition=tags.get(f"{TAG}partition") or None,
        severity=tags.get(f"{TAG}severity") or None,
        rule=tags.get(f"{TAG}rule") or None,
        run_id=run_id,
    )


def _record_outcome(context, outcome: str, detail: str) -> None:
    context.instance.add_run_tags(
        context.run_id, {f"{TAG}outcome": outcome, f"{TAG}outcome_detail": detail[:250]}
    )


def build_remediation_jobs(model: ModelConfig) -> list[dg.JobDefinition]:
    """``{model}__retrain`` and ``{model}__rollback``."""

    @dg.op(
        name=f"{model.name}__retrain_op",
        pool=WAREHOUSE_POOL,
        description=(
            f"{model.name}: train a challenger on the recent labelled window, compare it with the "
            "champion on a later holdout (paired test and margin), promote or reject, build the "
            "new version's baseline from its holdout, record everything in the registry."
        ),
    )
    def retrain_op(
        context: dg.OpExecutionContext,
        warehouse: WarehouseResource,
        registry: RegistryResource,
        log_store: LogStoreResource,
        clock: ClockResource,
    ):
        wh = warehouse.get()
        trigger = trigger_from_tags(context.run.tags, context.run_id)
        outcome = retrain(
            wh, registry.open(wh), model, trigger, clock.now(), data_dir=log_store.data_path
        )
        _record_outcome(context, outcome.status, outcome.reason)
        context.log.info(f"{model.name}: retrain {outcome.status}: {outcome.reason}")
        metadata = {
            "status": outcome.status,
            "reason": outcome.reason,
            "challenger": outcome.version or "",
            "champion_before": outcome.champion_before or "",
            "champion_after": outcome.champion_after or "",
            "training_rows": outcome.training_rows,
            "holdout_rows": outcome.holdout_rows,
            "metrics": dg.MetadataValue.json(outcome.metrics),
        }
        if outcome.baseline_id:
            yield dg.AssetMaterialization(
                asset_key=[model.name, "baseline"],
                description=f"baseline of {outcome.version} from its holdout (registry)",
                metadata={"version": outcome.version, "baseline_id": outcome.baseline_id},
            )
        yield dg.Output(None, metadata=metadata)

    @dg.op(
        name=f"{model.name}__rollback_op",
        pool=WAREHOUSE_POOL,
        description=(
            f"{model.name}: re-activate the last version whose served hours passed the "
            "system-health checks (not merely the previous one); rebuild nothing."
        ),
    )
    def rollback_op(
        context: dg.OpExecutionContext,
        warehouse: WarehouseResource,
        registry: RegistryResource,
        log_store: LogStoreResource,
        clock: ClockResource,
    ):
        wh = warehouse.get()
        now = clock.now()
        lookback = dt.timedelta(days=14)
        evidence = hour_health(wh, model, now - lookback, now)
        trigger = trigger_from_tags(context.run.tags, context.run_id)
        outcome = rollback(
            wh, registry.open(wh), model, trigger, evidence, now, data_dir=log_store.data_path
        )
        _record_outcome(context, outcome.status, outcome.reason)
        context.log.info(f"{model.name}: rollback {outcome.status}: {outcome.reason}")
        yield dg.Output(
            None,
            metadata={
                "status": outcome.status,
                "reason": outcome.reason,
                "from_version": outcome.from_version or "",
                "to_version": outcome.to_version or "",
                "health": dg.MetadataValue.json({v: h.why for v, h in outcome.health.items()}),
            },
        )

    return [_one_op_job(model, "retrain", retrain_op), _one_op_job(model, "rollback", rollback_op)]


def _one_op_job(model: ModelConfig, action: str, op) -> dg.JobDefinition:
    @dg.job(
        name=remediation_job_name(model.name, action),
        description=f"{model.name}: {action} (launched by the remediation_policy sensor).",
        tags={f"{TAG}model": model.name},
    )
    def remediation():
        op()

    return remediation


def build_escalation_job(config: MonitoringConfig) -> dg.JobDefinition:
    """One job for every model: the escalation named by the run's tags as a critical alert.

    It goes through the model's alert routes; the sensor that decides it cannot write.
    """

    @dg.op(
        pool=WAREHOUSE_POOL,
        description="Raise the escalation named by the run's tags as a critical alert.",
    )
    def escalate_op(
        context: dg.OpExecutionContext, warehouse: WarehouseResource, clock: ClockResource
    ):
        tags = context.run.tags
        now = clock.now()
        signal = Signal(
            model_name=tags[f"{TAG}model"],
            source="remediation",
            name=f"remediation_{tags[f'{TAG}escalation']}",
            dimension=tags.get(f"{TAG}action_id", ""),
            period=now.strftime("%Y-%m-%d-%H:%M"),
            period_start=now,
            state="firing",
            severity="ERROR",
            summary=tags.get(f"{TAG}reason", "remediation needs a person"),
            details={k: v for k, v in tags.items() if k.startswith(TAG)},
            observed_at=now,
            run_id=context.run_id,
        )
        manager = AlertManager(warehouse.get(), config)
        processed = manager.process([signal], now)
        delivered = manager.flush(now)
        yield dg.Output(None, metadata=processed.as_metadata() | delivered.as_metadata())

    @dg.job(
        name=ESCALATION_JOB,
        description=(
            "A critical alert when remediation failed, flapped, hit its cap or did not help."
        ),
    )
    def escalation_job():
        escalate_op()

    return escalation_job
