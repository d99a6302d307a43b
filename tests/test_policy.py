"""The remediation policy: rules, every guardrail, escalation, state round trip (pure logic)."""

import datetime as dt

import pytest

from modelmon_dagster.remediation.policy import (
    CheckEvaluation,
    ModelFacts,
    PolicyState,
    Verdict,
    evaluate_policy,
    partition_window,
    prune,
    record_outcome,
)
from modelmon_dagster.remediation.settings import Action, Guardrails, RemediationConfig

NOW = dt.datetime(2026, 11, 22, 12)
M = "fraud_detector"
CONFIG = {M: RemediationConfig()}  # the default rules and guardrails


def ev(
    check="performance",
    partition="2026-11-21",
    verdict=Verdict.FAILED,
    severity="ERROR",
    asset=None,
    at=NOW,
    model=M,
    run_id="r1",
):
    asset = asset or {"performance": "daily_performance", "label_drift": "daily_drift"}.get(
        check, "hourly_prediction_stats"
    )
    return CheckEvaluation(model, asset, check, partition, verdict, severity, at, run_id)


def run(evaluations, state=None, configs=CONFIG, facts=None, now=NOW):
    return evaluate_policy(evaluations, state or PolicyState(), configs, facts or {}, now)


def with_guardrails(**values):
    return {M: RemediationConfig(guardrails=Guardrails(**values))}


def test_a_performance_decay_requests_a_retrain_tagged_with_its_cause():
    decision = run([ev(run_id="run-42")])
    (request,) = decision.requests
    assert request.action is Action.RETRAIN and request.rule == "decay_retrain"
    assert request.run_tags() == {
        "modelmon/action_id": request.action_id,
        "modelmon/action": "retrain",
        "modelmon/rule": "decay_retrain",
        "modelmon/check": "daily_performance.performance",
        "modelmon/partition": "2026-11-21",
        "modelmon/severity": "ERROR",
        "modelmon/trigger_run_id": "run-42",
    }
    assert decision.state.actions == (request,) and not decision.alerts


def test_not_judged_passed_warn_unknown_and_disabled_never_act():
    decision = run(
        [
            ev(verdict=Verdict.NOT_JUDGED),
            ev(verdict=Verdict.PASSED),
            ev(severity="WARN"),  # the default retrain rule wants ERROR
            ev(check="feature_drift", asset="daily_drift"),
        ]
    )
    assert decision.requests == () and decision.suppressed == ()
    assert [a.reason for a in decision.alerts] == ["no rule maps it to an action"] * 2
    disabled = run([ev()], configs={M: RemediationConfig.disabled()})
    assert disabled.requests == () and "not enabled" in disabled.alerts[0].reason
    assert run([ev(model="other")]).alerts[0].reason == "remediation is not enabled for this model"


def test_rollback_only_within_hours_of_a_version_change():
    deployed = ModelFacts(champion_since=dt.datetime(2026, 11, 22, 9))
    spike = ev("error_rate", "2026-11-22-10:00")
    (request,) = run([spike], facts={M: deployed}).requests
    assert request.action is Action.ROLLBACK and request.rule == "bad_deploy_rollback"
    long_after = ModelFacts(champion_since=dt.datetime(2026, 11, 20, 9))
    for facts in ({M: long_after}, {}):  # 49 h after the change, or no change known
        decision = run([spike], facts=facts)
        assert decision.requests == () and len(decision.alerts) == 1
    before = run([ev("error_rate", "2026-11-22-07:00")], facts={M: deployed})
    assert before.requests == ()


def test_horizon_keeps_backfills_from_acting():
    decision = run([ev(partition="2026-11-10")])  # ended 11 days before now
    assert decision.requests == ()
    assert decision.suppressed[0].guardrail == "horizon"


def test_one_action_per_partition_ever():
    first = run([ev(), ev(run_id="r2")])  # the same partition twice in one tick
    assert len(first.requests) == 1 and first.suppressed[0].guardrail == "handled"
    later = NOW + dt.timedelta(hours=30)  # past the cooldown: a re-evaluation still does nothing
    again = run([ev(at=later)], state=first.state, now=later)
    assert again.requests == () and again.suppressed[0].guardrail == "handled"


def test_min_labelled_rows_before_a_retrain():
    few = run([ev()], facts={M: ModelFacts(labelled_rows=300)})
    assert few.requests == () and few.suppressed[0].guardrail == "min_labelled_rows"
    assert len(run([ev()], facts={M: ModelFacts(labelled_rows=5000)}).requests) == 1


def test_cooldown_per_model_and_action():
    first = run([ev(partition="2026-11-20")])
    soon = NOW + dt.timedelta(hours=5)
    blocked = run([ev(partition="2026-11-21", at=soon)], state=first.state, now=soon)
    assert blocked.suppressed[0].guardrail == "cooldown"
    other_model = run(
        [ev(model="m2")], state=first.state, configs=CONFIG | {"m2": CONFIG[M]}, now=soon
    )
    assert len(other_model.requests) == 1
    later = NOW + dt.timedelta(hours=25)
    allowed = run([ev(partition="2026-11-21", at=later)], state=first.state, now=later)
    assert len(allowed.requests) == 1


def test_daily_cap_escalates_once():
    configs = with_guardrails(cooldown_hours={}, daily_cap={Action.RETRAIN: 2})
    days = ["2026-11-19", "2026-11-20", "2026-11-21"]
    decision = run([ev(partition=d) for d in days], configs=configs)
    assert len(decision.requests) == 2 and decision.suppressed[0].guardrail == "daily_cap"
    assert [e.kind for e in decision.escalations] == ["cap_reached"]
    again = run([ev(partition="2026-11-22")], state=decision.state, configs=configs)
    assert again.requests == () and again.escalations == ()
    next_day = NOW + dt.timedelta(hours=25)
    assert (
        len(run([ev(partition="2026-11-22")], decision.state, configs, now=next_day).requests) == 1
    )


def test_no_flapping_between_two_versions():
    activations = (
        (dt.datetime(2026, 11, 20), "v1"),
        (dt.datetime(2026, 11, 21), "v2"),
        (dt.datetime(2026, 11, 22, 9), "v1"),  # rolled back to v1 three hours ago
    )
    facts = {M: ModelFacts(champion_since=activations[-1][0], activations=activations)}
    decision = run([ev("error_rate", "2026-11-22-10:00")], facts=facts)
    assert decision.requests == () and decision.suppressed[0].guardrail == "flapping"
    assert (
        decision.escalations[0].kind == "flapping"
        and "v1 -> v2 -> v1" in decision.escalations[0].reason
    )
    calm = {M: ModelFacts(champion_since=activations[-1][0], activations=activations[1:])}
    assert len(run([ev("error_rate", "2026-11-22-10:00")], facts=calm).requests) == 1


def test_escalation_when_a_remediation_fails():
    (request,) = run([ev()]).requests
    state = record_outcome(run([ev()]).state, request.action_id, False, NOW, "trainer crashed")
    decision = run([], state=state)
    assert [(e.kind, e.action_id) for e in decision.escalations] == [
        ("remediation_failed", request.action_id)
    ]
    assert "trainer crashed" in decision.escalations[0].reason
    assert run([], state=decision.state).escalations == ()  # once
    with pytest.raises(KeyError):
        record_outcome(state, "nope", True, NOW)


def test_escalation_when_health_does_not_recover_in_time():
    deployed = {M: ModelFacts(champion_since=dt.datetime(2026, 11, 22, 9))}
    first = run([ev("error_rate", "2026-11-22-10:00")], facts=deployed)
    (request,) = first.requests
    done = record_outcome(first.state, request.action_id, True, NOW)
    # Recovered: the check passes on an hour after the rollback completed.
    passed = ev("error_rate", "2026-11-22-13:00", Verdict.PASSED, at=NOW + dt.timedelta(hours=2))
    healed = run([passed], state=done, now=NOW + dt.timedelta(hours=2))
    assert healed.state.actions[0].recovered_at is not None
    assert run([], healed.state, now=NOW + dt.timedelta(hours=20)).escalations == ()
    # Not recovered: only an hour *before* the rollback passed, and 12 h went by.
    stale = ev("error_rate", "2026-11-22-08:00", Verdict.PASSED, at=NOW + dt.timedelta(hours=1))
    late = NOW + dt.timedelta(hours=13)
    decision = run([stale], state=done, now=late)
    assert [e.kind for e in decision.escalations] == ["not_recovered"]
    assert run([], decision.state, now=late + dt.timedelta(hours=1)).escalations == ()
    # A request that never reported an outcome escalates too.
    silent = run([], first.state, now=NOW + dt.timedelta(hours=13)).escalations
    assert "reported no outcome" in silent[0].reason


def test_state_round_trips_through_json_and_prunes():
    first = run(
        [ev(), ev("error_rate", "2026-11-22-10:00")],
        facts={M: ModelFacts(champion_since=dt.datetime(2026, 11, 22, 9))},
    )
    state = record_outcome(first.state, first.requests[0].action_id, True, NOW, "ok")
    assert PolicyState.from_json(state.to_json()) == state
    assert PolicyState.from_json(None) == PolicyState()
    much_later = NOW + dt.timedelta(days=30)
    pruned = prune(state, much_later)
    # Open actions stay (the succeeded retrain has not recovered, the rollback never reported).
    assert [a.action for a in pruned.actions] == [Action.RETRAIN, Action.ROLLBACK]
    assert pruned.handled == {}  # keys older than any horizon are forgotten
    settled = run([], state, now=much_later)  # both escalate, which settles them
    assert len(settled.escalations) == 2
    assert prune(settled.state, much_later).actions == ()


def test_partition_keys():
    assert partition_window("2026-11-21-14:00", NOW) == (
        dt.datetime(2026, 11, 21, 14),
        dt.datetime(2026, 11, 21, 15),
    )
    assert partition_window("2026-11-21", NOW)[1] == dt.datetime(2026, 11, 22)
    assert partition_window(None, NOW) == (NOW, NOW)
