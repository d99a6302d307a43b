"""Late labels: refresh the performance of the prediction days whose labels just arrived."""

import datetime as dt
import json

import dagster as dg

from modelmon_dagster.config import MonitoringConfig
from modelmon_dagster.defs.performance.assets import PERFORMANCE_ASSETS

PERFORMANCE_JOB = "performance_refresh_job"


def days_to_refresh(
    prediction_days: list[str], arrival_hour: dt.datetime, max_delay_hours: float
) -> list[str]:
    """The prediction days a label batch should refresh: those within the label-delay window.

    Labels for predictions older than ``max_delay_hours`` (plus the day itself) are stored but
    do not re-open the day's performance: the model's config says the day has matured. The
    arrival's own day is left out: it is not over (its daily partition does not exist yet), and
    its daily run will count the labels that arrived by then.
    """
    keep = []
    for day in prediction_days:
        start = dt.datetime.fromisoformat(day)
        if start.date() >= arrival_hour.date():
            continue
        if arrival_hour - start <= dt.timedelta(hours=max_delay_hours) + dt.timedelta(days=1):
            keep.append(day)
    return keep


def build_late_label_sensor(config: MonitoringConfig) -> dg.SensorDefinition:
    """A sensor reading ``raw_labels`` materialisations (their ``prediction_days`` metadata).

    It reads only the event log (no warehouse access, so no lock contention with runs), keeps
    the last storage id seen per model in its cursor, and requests one run per model over the
    prediction days with new labels (one partition, or a ranged run over several), selecting
    that model's performance assets. A day whose performance was materialised after its
    newest labels were stored is left alone: that run counted them. So a sensor starting with
    an empty cursor (after ``modelmon backfill``, or a reset) does not redo the history.
    """

    @dg.sensor(
        name="late_label_refresh",
        job_name=PERFORMANCE_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Re-materialises daily performance for prediction days whose labels arrived.",
    )
    def late_label_refresh(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor) if context.cursor else {}
        requests = []
        for model in config.models:
            key = dg.AssetKey([model.name, "raw_labels"])
            result = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor.get(model.name)),
                limit=1000,
                ascending=True,
            )
            labelled: dict[str, int] = {}  # prediction day -> storage id of its newest labels
            for record in result.records:
                materialization = record.asset_materialization
                cursor[model.name] = record.storage_id
                value = materialization.metadata.get("prediction_days")
                if value is None or materialization.partition is None:
                    continue
                arrival = dt.datetime.strptime(materialization.partition, "%Y-%m-%d-%H:%M")
                for day in days_to_refresh(value.value, arrival, model.label_delay.max_hours):
                    labelled[day] = record.storage_id
            selection = [dg.AssetKey([model.name, name]) for name in PERFORMANCE_ASSETS]
            first_day = config.partitions_start.strftime("%Y-%m-%d")
            measured = context.instance.get_latest_storage_id_by_partition(
                dg.AssetKey([model.name, "daily_performance"]),
                dg.DagsterEventType.ASSET_MATERIALIZATION,
                partitions=set(labelled),
            )
            days = sorted(
                d for d, s in labelled.items() if d >= first_day and measured.get(d, -1) < s
            )
            if not days:
                continue
            tags = {"modelmon/trigger": "late_labels", "modelmon/model": model.name}
            run_key = f"{model.name}:{days[0]}..{days[-1]}:{cursor[model.name]}"
            if len(days) == 1:
                request = dg.RunRequest(
                    run_key=run_key, partition_key=days[0], asset_selection=selection, tags=tags
                )
            else:
                # One ranged run over the affected days (their performance is recomputed
                # together; a day in between without new labels is recomputed unchanged).
                tags |= {
                    "dagster/asset_partition_range_start": days[0],
                    "dagster/asset_partition_range_end": days[-1],
                }
                request = dg.RunRequest(run_key=run_key, asset_selection=selection, tags=tags)
            requests.append(request)
        context.update_cursor(json.dumps(cursor))
        return requests or dg.SkipReason("no new labels")

    return late_label_refresh
