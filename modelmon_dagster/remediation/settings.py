"""The ``remediation:`` mapping of a model in the config, as pydantic models.

Parsed by :func:`parse_remediation`, which :mod:`modelmon_dagster.config` calls for each model;
errors name the model and the key (``model 'fraud_detector'.remediation.rules[0].action: ...``).
A model without the mapping has remediation disabled: failing checks only alert.
"""

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TRAINER_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
RULE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Action(StrEnum):
    """What a rule asks for."""

    RETRAIN = "retrain"
    ROLLBACK = "rollback"
    ALERT = "alert"  # nothing automatic: the failing check is reported to people


class _Strict(BaseModel):
    # allow_inf_nan: a NaN threshold never fires, an infinite one never either.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TrainingSettings(_Strict):
    """How the retrain job trains a challenger.

    ``trainer`` is an import path ``package.module:function`` (see
    :mod:`modelmon_dagster.training.contract`); None picks the generic trainer of the task.
    The labelled window is the ``window_hours`` before the retrain time; its latest
    ``holdout_fraction`` of rows (by prediction time) is held out for the comparison.
    """

    trainer: str | None = None
    window_hours: float = Field(168.0, gt=0)
    holdout_fraction: float = Field(0.3, gt=0, lt=1)
    min_training_rows: int = Field(500, ge=10)
    min_holdout_rows: int = Field(200, ge=10)
    seed: int = Field(0, ge=0)

    @field_validator("trainer")
    @classmethod
    def _trainer_path(cls, value: str | None) -> str | None:
        if value is not None and not TRAINER_PATH.match(value):
            raise ValueError(f"{value!r} is not an import path 'package.module:function'")
        return value


class EvaluationSettings(_Strict):
    """The champion/challenger gate: promote only if better at ``alpha`` AND by ``margin``.

    ``metric`` defaults to ``roc_auc`` (binary), ``accuracy`` (multiclass) or ``mae``
    (regression). ``margin`` is in absolute points for accuracy and ROC AUC and a relative MAE
    reduction for ``mae``.
    """

    metric: Literal["roc_auc", "accuracy", "mae"] | None = None
    alpha: float = Field(0.01, gt=0, lt=1)
    margin: float = Field(0.01, ge=0)


class Rule(_Strict):
    """Failing checks (by name and severity) mapped to an action.

    ``checks`` holds check names (``performance``) or ``asset.check`` names
    (``daily_drift.label_drift``). A rule with ``within_hours_of_version_change`` only matches
    a failing partition that starts within that many hours after the current champion was
    activated (a bad deploy); otherwise the next rule is tried.
    """

    name: str
    checks: tuple[str, ...] = Field(min_length=1)
    severities: tuple[Literal["WARN", "ERROR"], ...] = ("ERROR",)
    action: Action
    within_hours_of_version_change: float | None = Field(None, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError(f"{value!r} is not a rule name (lowercase, digits, underscores)")
        return value


class Guardrails(_Strict):
    """Limits on automatic actions (see :mod:`modelmon_dagster.remediation.policy`)."""

    min_labelled_rows: int = Field(1000, ge=0)
    cooldown_hours: dict[Action, float] = {Action.RETRAIN: 24.0, Action.ROLLBACK: 6.0}
    daily_cap: dict[Action, int] = {Action.RETRAIN: 2, Action.ROLLBACK: 3}
    horizon_hours: float = Field(72.0, gt=0)
    flap_window_hours: float = Field(72.0, gt=0)
    # Health must recover (the triggering check passes on a later partition) within this time
    # after the action completed, else the policy escalates. A retrain's check is judged on
    # labels: keep its recovery time above the label delay.
    recovery_hours: dict[Action, float] = {Action.RETRAIN: 96.0, Action.ROLLBACK: 12.0}

    @field_validator("cooldown_hours", "daily_cap", "recovery_hours")
    @classmethod
    def _non_negative(cls, value: dict) -> dict:
        for action, number in value.items():
            if number < 0:
                raise ValueError(f"{action.value}: must not be negative")
        return value


class RollbackSettings(_Strict):
    """What makes a version "healthy" enough to roll back to.

    Among the version's last ``lookback_hours`` judged served hours, at least
    ``min_healthy_hours`` passed every system-health check and at most
    ``max_unhealthy_share`` of them failed one.
    """

    min_healthy_hours: int = Field(6, ge=1)
    lookback_hours: int = Field(24, ge=1)
    max_unhealthy_share: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _fits(self) -> "RollbackSettings":
        if self.min_healthy_hours > self.lookback_hours:
            raise ValueError("min_healthy_hours must not exceed lookback_hours")
        return self


DEFAULT_RULES = (
    Rule(
        name="decay_retrain",
        checks=("performance", "label_drift"),
        severities=("ERROR",),
        action=Action.RETRAIN,
    ),
    Rule(
        name="bad_deploy_rollback",
        checks=("schema", "error_rate", "latency"),
        severities=("ERROR",),
        action=Action.ROLLBACK,
        within_hours_of_version_change=24.0,
    ),
)


class RemediationConfig(_Strict):
    """A model's remediation policy, training and gate settings."""

    enabled: bool = True
    rules: tuple[Rule, ...] = DEFAULT_RULES
    training: TrainingSettings = TrainingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    guardrails: Guardrails = Guardrails()
    rollback: RollbackSettings = RollbackSettings()

    @model_validator(mode="after")
    def _unique_rules(self) -> "RemediationConfig":
        names = [r.name for r in self.rules]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"duplicate rule names {duplicated}")
        return self

    @classmethod
    def disabled(cls) -> "RemediationConfig":
        """What a model without a ``remediation:`` mapping gets: alerts only."""
        return cls(enabled=False)

    def metric_for(self, task: str) -> str:
        """The gate's metric for a task (the configured one or the task's default)."""
        defaults = {
            "binary_classification": "roc_auc",
            "multiclass_classification": "accuracy",
            "regression": "mae",
        }
        return self.evaluation.metric or defaults[task]


ALLOWED_METRICS = {
    "binary_classification": {"roc_auc", "accuracy"},
    "multiclass_classification": {"accuracy"},
    "regression": {"mae"},
}


def parse_remediation(raw: Any, where: str, task: str) -> RemediationConfig:
    """Validate a model's ``remediation:`` mapping (None: disabled).

    Raises
    ------
    ValueError
        With one line per problem, each naming ``where`` and the key path.
    """
    if raw is None:
        return RemediationConfig.disabled()
    try:
        parsed = RemediationConfig.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            path = "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
            )
            lines.append(f"{where}{path}: {error['msg']}")
        raise ValueError("; ".join(lines)) from None
    metric = parsed.metric_for(task)
    if metric not in ALLOWED_METRICS[task]:
        raise ValueError(f"{where}.evaluation.metric: {metric!r} does not apply to a {task} model")
    return parsed
