import copy
import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml

from modelmon_dagster.config import ConfigError, FeatureType, Task, load_config, parse_config
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings, warehouse_retry_policy

DEMO = yaml.safe_load((PROJECT_ROOT / "config" / "models.yaml").read_text())


def with_change(change):
    raw = copy.deepcopy(DEMO)
    change(raw)
    return raw


def test_demo_config_loads_two_models_of_different_tasks():
    config = load_config(PROJECT_ROOT / "config" / "models.yaml", today=dt.date(2026, 11, 25))
    assert [m.name for m in config.models] == ["fraud_detector", "demand_forecaster"]
    fraud = config.model("fraud_detector")
    assert fraud.task is Task.BINARY_CLASSIFICATION
    assert fraud.positive_class == "1"
    assert fraud.feature("country").type is FeatureType.CATEGORICAL
    assert fraud.feature("device_type").required is False
    assert fraud.thresholds.latency_p99_ms_error == 400
    assert config.model("demand_forecaster").task is Task.REGRESSION
    assert config.partitions_start.isoformat() == "2026-11-16T00:00:00"  # "-9d"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2026-01-31", "2026-01-31"), ("-9d", "2026-11-16"), ("-0d", "2026-11-25")],
)
def test_start_date_is_a_date_or_days_before_today(raw, expected):
    text = (PROJECT_ROOT / "config" / "models.yaml").read_text()
    config = parse_config(
        yaml.safe_load(text.replace('"-9d"', f'"{raw}"', 1)), today=dt.date(2026, 11, 25)
    )
    assert config.partitions_start == dt.datetime.fromisoformat(expected)


@pytest.mark.parametrize("raw", ["9d", "-9", "yesterday", "2026-13-01"])
def test_a_start_date_that_is_neither_is_rejected(raw):
    text = (PROJECT_ROOT / "config" / "models.yaml").read_text()
    with pytest.raises(ConfigError, match="start_date"):
        parse_config(yaml.safe_load(text.replace('"-9d"', f'"{raw}"', 1)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["models"][0]["features"][0].update(type="float"), "unknown type 'float'"),
        (
            lambda r: r["models"][0]["features"].append({"name": "amount", "type": "numeric"}),
            "duplicate feature names ['amount']",
        ),
        (lambda r: r["models"].append(copy.deepcopy(r["models"][0])), "duplicate model names"),
        (lambda r: r["models"][0].update(name='fraud"; drop table x; --'), "is not a valid name"),
        (lambda r: r["models"][0]["features"][0].update(name="Amount"), "is not a valid name"),
        (lambda r: r["models"][0]["features"][0].update(name="a__b"), "is not a valid name"),
        (lambda r: r["models"][0]["features"][0].update(name="score"), "'score' is reserved"),
        (lambda r: r["models"][0].update(task="ranking"), "unknown task 'ranking'"),
        (lambda r: r["models"][0].update(positive_class="2"), "positive_class: must be one of"),
        (lambda r: r["models"][0].update(segments=["amount"]), "must be a categorical feature"),
        (lambda r: r["models"][0].update(segments=["zip"]), "'zip' is not a feature"),
        (
            lambda r: r["models"][0].update(
                thresholds={"drift_effect_warn": 0.5, "drift_effect_error": 0.2}
            ),
            "drift_effect_warn must not exceed drift_effect_error",
        ),
        (
            lambda r: r["models"][0].update(thresholds={"psi_typo": 0.5}),
            "unknown keys ['psi_typo']",
        ),
        (lambda r: r["models"][0].update(colour="red"), "unknown keys ['colour']"),
        (lambda r: r["models"][0]["label_delay"].update(expected_hours=500), "exceeds max_hours"),
        (lambda r: r["models"][1].update(classes=["a", "b"]), "regression models take no classes"),
        (lambda r: r["models"][0].update(classes=["0", "1", "2"]), "exactly two"),
        (lambda r: r["models"][0]["baseline"].update(numeric_bins=1), "numeric_bins"),
        (lambda r: r["partitions"].update(start_date="16/11/2026"), "is not a YYYY-MM-DD date"),
        (lambda r: r["models"][0].pop("baseline"), "missing required key 'baseline'"),
        (lambda r: r["models"][0].update(decision_threshold=1.2), "expected a number in (0, 1)"),
        (lambda r: r["models"][0].update(decision_threshold="0.6"), "expected a number in (0, 1)"),
        (
            lambda r: r["models"][1].update(decision_threshold=0.5),
            "decision_threshold: only for binary_classification",
        ),
        (lambda r: r.update(warehouse_retry={"max_retries": -1}), "from 0 to 20"),
        (lambda r: r.update(warehouse_retry={"max_retries": 2.5}), "from 0 to 20"),
        (lambda r: r.update(warehouse_retry={"delay_seconds": -1}), "delay_seconds"),
        (lambda r: r.update(warehouse_retry={"retries": 3}), "unknown keys ['retries']"),
    ],
)
def test_invalid_configs_are_rejected_with_a_clear_message(change, message):
    with pytest.raises(ConfigError) as err:
        parse_config(with_change(change))
    assert message in str(err.value)


def test_missing_and_unparseable_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_settings_read_the_environment_with_project_defaults(tmp_path):
    defaults = Settings.from_env({})
    assert defaults.config_path == PROJECT_ROOT / "config" / "models.yaml"
    assert defaults.warehouse_url == f"duckdb:///{PROJECT_ROOT / 'data' / 'warehouse.duckdb'}"
    custom = Settings.from_env(
        {
            "MODELMON_CONFIG": str(tmp_path / "m.yaml"),
            "MODELMON_DATA_DIR": str(tmp_path),
            "MODELMON_WAREHOUSE_URL": "postgresql+psycopg://u@h/db",
        }
    )
    assert custom.config_path == Path(tmp_path / "m.yaml")
    assert custom.logs_root == tmp_path / "logs"
    assert custom.warehouse_url == "postgresql+psycopg://u@h/db"


def _remediation(raw, **values):
    raw["models"][0]["remediation"] = values


def test_remediation_is_parsed_with_defaults_and_disabled_when_absent():
    config = load_config(PROJECT_ROOT / "config" / "models.yaml")
    fraud = config.model("fraud_detector").remediation
    assert fraud.enabled and fraud.training.trainer.endswith(":fraud_detector")
    assert fraud.training.window_hours == 72 and fraud.metric_for("binary_classification") == (
        "roc_auc"
    )
    assert [r.name for r in fraud.rules] == ["decay_retrain", "bad_deploy_rollback"]
    assert fraud.guardrails.cooldown_hours["retrain"] == 24
    raw = with_change(lambda r: r["models"][1].pop("remediation"))
    assert not parse_config(raw).model("demand_forecaster").remediation.enabled


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"rules": [{"name": "r", "checks": ["performance"], "action": "reboot"}]},
            "model 'fraud_detector'.remediation.rules[0].action: Input should be",
        ),
        ({"training": {"trainer": "not a path"}}, ".remediation.training.trainer: Value error"),
        ({"training": {"holdout_fraction": 1.5}}, ".remediation.training.holdout_fraction"),
        ({"guardrails": {"cooldown_hours": {"retrain": -1}}}, "retrain: must not be negative"),
        ({"evaluation": {"metric": "mae"}}, "'mae' does not apply to a binary_classification"),
        ({"unknown": 1}, "model 'fraud_detector'.remediation.unknown: Extra inputs"),
        (
            {"rules": [{"name": "a", "checks": ["x"], "action": "alert"}] * 2},
            "duplicate rule names ['a']",
        ),
    ],
)
def test_bad_remediation_names_model_and_key(values, message):
    with pytest.raises(ConfigError) as err:
        parse_config(with_change(lambda r: _remediation(r, **values)))
    assert message in str(err.value)


def test_warehouse_retry_becomes_the_warehouse_steps_retry_policy():
    default = parse_config(with_change(lambda r: None)).warehouse_retry
    assert (default.max_retries, default.delay_seconds) == (3, 5.0)
    retry = parse_config(
        with_change(lambda r: r.update(warehouse_retry={"max_retries": 2, "delay_seconds": 0.5}))
    ).warehouse_retry
    assert warehouse_retry_policy(retry) == dg.RetryPolicy(
        max_retries=2, delay=0.5, backoff=dg.Backoff.EXPONENTIAL
    )
    off = parse_config(with_change(lambda r: r.update(warehouse_retry={"max_retries": 0})))
    assert warehouse_retry_policy(off.warehouse_retry) is None
