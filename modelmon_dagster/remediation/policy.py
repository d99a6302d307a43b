"""The remediation policy as pure logic: check evaluations + past actions -> actions to request.

:func:`evaluate_policy` is what a sensor calls on each tick with the check evaluations it has
not seen yet, the state it kept (its cursor) and a few facts per model; it returns the actions
to request (each with the check, partition, severity and rule that caused it), the evaluations
it suppressed and why, the failures that only alert, the escalations, and the new state. It
reads no clock, no warehouse and no Dagster: tests drive it with explicit times.

Rules (per model, first match wins): a FAILED evaluation whose check name (``performance``) or
``asset.check`` name is in ``rule.checks`` and whose severity is in ``rule.severities``; a rule
with ``within_hours_of_version_change`` matches only a partition that overlaps the first
``N`` hours after the current champion's activation. No matching rule, or an ``alert`` rule,
means alert only. PASSED evaluations only mark recoveries; NOT_JUDGED ones never count.

Guardrails, in this order, each recorded as the reason of a suppression:

1. ``horizon_hours``: a partition that ended longer ago is never acted on (backfills);
2. one action per (model, asset, check, partition), ever: re-evaluations do not re-trigger;
3. ``min_labelled_rows`` (retrain), when the caller knows the labelled rows of the window;
4. no flapping (rollback): if the champion history shows a return to an earlier version
   within ``flap_window_hours`` (A -> B -> A), no further rollback; escalate instead;
5. ``cooldown_hours`` per model and action since the last request;
6. ``daily_cap`` per model and action over the last 24 hours; reaching it escalates.

Escalations (critical alerts for the routing of issue #8): a remediation run that failed, a
remediation whose triggering check has not passed on a later partition within
``recovery_hours`` of its completion (or that never reported an outcome by then), flapping,
and a reached cap. Each is raised once.
"""

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from modelmon_dagster.remediation.settings import Action, RemediationConfig, Rule

REQUESTED, SUCCEEDED, FAILED = "requested", "succeeded", "failed"
TAG_PREFIX = "modelmon/"


class Verdict(StrEnum):
    """The outcome of one check evaluation."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_JUDGED = "not_judged"  # no data, too few labels, check skipped: never triggers


@dataclass(frozen=True)
class CheckEvaluation:
    """One evaluation of one check on one partition (from Dagster's event log)."""

    model: str
    asset: str
    check: str
    partition: str | None
    verdict: Verdict
    severity: str  # WARN or ERROR
    evaluated_at: dt.datetime
    run_id: str

    @property
    def key(self) -> str:
        """``model|asset|check|partition``: what one action may be triggered by, once."""
        return f"{self.model}|{self.asset}|{self.check}|{self.partition or ''}"


@dataclass(frozen=True)
class ModelFacts:
    """What the caller knows about a model now (from the registry and check metadata).

    Attributes
    ----------
    champion_since : datetime, optional
        When the current champion was activated (the last version change).
    activations : tuple of (datetime, str)
        Recent champion activations, oldest first (registry history; for flapping).
    labelled_rows : int, optional
        Labelled rows in the retrain window, if known (e.g. from ``daily_performance``
        metadata); None leaves ``min_labelled_rows`` to the retrain job itself.
    """

    champion_since: dt.datetime | None = None
    activations: tuple[tuple[dt.datetime, str], ...] = ()
    labelled_rows: int | None = None


@dataclass(frozen=True)
class ActionRecord:
    """A requested remediation and what became of it (kept in the policy state)."""

    action_id: str
    model: str
    action: Action
    requested_at: dt.datetime
    rule: str
    asset: str
    check: str
    partition: str | None
    severity: str
    evaluation_run_id: str
    reason: str
    status: str = REQUESTED
    completed_at: dt.datetime | None = None
    detail: str = ""
    recovered_at: dt.datetime | None = None
    escalated: bool = False

    def run_tags(self) -> dict[str, str]:
        """Tags for the requested run: the Dagster UI answers "why did this run start"."""
        tags = {
            "action_id": self.action_id,
            "action": self.action.value,
            "rule": self.rule,
            "check": f"{self.asset}.{self.check}",
            "partition": self.partition or "",
            "severity": self.severity,
            "trigger_run_id": self.evaluation_run_id,
        }
        return {f"{TAG_PREFIX}{k}": v for k, v in tags.items()}


@dataclass(frozen=True)
class Suppressed:
    """A failing evaluation a rule matched, not acted on because of a guardrail."""

    evaluation: CheckEvaluation
    rule: str
    action: Action
    guardrail: str
    reason: str


@dataclass(frozen=True)
class Alert:
    """A failing evaluation that only alerts (no rule, an ``alert`` rule, or policy disabled)."""

    evaluation: CheckEvaluation
    reason: str


@dataclass(frozen=True)
class Escalation:
    """A critical alert: automation failed or cannot help."""

    model: str
    kind: str  # remediation_failed, not_recovered, flapping, cap_reached
    reason: str
    at: dt.datetime
    action_id: str | None = None
    severity: str = "CRITICAL"


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers between ticks (JSON in a sensor cursor)."""

    actions: tuple[ActionRecord, ...] = ()
    handled: Mapping[str, dt.datetime] = field(default_factory=dict)  # evaluation key -> when
    escalated: Mapping[str, dt.datetime] = field(default_factory=dict)  # escalation key -> when

    def to_json(self) -> str:
        """Serialise (datetimes as ISO strings)."""

        def enc(value):
            return value.isoformat() if isinstance(value, dt.datetime) else value

        return json.dumps(
            {
                "actions": [{k: enc(v) for k, v in asdict(a).items()} for a in self.actions],
                "handled": {k: enc(v) for k, v in self.handled.items()},
                "escalated": {k: enc(v) for k, v in self.escalated.items()},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> "PolicyState":
        """Parse :meth:`to_json` output (None or empty: a fresh state)."""
        if not text:
            return cls()
        raw = json.loads(text)
        times = ("requested_at", "completed_at", "recovered_at")

        def action(a: dict) -> ActionRecord:
            values = {k: (_parse(v) if k in times else v) for k, v in a.items()}
            return ActionRecord(**(values | {"action": Action(a["action"])}))

        return cls(
            actions=tuple(action(a) for a in raw["actions"]),
            handled={k: _parse(v) for k, v in raw["handled"].items()},
            escalated={k: _parse(v) for k, v in raw["escalated"].items()},
        )


@dataclass(frozen=True)
class Decision:
    """What one policy evaluation asks for."""

    requests: tuple[ActionRecord, ...]
    suppressed: tuple[Suppressed, ...]
    alerts: tuple[Alert, ...]
    escalations: tuple[Escalation, ...]
    state: PolicyState


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def partition_window(
    partition: str | None, fallback: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of an hourly (``2026-11-21-14:00``) or daily (``2026-11-21``) key.

    Unpartitioned evaluations (None) or other keys count as the instant ``fallback``.
    """
    if partition:
        try:
            start = dt.datetime.strptime(partition, "%Y-%m-%d-%H:%M")
            return start, start + dt.timedelta(hours=1)
        except ValueError:
            pass
        try:
            start = dt.datetime.strptime(partition, "%Y-%m-%d")
            return start, start + dt.timedelta(days=1)
        except ValueError:
            pass
    return fallback, fallback


def matching_rule(
    rules: Sequence[Rule], evaluation: CheckEvaluation, facts: ModelFacts
) -> Rule | None:
    """The first rule that maps this failing evaluation to an action, if any."""
    names = {evaluation.check, f"{evaluation.asset}.{evaluation.check}"}
    start, end = partition_window(evaluation.partition, evaluation.evaluated_at)
    for rule in rules:
        if not names & set(rule.checks) or evaluation.severity not in rule.severities:
            continue
        if rule.within_hours_of_version_change is not None:
            since = facts.champion_since
            if since is None:
                continue
            limit = since + dt.timedelta(hours=rule.within_hours_of_version_change)
            if not (end > since and start < limit):  # overlaps the first N hours after it
                continue
        return rule
    return None


def flapping(activations: Sequence[tuple[dt.datetime, str]], now: dt.datetime, hours: float):
    """The (A, B) pair if the champion went A -> B -> A within ``hours`` before ``now``."""
    recent = [v for at, v in activations if at > now - dt.timedelta(hours=hours)]
    before = [v for at, v in activations if at <= now - dt.timedelta(hours=hours)]
    sequence = before[-1:] + recent  # the version that was serving when the window opened
    for i in range(len(sequence) - 2):
        a, b, c = sequence[i : i + 3]
        if a == c and a != b:
            return a, b
    return None


def _guardrail(
    config: RemediationConfig,
    rule: Rule,
    evaluation: CheckEvaluation,
    facts: ModelFacts,
    state: PolicyState,
    now: dt.datetime,
) -> tuple[str, str] | None:
    """The first guardrail that blocks the action, as (name, reason), or None."""
    g = config.guardrails
    action = rule.action
    _, end = partition_window(evaluation.partition, evaluation.evaluated_at)
    if end < now - dt.timedelta(hours=g.horizon_hours):
        return "horizon", f"partition ended {end}, older than horizon_hours {g.horizon_hours}"
    if evaluation.key in state.handled:
        return "handled", f"{evaluation.key} already triggered an action"
    if action is Action.RETRAIN and facts.labelled_rows is not None:
        if facts.labelled_rows < g.min_labelled_rows:
            return (
                "min_labelled_rows",
                f"{facts.labelled_rows} labelled rows, fewer than {g.min_labelled_rows}",
            )
    if action is Action.ROLLBACK:
        pair = flapping(facts.activations, now, g.flap_window_hours)
        if pair is not None:
            return "flapping", f"already switched {pair[0]} -> {pair[1]} -> {pair[0]} recently"
    mine = [a for a in state.actions if a.model == evaluation.model and a.action is action]
    cooldown = dt.timedelta(hours=g.cooldown_hours.get(action, 0.0))
    last = max((a.requested_at for a in mine), default=None)
    if last is not None and now - last < cooldown:
        return "cooldown", f"last {action.value} requested at {last}, cooldown {cooldown}"
    cap = g.daily_cap.get(action)
    today = [a for a in mine if a.requested_at > now - dt.timedelta(hours=24)]
    if cap is not None and len(today) >= cap:
        return "daily_cap", f"{len(today)} {action.value} requests in 24 h, cap {cap}"
    return None


def _request(rule: Rule, evaluation: CheckEvaluation, now: dt.datetime) -> ActionRecord:
    reason = (
        f"{evaluation.asset}.{evaluation.check} failed ({evaluation.severity}) on "
        f"{evaluation.partition or 'the asset'}: rule {rule.name} -> {rule.action.value}"
    )
    return ActionRecord(
        action_id=f"{evaluation.model}:{rule.action.value}:{now:%Y%m%dT%H%M%S}:{evaluation.check}",
        model=evaluation.model,
        action=rule.action,
        requested_at=now,
        rule=rule.name,
        asset=evaluation.asset,
        check=evaluation.check,
        partition=evaluation.partition,
        severity=evaluation.severity,
        evaluation_run_id=evaluation.run_id,
        reason=reason,
    )


def _recoveries(actions, evaluation: CheckEvaluation) -> list[ActionRecord]:
    """Actions marked recovered by a passing evaluation of their check on a later partition."""
    start, _ = partition_window(evaluation.partition, evaluation.evaluated_at)
    out = []
    for a in actions:
        later = a.completed_at is not None and start >= a.completed_at
        same = (a.model, a.asset, a.check) == (evaluation.model, evaluation.asset, evaluation.check)
        if a.status == SUCCEEDED and a.recovered_at is None and same and later:
            a = replace(a, recovered_at=evaluation.evaluated_at)
        out.append(a)
    return out


def _due_escalations(
    actions, configs: Mapping[str, RemediationConfig], now: dt.datetime
) -> tuple[list[ActionRecord], list[Escalation]]:
    out, escalations = [], []
    for a in actions:
        config = configs.get(a.model) or RemediationConfig()
        hours = config.guardrails.recovery_hours.get(a.action, 24.0)
        since = a.completed_at or a.requested_at
        overdue = a.recovered_at is None and now - since >= dt.timedelta(hours=hours)
        if not a.escalated and a.status == FAILED:
            kind, reason = (
                "remediation_failed",
                f"{a.action.value} {a.action_id} failed: {a.detail}",
            )
        elif not a.escalated and a.status in (SUCCEEDED, REQUESTED) and overdue:
            what = "did not recover" if a.status == SUCCEEDED else "reported no outcome"
            kind = "not_recovered"
            reason = f"{a.check} {what} within {hours} h of {a.action.value} {a.action_id}"
        else:
            out.append(a)
            continue
        escalations.append(Escalation(a.model, kind, reason, now, a.action_id))
        out.append(replace(a, escalated=True))
    return out, escalations


def evaluate_policy(
    evaluations: Sequence[CheckEvaluation],
    state: PolicyState,
    configs: Mapping[str, RemediationConfig],
    facts: Mapping[str, ModelFacts],
    now: dt.datetime,
) -> Decision:
    """Map new check evaluations to remediation requests under the guardrails.

    Parameters
    ----------
    evaluations : sequence of CheckEvaluation
        Evaluations not seen before (any order; they are processed by time, ERROR first).
    state : PolicyState
        Past actions and keys (the previous decision's ``state``).
    configs : mapping
        Model name -> its remediation config (a model left out only alerts).
    facts : mapping
        Model name -> :class:`ModelFacts` (missing: nothing known).
    now : datetime
        The tick's time (naive UTC).

    Returns
    -------
    Decision
    """
    actions = list(state.actions)
    handled, escalated = dict(state.handled), dict(state.escalated)
    requests, suppressed, alerts, escalations = [], [], [], []
    order = sorted(evaluations, key=lambda e: (e.evaluated_at, e.severity != "ERROR", e.key))
    for evaluation in order:
        if evaluation.verdict is Verdict.PASSED:
            actions = _recoveries(actions, evaluation)
            continue
        if evaluation.verdict is not Verdict.FAILED:
            continue  # not judged: never evidence of anything
        config = configs.get(evaluation.model)
        if config is None or not config.enabled:
            alerts.append(Alert(evaluation, "remediation is not enabled for this model"))
            continue
        model_facts = facts.get(evaluation.model, ModelFacts())
        rule = matching_rule(config.rules, evaluation, model_facts)
        if rule is None or rule.action is Action.ALERT:
            why = "no rule maps it to an action" if rule is None else f"rule {rule.name}: alert"
            alerts.append(Alert(evaluation, why))
            continue
        current = PolicyState(tuple(actions), handled, escalated)
        blocked = _guardrail(config, rule, evaluation, model_facts, current, now)
        if blocked is not None:
            name, reason = blocked
            suppressed.append(Suppressed(evaluation, rule.name, rule.action, name, reason))
            key = f"{name}:{evaluation.model}:{rule.action.value}:{now:%Y-%m-%d}"
            if name in ("flapping", "daily_cap") and key not in escalated:
                kind = "flapping" if name == "flapping" else "cap_reached"
                escalations.append(Escalation(evaluation.model, kind, reason, now))
                escalated[key] = now
            continue
        record = _request(rule, evaluation, now)
        actions.append(record)
        requests.append(record)
        handled[evaluation.key] = now
    actions, due = _due_escalations(actions, configs, now)
    escalations += due
    new_state = PolicyState(tuple(actions), handled, escalated)
    return Decision(
        tuple(requests), tuple(suppressed), tuple(alerts), tuple(escalations), new_state
    )


def record_outcome(
    state: PolicyState, action_id: str, succeeded: bool, at: dt.datetime, detail: str = ""
) -> PolicyState:
    """Note how a requested action's run ended (from a run-status sensor)."""
    if not any(a.action_id == action_id for a in state.actions):
        raise KeyError(f"unknown action {action_id!r}")
    status = SUCCEEDED if succeeded else FAILED
    actions = tuple(
        replace(a, status=status, completed_at=at, detail=detail) if a.action_id == action_id else a
        for a in state.actions
    )
    return replace(state, actions=actions)


def prune(state: PolicyState, now: dt.datetime, keep_hours: float = 14 * 24) -> PolicyState:
    """Forget what no guardrail can need any more (keeps the cursor small).

    Keeps every action still open (requested or succeeded, neither recovered nor escalated)
    and everything younger than ``keep_hours``, which must exceed the longest
    horizon, cooldown, flap window and recovery time in use.
    """
    cut = now - dt.timedelta(hours=keep_hours)
    actions = tuple(
        a
        for a in state.actions
        if a.requested_at >= cut
        or (not a.escalated and a.recovered_at is None and a.status in (REQUESTED, SUCCEEDED))
    )
    return PolicyState(
        actions,
        {k: v for k, v in state.handled.items() if v >= cut},
        {k: v for k, v in state.escalated.items() if v >= cut},
    )
