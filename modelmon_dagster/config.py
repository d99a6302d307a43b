"""The monitored-models config: parse and validate, nothing else.

One YAML file lists every monitored model. Everything in it that can reach SQL (model names,
feature names, class labels used as identifiers) is validated here, so later layers can quote
identifiers without re-checking them.
"""

import datetime as dt
import math
import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from modelmon_dagster.alerting.config import AlertingConfig, AlertingConfigError, parse_alerting
from modelmon_dagster.metrics.settings import ControlChartSettings, parse_control_charts
from modelmon_dagster.remediation.settings import RemediationConfig, parse_remediation

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Names the pipeline itself uses as columns or key parts; a feature may not take them.
RESERVED_NAMES = frozenset(
    {"prediction", "score", "label", "model_name", "model_version", "hour_start", "day_start"}
)


class ConfigError(ValueError):
    """The monitored-models config is invalid; the message says where and why."""


class Task(StrEnum):
    """What a model predicts."""

    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        """Whether predictions are class labels."""
        return self is not Task.REGRESSION


class FeatureType(StrEnum):
    """How a feature is stored, aggregated and binned."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Feature:
    """One model input."""

    name: str
    type: FeatureType
    required: bool = True

    @property
    def column(self) -> str:
        """Column name of this feature in the raw predictions table."""
        return f"f_{self.name}"


@dataclass(frozen=True)
class LabelDelay:
    """When ground truth arrives, in hours after the prediction."""

    expected_hours: float
    max_hours: float


@dataclass(frozen=True)
class Baseline:
    """Where the reference data of a model version lives and how to bin it."""

    model_version: str
    reference_predictions: str
    reference_labels: str | None = None
    numeric_bins: int = 100
    top_k_categories: int = 20


@dataclass(frozen=True)
class Thresholds:
    """Alerting thresholds; WARN below ERROR. Unknown keys are rejected.

    Rates are fractions of an hour's records. Drift effect sizes are the normalised
    Wasserstein distance (W1 / baseline std) for numeric columns and the Jensen-Shannon
    distance (base 2) for categorical ones; a column is drifted only when it is also
    significant after Benjamini-Hochberg control at ``fdr_alpha`` across the model's columns.
    """

    drift_effect_warn: float = 0.05
    drift_effect_error: float = 0.2
    # A column's floor rises above drift_effect_warn to the reference's own day-to-day
    # variation at the current sample size: mean + this many SDs of its days' effects
    # (NannyML-style). 0 turns the adaptive floor off.
    adaptive_floor_sigmas: float = 3.0
    # Null rate (share of missing values among ok predictions): a change of at least this many
    # points (0.01 = one point), significant after Benjamini-Hochberg across columns.
    null_rate_warn: float = 0.01
    null_rate_error: float = 0.05
    # System health, per hour: error and timeout rates fail when the hour's 95 % lower bound
    # is above the threshold; p99 latency and mean host CPU on their point values.
    error_rate_warn: float = 0.02
    error_rate_error: float = 0.10
    timeout_rate_warn: float = 0.01
    timeout_rate_error: float = 0.05
    host_cpu_pct_warn: float = 85.0
    host_cpu_pct_error: float = 95.0
    latency_p99_ms_warn: float = 250.0
    latency_p99_ms_error: float = 1000.0
    schema_error_rate_warn: float = 0.001
    schema_error_rate_error: float = 0.05
    quarantine_rate_warn: float = 0.001
    quarantine_rate_error: float = 0.05
    out_of_range_rate_warn: float = 0.01
    unseen_category_rate_warn: float = 0.01
    volume_ratio_warn: float = 0.5
    volume_ratio_error: float = 0.25
    # A volume ratio alone flags noise at low traffic: the count must also be improbable under
    # a Poisson law at this one-sided significance.
    volume_significance: float = 1e-3
    fdr_alpha: float = 0.05
    # Delayed-label performance: absolute drops of accuracy / recall / ROC AUC (relative rise
    # of MAE for regression) against the baseline, judged on the confidence interval.
    performance_drop_warn: float = 0.02
    performance_drop_error: float = 0.05
    segment_gap_warn: float = 0.10
    segment_gap_error: float = 0.20
    min_labels: float = 100
    # A day is worse than the reference only at this one-sided significance (both sides'
    # sampling error counted) and when the drop also reaches performance_drop_*.
    performance_significance: float = 1e-3
    # Expected calibration error above the reference's by more than this: WARN.
    calibration_ece_rise_warn: float = 0.05


@dataclass(frozen=True)
class BusinessRule:
    """A limit on a realised metric, e.g. ``fpr`` at most 0.05 (ERROR)."""

    metric: str
    max: float | None = None
    min: float | None = None
    severity: str = "ERROR"

    def breaks(self, value: float) -> bool:
        """Whether ``value`` of the metric lies outside the rule's bounds (bounds included)."""
        return (self.max is not None and value > self.max) or (
            self.min is not None and value < self.min
        )

    def describe(self) -> str:
        """E.g. ``fpr <= 0.05``."""
        return " and ".join(
            f"{self.metric} {op} {v:g}"
            for op, v in (("<=", self.max), (">=", self.min))
            if v is not None
        )


METRICS = {
    "binary_classification": (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "fpr",
        "fnr",
        "roc_auc",
        "brier",
        "log_loss",
        "ece",
        "positive_rate",
    ),
    "multiclass_classification": ("accuracy",),
    "regression": ("mae", "rmse", "mape", "r2", "bias"),
}


@dataclass(frozen=True)
class ModelConfig:
    """One monitored model."""

    name: str
    task: Task
    features: tuple[Feature, ...]
    baseline: Baseline
    label_delay: LabelDelay
    description: str = ""
    extra_baselines: tuple[Baseline, ...] = ()
    business_rules: tuple[BusinessRule, ...] = ()
    classes: tuple[str, ...] = ()
    positive_class: str | None = None
    # Binary models: the score at or above which the model predicts the positive class. None:
    # derived from the logged predictions and scores (0.5 when they cannot say).
    decision_threshold: float | None = None
    segments: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    # ``control_charts:`` (modelmon_dagster/metrics/settings.py); out of equality and hashing.
    control_charts: ControlChartSettings = field(
        default_factory=ControlChartSettings, compare=False
    )
    # The ``remediation:`` mapping (modelmon_dagster/remediation/settings.py); left out of
    # equality and hashing, which key per-model caches by what shapes the monitoring.
    remediation: RemediationConfig = field(
        default_factory=RemediationConfig.disabled, compare=False
    )

    @property
    def baselines(self) -> tuple[Baseline, ...]:
        """Every configured baseline: the default one first, then one per other version."""
        return (self.baseline, *self.extra_baselines)

    def baseline_for(self, model_version: str) -> Baseline | None:
        """The baseline of ``model_version``, if one is configured."""
        return next((b for b in self.baselines if b.model_version == model_version), None)

    def feature(self, name: str) -> Feature:
        """Return the feature called ``name``."""
        for feat in self.features:
            if feat.name == name:
                return feat
        raise KeyError(name)


@dataclass(frozen=True)
class WarehouseRetry:
    """How a step that writes the warehouse is retried after a connection failure (defs/retry.py).

    Dagster reruns the whole step after ``delay_seconds``, doubling the wait before each further
    retry; each write is one transaction, so a failed attempt leaves no partial rows and a
    successful retry leaves the tables a clean run would. ``max_retries: 0`` turns it off.
    """

    max_retries: int = 3
    delay_seconds: float = 5.0


@dataclass(frozen=True)
class MonitoringConfig:
    """The whole config file."""

    partitions_start: dt.datetime
    models: tuple[ModelConfig, ...]
    source_path: Path | None = None
    warehouse_retry: WarehouseRetry = field(default_factory=WarehouseRetry)

    def model(self, name: str) -> ModelConfig:
        """Return the model called ``name``."""
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(name)


def check_identifier(value: Any, where: str) -> str:
    """Return ``value`` if it is a safe lowercase SQL identifier, else raise ConfigError."""
    if not isinstance(value, str) or not IDENTIFIER.match(value) or "__" in value:
        raise ConfigError(
            f"{where}: {value!r} is not a valid name (lowercase letters, digits and single "
            "underscores, starting with a letter, at most 40 characters)"
        )
    return value


def _require(mapping: dict, key: str, where: str) -> Any:
    if key not in mapping:
        raise ConfigError(f"{where}: missing required key {key!r}")
    return mapping[key]


def _check_keys(mapping: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    unknown = set(mapping) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return mapping


def _is_finite_number(value: Any) -> bool:
    # YAML reads .nan and .inf as floats: a NaN threshold never fires, nor does an infinite one.
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _positive_number(value: Any, where: str) -> float:
    if not _is_finite_number(value) or value <= 0:
        raise ConfigError(f"{where}: expected a finite positive number, got {value!r}")
    return float(value)


def _non_negative_number(value: Any, where: str) -> float:
    if not _is_finite_number(value) or value < 0:
        raise ConfigError(f"{where}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _data_path(value: Any, where: str) -> str | None:
    """A path under the data folder: relative, without ``..`` (resolving is checked on use)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ConfigError(f"{where}: expected a path")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError(f"{where}: {value!r} must be a relative path inside the data folder")
    return value


def _parse_feature(raw: Any, where: str) -> Feature:
    raw = _check_keys(raw, {"name", "type", "required"}, where)
    name = check_identifier(_require(raw, "name", where), f"{where}.name")
    if name in RESERVED_NAMES:
        raise ConfigError(f"{where}.name: {name!r} is reserved")
    type_ = _require(raw, "type", where)
    try:
        feature_type = FeatureType(type_)
    except ValueError:
        allowed = [t.value for t in FeatureType]
        raise ConfigError(f"{where}.type: unknown type {type_!r}; allowed: {allowed}") from None
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise ConfigError(f"{where}.required: expected true or false")
    return Feature(name=name, type=feature_type, required=required)


# Keys that once existed and decided nothing: a clear message instead of "unknown key".
REMOVED_THRESHOLDS = {
    "psi_warn": "PSI is reported with every drift row but decides nothing (its noise floor "
    "depends on the sample sizes and the number of bins); use drift_effect_warn",
    "psi_error": "PSI is reported with every drift row but decides nothing; use drift_effect_error",
}
# Thresholds that may be 0 (0 switches the feature off).
NON_NEGATIVE_THRESHOLDS = frozenset({"adaptive_floor_sigmas"})


def _parse_thresholds(raw: Any, where: str) -> Thresholds:
    allowed = {f.name for f in fields(Thresholds)}
    for key in sorted(set(raw) & set(REMOVED_THRESHOLDS) if isinstance(raw, dict) else ()):
        raise ConfigError(f"{where}.{key}: removed ({REMOVED_THRESHOLDS[key]})")
    raw = _check_keys(raw or {}, allowed, where)
    values = {
        k: _non_negative_number(v, f"{where}.{k}")
        if k in NON_NEGATIVE_THRESHOLDS
        else _positive_number(v, f"{where}.{k}")
        for k, v in raw.items()
    }
    thresholds = Thresholds(**values)
    for warn, error in [
        ("drift_effect_warn", "drift_effect_error"),
        ("null_rate_warn", "null_rate_error"),
        ("error_rate_warn", "error_rate_error"),
        ("timeout_rate_warn", "timeout_rate_error"),
        ("host_cpu_pct_warn", "host_cpu_pct_error"),
        ("latency_p99_ms_warn", "latency_p99_ms_error"),
        ("schema_error_rate_warn", "schema_error_rate_error"),
        ("quarantine_rate_warn", "quarantine_rate_error"),
        ("performance_drop_warn", "performance_drop_error"),
        ("segment_gap_warn", "segment_gap_error"),
    ]:
        if getattr(thresholds, warn) > getattr(thresholds, error):
            raise ConfigError(f"{where}: {warn} must not exceed {error}")
    if thresholds.volume_ratio_error > thresholds.volume_ratio_warn:
        raise ConfigError(f"{where}: volume_ratio_error must not exceed volume_ratio_warn")
    for key in ("fdr_alpha", "volume_significance", "performance_significance"):
        if not 0 < getattr(thresholds, key) < 1:
            raise ConfigError(f"{where}: {key} must lie in (0, 1)")
    return thresholds


def _parse_baseline(raw: Any, where: str) -> Baseline:
    raw = _check_keys(
        raw,
        {
            "model_version",
            "reference_predictions",
            "reference_labels",
            "numeric_bins",
            "top_k_categories",
        },
        where,
    )
    version = _require(raw, "model_version", where)
    if not isinstance(version, str) or not re.match(r"^[A-Za-z0-9._-]{1,40}$", version):
        raise ConfigError(f"{where}.model_version: {version!r} is not a valid version string")
    bins = raw.get("numeric_bins", 100)
    top_k = raw.get("top_k_categories", 20)
    for key, value, low, high in [
        ("numeric_bins", bins, 4, 1000),
        ("top_k_categories", top_k, 1, 200),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{where}.{key}: expected an integer in [{low}, {high}]")
    reference = _data_path(
        _require(raw, "reference_predictions", where), f"{where}.reference_predictions"
    )
    labels = _data_path(raw.get("reference_labels"), f"{where}.reference_labels")
    return Baseline(
        model_version=version,
        reference_predictions=reference,
        reference_labels=labels,
        numeric_bins=bins,
        top_k_categories=top_k,
    )


def _parse_model(raw: Any, where: str) -> ModelConfig:
    raw = _check_keys(
        raw,
        {
            "name",
            "task",
            "description",
            "features",
            "classes",
            "positive_class",
            "decision_threshold",
            "segments",
            "label_delay",
            "baseline",
            "baselines",
            "thresholds",
            "business_rules",
            "alerting",
            "remediation",
            "control_charts",
        },
        where,
    )
    name = check_identifier(_require(raw, "name", where), f"{where}.name")
    where = f"model {name!r}"
    task_raw = _require(raw, "task", where)
    try:
        task = Task(task_raw)
    except ValueError:
        allowed = [t.value for t in Task]
        raise ConfigError(f"{where}.task: unknown task {task_raw!r}; allowed: {allowed}") from None

    features_raw = _require(raw, "features", where)
    if not isinstance(features_raw, list) or not features_raw:
        raise ConfigError(f"{where}.features: expected a non-empty list")
    features = tuple(
        _parse_feature(f, f"{where}.features[{i}]") for i, f in enumerate(features_raw)
    )
    names = [f.name for f in features]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{where}.features: duplicate feature names {duplicated}")

    classes = tuple(str(c) for c in raw.get("classes", []) or [])
    positive = raw.get("positive_class")
    if task.is_classification:
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ConfigError(f"{where}.classes: a classifier needs at least two distinct classes")
        if any(not re.match(r"^[A-Za-z0-9_.-]{1,40}$", c) for c in classes):
            raise ConfigError(f"{where}.classes: class labels must be short plain tokens")
        if task is Task.BINARY_CLASSIFICATION:
            if len(classes) != 2:
                raise ConfigError(f"{where}.classes: binary classification needs exactly two")
            if positive is None or str(positive) not in classes:
                raise ConfigError(f"{where}.positive_class: must be one of {list(classes)}")
            positive = str(positive)
    elif classes or positive is not None:
        raise ConfigError(f"{where}: regression models take no classes or positive_class")
    threshold = raw.get("decision_threshold")
    if threshold is not None:
        if task is not Task.BINARY_CLASSIFICATION:
            raise ConfigError(f"{where}.decision_threshold: only for binary_classification")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ConfigError(f"{where}.decision_threshold: expected a number in (0, 1)")
        if not 0 < threshold < 1:
            raise ConfigError(f"{where}.decision_threshold: expected a number in (0, 1)")
        threshold = float(threshold)

    segments = tuple(raw.get("segments", []) or [])
    repeated = sorted({s for s in segments if segments.count(s) > 1})
    if repeated:
        raise ConfigError(f"{where}.segments: duplicate segments {repeated}")
    for seg in segments:
        if seg not in names:
            raise ConfigError(f"{where}.segments: {seg!r} is not a feature of this model")
        if next(f for f in features if f.name == seg).type is not FeatureType.CATEGORICAL:
            raise ConfigError(f"{where}.segments: {seg!r} must be a categorical feature")

    delay_raw = _check_keys(
        _require(raw, "label_delay", where), {"expected_hours", "max_hours"}, f"{where}.label_delay"
    )
    delay = LabelDelay(
        expected_hours=_positive_number(
            _require(delay_raw, "expected_hours", f"{where}.label_delay"),
            f"{where}.label_delay.expected_hours",
        ),
        max_hours=_positive_number(
            _require(delay_raw, "max_hours", f"{where}.label_delay"),
            f"{where}.label_delay.max_hours",
        ),
    )
    if delay.expected_hours > delay.max_hours:
        raise ConfigError(f"{where}.label_delay: expected_hours exceeds max_hours")

    baseline = _parse_baseline(_require(raw, "baseline", where), f"{where}.baseline")
    extra_raw = raw.get("baselines", []) or []
    if not isinstance(extra_raw, list):
        raise ConfigError(f"{where}.baselines: expected a list of baselines of other versions")
    extra = tuple(_parse_baseline(b, f"{where}.baselines[{i}]") for i, b in enumerate(extra_raw))
    versions = [b.model_version for b in (baseline, *extra)]
    duplicated = sorted({v for v in versions if versions.count(v) > 1})
    if duplicated:
        raise ConfigError(f"{where}: more than one baseline for model versions {duplicated}")

    rules = []
    for i, rule_raw in enumerate(raw.get("business_rules", []) or []):
        rw = f"{where}.business_rules[{i}]"
        rule_raw = _check_keys(rule_raw, {"metric", "max", "min", "severity"}, rw)
        metric = _require(rule_raw, "metric", rw)
        if metric not in METRICS[task.value]:
            raise ConfigError(f"{rw}.metric: {metric!r} is not a {task.value} metric")
        bounds = {k: rule_raw.get(k) for k in ("max", "min")}
        if all(v is None for v in bounds.values()):
            raise ConfigError(f"{rw}: give max, min or both")
        for k, v in bounds.items():
            if v is not None and not _is_finite_number(v):
                raise ConfigError(f"{rw}.{k}: expected a finite number")
        severity = rule_raw.get("severity", "ERROR")
        if severity not in ("ERROR", "WARN"):
            raise ConfigError(f"{rw}.severity: expected ERROR or WARN")
        rules.append(BusinessRule(metric, bounds["max"], bounds["min"], severity))

    return ModelConfig(
        name=name,
        business_rules=tuple(rules),
        task=task,
        description=str(raw.get("description", "")),
        features=features,
        classes=classes,
        positive_class=positive,
        decision_threshold=threshold,
        segments=segments,
        label_delay=delay,
        baseline=baseline,
        extra_baselines=extra,
        thresholds=_parse_thresholds(raw.get("thresholds"), f"{where}.thresholds"),
        alerting=_parse_alerting(raw.get("alerting"), where),
        remediation=_parse_remediation(raw.get("remediation"), where, task),
        control_charts=_parse_control_charts(raw.get("control_charts"), where),
    )


def _parse_control_charts(raw: Any, where: str) -> ControlChartSettings:
    # The schema lives with the metric store (modelmon_dagster/metrics/settings.py).
    try:
        return parse_control_charts(raw, where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _parse_remediation(raw: Any, where: str, task: Task) -> RemediationConfig:
    # The schema lives with the remediation package (modelmon_dagster/remediation/settings.py).
    try:
        return parse_remediation(raw, f"{where}.remediation", task.value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _parse_alerting(raw: Any, where: str) -> AlertingConfig:
    # The schema lives with the alerting package (modelmon_dagster/alerting/config.py).
    try:
        return parse_alerting(raw, where)
    except AlertingConfigError as exc:
        raise ConfigError(str(exc)) from None


RELATIVE_START = re.compile(r"^-(\d{1,4})d$")


def _parse_warehouse_retry(raw: Any) -> WarehouseRetry:
    if raw is None:
        return WarehouseRetry()
    raw = _check_keys(raw, {"max_retries", "delay_seconds"}, "warehouse_retry")
    default = WarehouseRetry()
    retries = raw.get("max_retries", default.max_retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        raise ConfigError(
            f"warehouse_retry.max_retries: expected an integer from 0 to 20, got {retries!r}"
        )
    delay = _non_negative_number(
        raw.get("delay_seconds", default.delay_seconds), "warehouse_retry.delay_seconds"
    )
    return WarehouseRetry(max_retries=retries, delay_seconds=delay)


def _start_date(raw: Any, today: dt.date | None) -> dt.datetime:
    """``YYYY-MM-DD``, or ``-Nd``: N days before today (UTC; for demos and trials)."""
    text = str(raw)
    relative = RELATIVE_START.match(text)
    if relative:
        today = today or dt.datetime.now(dt.UTC).date()
        return dt.datetime.combine(today - dt.timedelta(days=int(relative[1])), dt.time())
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
    except ValueError:
        raise ConfigError(
            f"partitions.start_date: {raw!r} is not a YYYY-MM-DD date or -Nd (days before today)"
        ) from None


def parse_config(
    raw: Any, source_path: Path | None = None, today: dt.date | None = None
) -> MonitoringConfig:
    """Validate a parsed YAML document and return the config it describes.

    ``today`` fixes the date a relative ``start_date`` counts from (default: today, UTC).
    """
    raw = _check_keys(raw, {"partitions", "models", "warehouse_retry"}, "config")
    partitions = _check_keys(_require(raw, "partitions", "config"), {"start_date"}, "partitions")
    start = _start_date(_require(partitions, "start_date", "partitions"), today)
    models_raw = _require(raw, "models", "config")
    if not isinstance(models_raw, list) or not models_raw:
        raise ConfigError("models: expected a non-empty list")
    models = tuple(_parse_model(m, f"models[{i}]") for i, m in enumerate(models_raw))
    names = [m.name for m in models]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"models: duplicate model names {duplicated}")
    return MonitoringConfig(
        partitions_start=start,
        models=models,
        source_path=source_path,
        warehouse_retry=_parse_warehouse_retry(raw.get("warehouse_retry")),
    )


def load_config(path: str | Path, today: dt.date | None = None) -> MonitoringConfig:
    """Read and validate the YAML config at ``path`` (``today``: see :func:`parse_config`)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_config(raw, source_path=path, today=today)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
