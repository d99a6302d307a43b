"""The remediation sensor over real check history: a bad deploy is rolled back, once.

The checks run through real Dagster jobs on the simulator's logs; the sensor is evaluated as
the daemon evaluates it (its own code against the real instance, with a cursor); the runs it
requests are executed and change the real registry.
"""

import dataclasses
import datetime as dt
import json

import dagster as dg
import pytest
from pipeline import QUIET, Pipeline, only

from modelmon_dagster.defs.remediation.sensors import REMEDIATION_SENSOR
from modelmon_dagster.defs.resources import ClockResource
from modelmon_dagster.registry import EmbeddedRegistry, EventKind, Trigger
from modelmon_dagster.registry.serving import publish_serving_plan
from modelmon_dagster.sim import ErrorBurst, simulate
from modelmon_dagster.training.artifacts import builtin_uri
from modelmon_dagster.warehouse import Warehouse

DAY0 = dt.datetime(2026, 11, 16)
DEPLOY = DAY0 + dt.timedelta(days=1)
MODEL = "demand_forecaster"


def tick(pipeline, cursor, now):
    sensor = pipeline.defs.get_sensor_def(REMEDIATION_SENSOR)
    context = dg.build_sensor_context(
        instance=pipeline.instance,
        cursor=cursor,
        resources={"clock": ClockResource(fixed_now=now.isoformat())},
    )
    result = sensor(context)
    requests = result if isinstance(result, list) else []
    return requests, context.cursor, result


@pytest.fixture
def bad_deploy(settings, demo_config):
    """v1 serves day 0; a deploy of v2 at day 1 00:00 fails 30 % of its requests."""
    config = dataclasses.replace(only(demo_config, MODEL), partitions_start=DAY0)
    warehouse = Warehouse(settings.warehouse_url)
    registry = EmbeddedRegistry(warehouse)
    for version, at, who in (
        ("v1", DAY0 - dt.timedelta(days=7), "demo"),
        ("v2", DEPLOY, "user:ci"),
    ):
        registry.register(MODEL, builtin_uri(version), Trigger(who), at, version=version)
        registry.promote(MODEL, version, Trigger(who, reason="deploy"), at)
    publish_serving_plan(registry, MODEL, settings.data_dir)
    warehouse.dispose()
    scenarios = [ErrorBurst(model_name=MODEL, start=DAY0, rate=0.3, version="v2")]
    simulate(config, settings.data_dir, DAY0, 2, seed=8, scenarios=scenarios)
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    pipeline.backfill("hourly", DAY0, DEPLOY + dt.timedelta(hours=23))
    return pipeline, settings


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_a_bad_deploy_is_rolled_back_once_and_the_registry_says_why(bad_deploy):
    pipeline, settings = bad_deploy
    now = DEPLOY + dt.timedelta(days=1)
    requests, cursor, _ = tick(pipeline, None, now)
    assert [r.job_name for r in requests] == [f"{MODEL}__rollback"]
    tags = requests[0].tags
    assert tags["modelmon/rule"] == "bad_deploy_rollback"
    assert tags["modelmon/check"] in (
        "hourly_prediction_stats.error_rate",
        "hourly_metrics.control_charts",
    )
    assert tags["modelmon/severity"] == "ERROR"
    assert tags["modelmon/partition"].startswith(DEPLOY.strftime("%Y-%m-%d"))
    assert requests[0].run_key == tags["modelmon/action_id"]

    # the next tick sees the same failures and many more hours of them: no second rollback
    again, cursor, result = tick(pipeline, cursor, now)
    assert again == [] and "suppressed" in result.skip_message

    run = pipeline.defs.resolve_job_def(requests[0].job_name).execute_in_process(
        instance=pipeline.instance,
        tags=requests[0].tags,
        run_config=QUIET | {"resources": {"clock": {"config": {"fixed_now": now.isoformat()}}}},
    )
    assert run.success
    warehouse = Warehouse(settings.warehouse_url)
    registry = EmbeddedRegistry(warehouse)
    assert registry.champion(MODEL).version == "v1"
    event = next(e for e in reversed(registry.history(MODEL)) if e.kind is EventKind.ROLLED_BACK)
    assert event.version == "v1" and event.from_version == "v2"
    assert event.trigger.partition == tags["modelmon/partition"]
    assert event.trigger.rule == "bad_deploy_rollback"
    assert event.trigger.run_id == run.run_id
    warehouse.dispose()
    stored = pipeline.instance.get_run_by_id(run.run_id).tags
    assert stored["modelmon/outcome"] == "rolled_back"

    # a sensor that lost its cursor rebuilds the actions from the runs: nothing twice
    fresh, _, result = tick(pipeline, None, now + dt.timedelta(minutes=5))
    assert fresh == [] and "suppressed" in result.skip_message

    # the sensor reads the outcome back into its state
    _, cursor, _ = tick(pipeline, cursor, now + dt.timedelta(minutes=5))
    actions = json.loads(json.loads(cursor)["state"])["actions"]
    assert [(a["status"], a["detail"]) for a in actions] == [("succeeded", "rolled_back")]


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_old_failures_trigger_nothing(bad_deploy):
    pipeline, _ = bad_deploy
    # ten days later the same history is beyond the 72-hour horizon: a backfill, not an incident
    requests, _, result = tick(pipeline, None, DEPLOY + dt.timedelta(days=10))
    assert requests == [] and "suppressed" in result.skip_message
