"""``modelmon backfill``: a model's hours, then its days, then the performance of earlier days.

Every step is a ranged run (one Dagster run over many partitions) of the model's backfill
jobs, executed in this process against the persistent instance, so the UI shows the runs and
the partitions. Checks of every partition are stored in ``check_results`` (the backfill jobs
leave them out of Dagster's run plan and log failures and recoveries only; see
``defs/jobs.py``). Resumable: partitions already materialised are skipped unless ``force``.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from modelmon_dagster.commands.plan import (
    PlannedRun,
    day_keys,
    hour_keys,
    missing_runs,
    refresh_days,
)
from modelmon_dagster.commands.progress import Progress
from modelmon_dagster.config import ModelConfig, MonitoringConfig
from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.jobs import BASELINE_JOB, job_name
from modelmon_dagster.defs.performance.assets import PERFORMANCE_ASSETS
from modelmon_dagster.defs.performance.sensors import PERFORMANCE_JOB
from modelmon_dagster.defs.resources import Settings
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.runner import InProcessRunner, range_tags
from modelmon_dagster.warehouse import Warehouse

# Rough cost of one partition of each step, relative to an hour, for the ETA.
WEIGHTS = {"hourly": 1.0, "daily": 1.0, "performance": 1.0}


@dataclass
class BackfillResult:
    """What a backfill ran and skipped."""

    runs: list[PlannedRun] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # step -> partitions already done
    seconds: float = 0.0


def done_partitions(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> set[str]:
    """Partitions materialised for every asset in ``keys``."""
    done: set[str] | None = None
    for key in keys:
        have = instance.get_materialized_partitions(key)
        done = have if done is None else done & have
    return done or set()


def _job_keys(defs: dg.Definitions, name: str) -> list[dg.AssetKey]:
    return sorted(defs.resolve_job_def(name).asset_layer.executable_asset_keys)


def label_arrivals(
    warehouse: Warehouse, model: ModelConfig, start: dt.datetime, end: dt.datetime
) -> list[tuple[str, dt.datetime]]:
    """``(prediction day, arrival hour)`` of the labels that arrived in ``[start, end)``."""
    labels, predictions = raw_labels_table(model).name, raw_predictions_table(model).name
    if not (warehouse.table_exists(labels) and warehouse.table_exists(predictions)):
        return []
    frame = warehouse.query_df(
        "SELECT DISTINCT CAST(date_trunc('day', p.partition_hour) AS DATE) AS day, "
        "l.partition_hour AS arrival "
        f'FROM "{labels}" AS l JOIN "{predictions}" AS p ON p.prediction_id = l.prediction_id '
        "WHERE l.partition_hour >= :s AND l.partition_hour < :e",
        {"s": start, "e": end},
    )
    return [(str(r.day)[:10], r.arrival.to_pydatetime()) for r in frame.itertuples()]


@dataclass
class Backfill:
    """One backfill over ``[start, end)`` of some models."""

    config: MonitoringConfig
    settings: Settings
    instance: dg.DagsterInstance
    start: dt.datetime
    end: dt.datetime
    force: bool = False
    hours_per_run: int = 24
    days_per_run: int = 7
    say: Callable[[str], None] = print

    def __post_init__(self):
        self.defs = build_definitions(self.config, self.settings)
        self.runner = InProcessRunner(self.defs, self.instance)

    def _done(self, name: str) -> set[str]:
        return set() if self.force else done_partitions(self.instance, _job_keys(self.defs, name))

    def _ensure_baseline(self, model: ModelConfig) -> None:
        key = dg.AssetKey([model.name, "baseline"])
        if self.force or self.instance.get_latest_materialization_event(key) is None:
            self.say(f"{model.name}: baseline from {model.baseline.reference_predictions}")
            self.runner.run(BASELINE_JOB, asset_selection=[key])

    def _execute(self, run: PlannedRun) -> None:
        if run.step == "performance":
            selection = [dg.AssetKey([run.model_name, a]) for a in PERFORMANCE_ASSETS]
            tags = range_tags(run.first, run.last) | {
                "modelmon/trigger": "backfill",
                "modelmon/model": run.model_name,
            }
            self.runner.run(PERFORMANCE_JOB, tags=tags, asset_selection=selection)
        else:
            self.runner.run_range(
                job_name(run.model_name, run.step, backfill=True), run.first, run.last
            )

    def run(self, models: list[ModelConfig]) -> BackfillResult:
        """Run every missing partition of ``models``, hours first, then days, then refreshes."""
        result = BackfillResult()
        hours, days = hour_keys(self.start, self.end), day_keys(self.start, self.end)
        plans = {}
        for model in models:
            plans[model.name] = []
            for step, keys, per_run in (
                ("hourly", hours, self.hours_per_run),
                ("daily", days, self.days_per_run),
            ):
                done = self._done(job_name(model.name, step, backfill=True)) & set(keys)
                result.skipped[step] = result.skipped.get(step, 0) + len(done)
                plans[model.name] += missing_runs(model.name, step, keys, done, per_run)
        units = sum(WEIGHTS[r.step] * len(r.keys) for p in plans.values() for r in p)
        progress = Progress(units)
        for model in models:
            self._ensure_baseline(model)
            for run in plans[model.name]:
                progress.update(f"running {run.describe()}")
                self._execute(run)
                result.runs.append(run)
                progress.update(f"done {run.describe()}", WEIGHTS[run.step] * len(run.keys))
            for run in self._refreshes(model, plans[model.name]):
                progress.total += WEIGHTS[run.step] * len(run.keys)
                progress.update(f"running {run.describe()} (labels arrived since)")
                self._execute(run)
                result.runs.append(run)
                progress.update(f"done {run.describe()}", WEIGHTS[run.step] * len(run.keys))
        progress.finish(f"{len(result.runs)} run(s)")
        result.seconds = progress.elapsed
        return result

    def _refreshes(self, model: ModelConfig, planned: list[PlannedRun]) -> list[PlannedRun]:
        """Ranged runs re-measuring earlier days whose labels arrived in the hours just run."""
        hourly = [r for r in planned if r.step == "hourly"]
        if not hourly:
            return []
        warehouse = Warehouse(self.settings.warehouse_url)
        try:
            arrivals = []
            for run in hourly:
                first = dt.datetime.strptime(run.first, "%Y-%m-%d-%H:%M")
                last = dt.datetime.strptime(run.last, "%Y-%m-%d-%H:%M")
                arrivals += label_arrivals(warehouse, model, first, last + dt.timedelta(hours=1))
        finally:
            warehouse.dispose()
        performance = dg.AssetKey([model.name, "daily_performance"])
        rerun = {k for r in planned if r.step == "daily" for k in r.keys}
        days = refresh_days(
            arrivals,
            model.label_delay.max_hours,
            self.instance.get_materialized_partitions(performance),
            rerun,
        )
        if not days:
            return []
        every_day = day_keys(dt.datetime.strptime(days[0], "%Y-%m-%d"), self.end)
        others = set(every_day) - set(days)
        return missing_runs(model.name, "performance", every_day, others, self.days_per_run)
