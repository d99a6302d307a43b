"""The remediation sensor: failing checks -> retrain / rollback runs, by each model's policy.

Each tick reads the check evaluations recorded since the last tick from Dagster's event log
(no warehouse access, so no lock contention with runs), the served versions from the
registry's published serving plans (files), and the outcome tags of the runs it requested;
it applies :func:`modelmon_dagster.remediation.policy.evaluate_policy` and requests:

- ``{model}__retrain`` / ``{model}__rollback`` runs, tagged with the check, partition,
  severity and rule that caused them (run key = the action id, so a re-evaluation never
  launches the same action twice);
- ``remediation_escalation_job`` runs for escalations (a remediation failed, flapped, hit
  its daily cap, or health did not recover): a critical alert through the model's routes.

The policy state and the last record id seen per check are the cursor.
"""

import datetime as dt
import json

import dagster as dg

from modelmon_dagster.config import MonitoringConfig
from modelmon_dagster.defs.remediation.jobs import ESCALATION_JOB, TAG, remediation_job_name
from modelmon_dagster.defs.resources import ClockResource
from modelmon_dagster.registry.serving import read_serving_plan
from modelmon_dagster.remediation.policy import (
    FAILED,
    REQUESTED,
    SUCCEEDED,
    ActionRecord,
    CheckEvaluation,
    ModelFacts,
    PolicyState,
    Verdict,
    evaluate_policy,
    prune,
    record_outcome,
)
from modelmon_dagster.remediation.settings import Action

REMEDIATION_SENSOR = "remediation_policy"
ACTIONS = ("retrain", "rollback")
PAGE = 500
RECORD_VERDICT = {"SUCCEEDED": Verdict.PASSED, "FAILED": Verdict.FAILED}


def _new_records(instance: dg.DagsterInstance, key: dg.AssetCheckKey, last_id: int):
    """Completed records after ``last_id``, and the id up to which nothing is in progress.

    A planned record is updated in place when its evaluation arrives, so the cursor may not
    pass a record whose run is still going: its verdict would be skipped for ever.
    """
    storage = instance.event_log_storage
    records, cursor = [], None
    while True:
        page = storage.get_asset_check_execution_history(key, limit=PAGE, cursor=cursor)
        fresh = [r for r in page if r.id > last_id]
        records += fresh
        if len(page) < PAGE or len(fresh) < len(page):
            break
        cursor = page[-1].id
    records.sort(key=lambda r: r.id)
    boundary = records[-1].id if records else last_id
    finished: dict[str, bool] = {}
    for record in records:
        if record.status.value != "PLANNED":
            continue
        if record.run_id not in finished:
            run = instance.get_run_by_id(record.run_id)
            finished[record.run_id] = run is None or run.is_finished
        if not finished[record.run_id]:
            boundary = record.id - 1
            break
    done = [r for r in records if r.id <= boundary and r.status.value in RECORD_VERDICT]
    return done, boundary


def _evaluation(model_name: str, record) -> CheckEvaluation:
    data = record.event.dagster_event.asset_check_evaluation_data
    return CheckEvaluation(
        model=model_name,
        asset=record.key.asset_key.path[-1],
        check=record.key.name,
        partition=record.partition,
        verdict=RECORD_VERDICT[record.status.value],
        severity=data.severity.value,
        evaluated_at=_naive(record.event.timestamp),
        run_id=record.run_id,
    )


def _naive(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def _facts(data_dir, model_name: str) -> ModelFacts:
    plan = read_serving_plan(data_dir, model_name)
    if plan is None or plan.champion is None:
        return ModelFacts()
    return ModelFacts(
        champion_since=plan.champion.since,
        activations=tuple((s.since, s.version) for s in plan.spans),
    )


def _restored_state(instance: dg.DagsterInstance, job_names: list[str]) -> PolicyState:
    """The policy state rebuilt from the remediation runs in the instance.

    Used when the sensor has no cursor (a new daemon, a reset sensor, a demo that ran the same
    code in-process): guardrails then still see the actions already taken, and the same
    failing partition maps to the same action id (and run key), which is never launched twice.
    """
    actions, handled = [], {}
    for job_name in job_names:
        for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job_name), limit=200):
            tags = record.dagster_run.tags
            if f"{TAG}action_id" not in tags:
                continue
            asset, _, check = tags.get(f"{TAG}check", "").rpartition(".")
            requested = (
                dt.datetime.fromisoformat(tags[f"{TAG}requested_at"])
                if f"{TAG}requested_at" in tags
                else record.create_timestamp.astimezone(dt.UTC).replace(tzinfo=None)
            )
            run = record.dagster_run
            status = (SUCCEEDED if run.is_success else FAILED) if run.is_finished else REQUESTED
            action = ActionRecord(
                action_id=tags[f"{TAG}action_id"],
                model=tags[f"{TAG}model"],
                action=Action(tags[f"{TAG}action"]),
                requested_at=requested,
                rule=tags.get(f"{TAG}rule", ""),
                asset=asset,
                check=check,
                partition=tags.get(f"{TAG}partition") or None,
                severity=tags.get(f"{TAG}severity", ""),
                evaluation_run_id=tags.get(f"{TAG}trigger_run_id", ""),
                reason="restored from the run's tags",
                status=status,
                completed_at=(record.end_time and _naive(record.end_time))
                if run.is_finished
                else None,
                detail=tags.get(f"{TAG}outcome", ""),
            )
            actions.append(action)
            key = f"{action.model}|{asset}|{check}|{action.partition or ''}"
            handled[key] = requested
    actions.sort(key=lambda a: a.requested_at)
    return PolicyState(tuple(actions), handled, {})


def _outcomes(instance: dg.DagsterInstance, state: PolicyState) -> PolicyState:
    """Record how the requested runs ended (their ``modelmon/outcome`` tag and status)."""
    for action in state.actions:
        if action.status != REQUESTED:
            continue
        runs = instance.get_runs(
            filters=dg.RunsFilter(tags={f"{TAG}action_id": action.action_id}), limit=1
        )
        if not runs or not runs[0].is_finished:
            continue
        run = runs[0]
        detail = run.tags.get(f"{TAG}outcome", run.status.value)
        finished = _naive(instance.get_run_record_by_id(run.run_id).end_time or 0.0)
        state = record_outcome(state, action.action_id, run.is_success, finished, detail)
    return state


def build_remediation_sensor(
    config: MonitoringConfig,
    checks_by_model: dict[str, list[dg.AssetCheckKey]],
    jobs: list,
    data_dir,
) -> dg.SensorDefinition:
    """The sensor over every model's checks (running by default)."""
    configs = {m.name: m.remediation for m in config.models}
    remediation_job_names = [
        remediation_job_name(m.name, action) for m in config.models for action in ACTIONS
    ]

    @dg.sensor(
        name=REMEDIATION_SENSOR,
        jobs=jobs,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Maps failing checks to retrain or rollback runs by each model's remediation policy "
            "(guardrails: horizon, cooldown, daily cap, no flapping, min labelled rows), and "
            "escalates when remediation fails or health does not recover."
        ),
    )
    def remediation_policy(context: dg.SensorEvaluationContext, clock: ClockResource):
        cursor = json.loads(context.cursor) if context.cursor else {}
        last_ids: dict[str, int] = cursor.get("ids", {})
        state = (
            PolicyState.from_json(cursor["state"])
            if cursor.get("state")
            else _restored_state(context.instance, remediation_job_names)
        )
        state = _outcomes(context.instance, state)
        evaluations = []
        for model_name, keys in checks_by_model.items():
            for key in keys:
                name = key.to_user_string()
                records, last_ids[name] = _new_records(context.instance, key, last_ids.get(name, 0))
                evaluations += [_evaluation(model_name, r) for r in records]
        now = clock.now()
        facts = {name: _facts(data_dir, name) for name in checks_by_model}
        decision = evaluate_policy(evaluations, state, configs, facts, now)
        requests = [
            dg.RunRequest(
                run_key=action.action_id,
                job_name=remediation_job_name(action.model, action.action.value),
                tags=action.run_tags()
                | {f"{TAG}model": action.model, f"{TAG}requested_at": now.isoformat()},
            )
            for action in decision.requests
        ]
        for escalation in decision.escalations:
            about = escalation.action_id or escalation.at.strftime("%Y%m%d%H")
            key = f"escalation:{escalation.model}:{escalation.kind}:{about}"
            requests.append(
                dg.RunRequest(
                    run_key=key,
                    job_name=ESCALATION_JOB,
                    tags={
                        f"{TAG}model": escalation.model,
                        f"{TAG}escalation": escalation.kind,
                        f"{TAG}reason": escalation.reason[:250],
                        f"{TAG}action_id": escalation.action_id or "",
                    },
                )
            )
        context.update_cursor(
            json.dumps({"ids": last_ids, "state": prune(decision.state, now).to_json()})
        )
        if requests:
            return requests
        summary = (
            f"{len(evaluations)} new evaluations; {len(decision.suppressed)} suppressed by "
            f"guardrails; {len(decision.alerts)} alert only"
        )
        return dg.SkipReason(summary)

    return remediation_policy
