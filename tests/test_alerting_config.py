import copy
import datetime as dt

import pytest
import yaml

from modelmon_dagster.alerting.config import (
    DEFAULT_ROUTES,
    AlertingConfig,
    AlertingConfigError,
    parse_alerting,
)
from modelmon_dagster.config import ConfigError, parse_config
from modelmon_dagster.defs.resources import PROJECT_ROOT

DEMO = yaml.safe_load((PROJECT_ROOT / "config" / "models.yaml").read_text())

CUSTOM = """
routes:
  - {name: pager, url_env: FRAUD_PAGER_URL, severities: [ERROR]}
  - {name: team, url_env: FRAUD_TEAM_URL, severities: [WARN, ERROR], delivery: digest}
repeat_interval_hours: 1.5
inhibit:
  - {source: schema, targets: [feature_drift]}
silences:
  - {name: "feature_drift", dimension: "country*", until: 2026-11-20T12:00:00+01:00,
     comment: "country mix change announced, ticket 42"}
  - {name: volume, until: 2026-11-21, comment: "planned outage"}
"""


def with_alerting(alerting):
    raw = copy.deepcopy(DEMO)
    raw["models"][0]["alerting"] = alerting
    return raw


def test_a_model_without_alerting_gets_the_default_routes(demo_config):
    fraud = demo_config.model("fraud_detector")
    assert fraud.alerting == AlertingConfig()
    assert fraud.alerting.routes == DEFAULT_ROUTES
    oncall = fraud.alerting.routes_for("immediate", "ERROR")
    assert [r.url_env for r in oncall] == ["MODELMON_ALERTS_ONCALL_URL"]
    digest = fraud.alerting.routes_for("digest", "WARN")
    assert [r.url_env for r in digest] == ["MODELMON_ALERTS_DIGEST_URL"]
    assert fraud.alerting.routes_for("immediate", "WARN") == ()
    assert fraud.alerting.repeat_interval == dt.timedelta(hours=4)
    assert fraud.alerting.inhibiting_sources("feature_drift") == ("schema",)
    assert fraud.alerting.inhibiting_sources("volume") == ()
    hash(fraud)  # model configs are cache keys (lru_cache): the alerting part must hash


def test_custom_alerting_is_parsed_through_the_model_config():
    config = parse_config(with_alerting(yaml.safe_load(CUSTOM)))
    alerting = config.model("fraud_detector").alerting
    assert [r.name for r in alerting.routes] == ["pager", "team"]
    assert [r.url_env for r in alerting.routes_for("digest", "ERROR")] == ["FRAUD_TEAM_URL"]
    assert alerting.repeat_interval == dt.timedelta(hours=1.5)
    # An aware time is stored as naive UTC; a bare date means midnight UTC.
    drift, volume = alerting.silences
    assert drift.until == dt.datetime(2026, 11, 20, 11, 0)
    assert volume.until == dt.datetime(2026, 11, 21)
    assert config.model("demand_forecaster").alerting == AlertingConfig()


def test_silences_match_globs_until_they_expire():
    alerting = parse_alerting(yaml.safe_load(CUSTOM), "model 'm'")
    before, after = dt.datetime(2026, 11, 20, 10, 59), dt.datetime(2026, 11, 20, 11, 0)
    assert alerting.silence_for("feature_drift", "country", before).comment.startswith("country")
    assert alerting.silence_for("feature_drift", "amount", before) is None
    assert alerting.silence_for("feature_drift", "country", after) is None
    assert alerting.silence_for("volume", "", after).comment == "planned outage"
    assert alerting.silence_for("volume", "", dt.datetime(2026, 11, 21)) is None


@pytest.mark.parametrize(
    ("alerting", "message"),
    [
        ({"routes": [{"name": "x", "url_env": "lower_case"}]}, "alerting.routes[0].url_env"),
        ({"routes": []}, "alerting.routes: Tuple should have at least 1 item"),
        ({"routes": [{"name": "x", "url_env": "A", "delivery": "sms"}]}, "routes[0].delivery"),
        ({"routes": [{"name": "x", "url_env": "A", "severities": ["INFO"]}]}, "severities[0]"),
        (
            {"routes": [{"name": "a", "url_env": "A"}, {"name": "b", "url_env": "A"}]},
            "duplicate url_env ['A']",
        ),
        ({"repeat_interval_hours": 0}, "alerting.repeat_interval_hours: Input should be greater"),
        ({"silences": [{"name": "volume", "comment": "x"}]}, "silences[0].until: Field required"),
        ({"silences": [{"until": "2026-11-20", "comment": ""}]}, "silences[0].comment"),
        ({"inhibit": [{"source": "schema", "targets": ["schema"]}]}, "cannot inhibit itself"),
        ({"colour": "red"}, "alerting.colour: Extra inputs are not permitted"),
        ("loud", "alerting: expected a mapping"),
    ],
)
def test_errors_name_the_model_and_the_key(alerting, message):
    with pytest.raises(ConfigError) as err:
        parse_config(with_alerting(alerting))
    assert str(err.value).startswith("model 'fraud_detector'.alerting")
    assert message in str(err.value)


def test_a_url_in_the_config_is_refused_without_repeating_it():
    secret = "json://user:hunter2-token@hooks.example/abc"
    for alerting in (
        {"routes": [{"name": "x", "url_env": secret}]},
        {"routes": [{"name": "x", "url_env": "A", "url": secret}]},
    ):
        with pytest.raises(AlertingConfigError) as err:
            parse_alerting(alerting, "model 'm'")
        assert "hunter2" not in str(err.value)
        assert err.value.__cause__ is None and err.value.__suppress_context__
    with pytest.raises(AlertingConfigError, match="looks like a URL"):
        parse_alerting({"routes": [{"name": "x", "url_env": secret}]}, "model 'm'")
