"""Assemble the whole code location from a config: one asset graph per monitored model."""

import dagster as dg

from modelmon_dagster.config import MonitoringConfig
from modelmon_dagster.defs.aggregates.assets import build_grain_step
from modelmon_dagster.defs.alerting.digest import DIGEST_ASSET
from modelmon_dagster.defs.baseline.assets import build_baseline_asset
from modelmon_dagster.defs.dashboard.assets import (
    build_dashboard_asset,
    build_dashboard_job,
    build_dashboard_schedule,
    build_index_asset,
    dashboard_partitions,
)
from modelmon_dagster.defs.drift.assets import VOLUME_CHECK, drift_parts
from modelmon_dagster.defs.ingestion.assets import build_ingestion_assets
from modelmon_dagster.defs.jobs import build_baseline_job, build_model_jobs
from modelmon_dagster.defs.metrics.assets import CHART_CHECKS, SYSTEM_HEALTH_CHECKS, metrics_asset
from modelmon_dagster.defs.partitions import daily_partitions, hourly_partitions, monthly_partitions
from modelmon_dagster.defs.performance.assets import PERFORMANCE_ASSETS, performance_parts
from modelmon_dagster.defs.performance.sensors import PERFORMANCE_JOB, build_late_label_sensor
from modelmon_dagster.defs.remediation.jobs import build_escalation_job, build_remediation_jobs
from modelmon_dagster.defs.remediation.sensors import build_remediation_sensor
from modelmon_dagster.defs.resources import (
    PROJECT_ROOT,
    Settings,
    build_resources,
    warehouse_retry_policy,
)
from modelmon_dagster.defs.review.assets import (
    REVIEW_JOB,
    build_review_asset,
    build_review_schedule,
)
from modelmon_dagster.sql import SqlProject

SQL_PROJECT_DIR = PROJECT_ROOT / "dbt_like_sql"


def build_definitions(config: MonitoringConfig, settings: Settings) -> dg.Definitions:
    """Every asset, check, job, schedule, sensor and resource for the models in ``config``."""
    project = SqlProject.load(SQL_PROJECT_DIR)
    hourly = hourly_partitions(config.partitions_start)
    daily = daily_partitions(config.partitions_start)
    monthly = monthly_partitions(config.partitions_start)
    assets, jobs, schedules, baseline_keys, review_keys = [], [], [], [], []
    checks_by_model: dict[str, list[dg.AssetCheckKey]] = {}
    days_so_far = dashboard_partitions(config.partitions_start)
    dashboards = [build_dashboard_asset(model, days_so_far) for model in config.models]
    dashboards.append(build_index_asset(config, days_so_far))
    remediation_jobs = []
    # Steps that write the warehouse rerun after a failure such as a dropped connection.
    retry = warehouse_retry_policy(config.warehouse_retry)
    for model in config.models:
        ingestion = build_ingestion_assets(model, hourly, retry)
        baseline = build_baseline_asset(model, retry)
        hourly_drift, hourly_drift_checks = drift_parts("hourly")
        daily_drift, daily_drift_checks = drift_parts("daily")
        perf_assets, perf_checks = performance_parts(model)
        hourly_aggs = build_grain_step(
            project,
            model,
            "hourly",
            hourly,
            (*hourly_drift, metrics_asset("hourly")),
            (VOLUME_CHECK, *SYSTEM_HEALTH_CHECKS, *hourly_drift_checks, *CHART_CHECKS),
            retry,
        )
        daily_aggs = build_grain_step(
            project,
            model,
            "daily",
            daily,
            (*daily_drift, *perf_assets, metrics_asset("daily"), DIGEST_ASSET),
            (*daily_drift_checks, *perf_checks),
            retry,
        )
        review = build_review_asset(model, monthly)
        assets += [*ingestion, baseline, hourly_aggs, daily_aggs, review]
        review_keys += list(review.keys)
        baseline_keys += list(baseline.keys)
        model_jobs, model_schedules = build_model_jobs(
            model.name,
            [key for a in (*ingestion, hourly_aggs) for key in a.keys],
            list(daily_aggs.keys),
        )
        jobs += model_jobs
        schedules += model_schedules
        checks_by_model[model.name] = sorted(
            (key for a in (*ingestion, hourly_aggs, daily_aggs) for key in a.check_keys),
            key=lambda k: k.to_user_string(),
        )
        remediation_jobs += build_remediation_jobs(model)
    jobs.append(build_baseline_job(baseline_keys))
    escalation = build_escalation_job(config)
    jobs += [*remediation_jobs, escalation]
    performance_keys = [
        dg.AssetKey([m.name, name]) for m in config.models for name in PERFORMANCE_ASSETS
    ]
    jobs.append(
        dg.define_asset_job(
            PERFORMANCE_JOB,
            selection=dg.AssetSelection.assets(*performance_keys),
            description="Refresh the daily performance of prediction days with new labels.",
        )
    )
    review_job = dg.define_asset_job(
        REVIEW_JOB,
        selection=dg.AssetSelection.assets(*review_keys),
        description="Export each model's monthly review sample (CSV and HTML).",
    )
    jobs.append(review_job)
    schedules.append(build_review_schedule(review_job))
    assets += dashboards
    dashboard_job = build_dashboard_job([key for a in dashboards for key in a.keys])
    jobs.append(dashboard_job)
    schedules.append(build_dashboard_schedule(dashboard_job))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=[
            build_late_label_sensor(config),
            build_remediation_sensor(
                config, checks_by_model, [*remediation_jobs, escalation], settings.data_dir
            ),
        ],
        resources=build_resources(settings),
    )
