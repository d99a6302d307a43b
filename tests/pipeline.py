"""Run the real Dagster jobs in-process for tests."""

import dataclasses

import dagster as dg

from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.jobs import BASELINE_JOB, job_name
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings
from modelmon_dagster.sim import simulate

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
HOUR_KEY = "%Y-%m-%d-%H:%M"


def only(config, *names):
    return dataclasses.replace(config, models=tuple(m for m in config.models if m.name in names))


class Runs:
    """The results of one run per model, read as one (the jobs are per model)."""

    def __init__(self, results):
        self.results = list(results)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def get_asset_check_evaluations(self):
        return [e for r in self.results for e in r.get_asset_check_evaluations()]

    def get_asset_materialization_events(self):
        return [e for r in self.results for e in r.get_asset_materialization_events()]


class Pipeline:
    def __init__(self, config, settings, instance=None):
        self.config = config
        self.defs = build_definitions(config, settings)
        self.instance = instance or dg.DagsterInstance.ephemeral()

    def run(self, job_name_, partition_key=None, tags=None, raise_on_error=True):
        result = self.defs.resolve_job_def(job_name_).execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            run_config=QUIET,
            tags=tags,
            raise_on_error=raise_on_error,
        )
        if raise_on_error:
            assert result.success
        return result

    def baseline(self):
        return self.run(BASELINE_JOB)

    def _each_model(self, grain, key, models=None):
        return Runs(
            self.run(job_name(m.name, grain), key)
            for m in self.config.models
            if models is None or m.name in models
        )

    def hour(self, hour, models=None):
        return self._each_model("hourly", hour.strftime(HOUR_KEY), models)

    def day(self, day, models=None):
        return self._each_model("daily", day.strftime("%Y-%m-%d"), models)

    def backfill(self, grain, first, last, models=None):
        """One ranged run per model over partitions ``first`` to ``last`` (inclusive)."""
        fmt = HOUR_KEY if grain == "hourly" else "%Y-%m-%d"
        tags = {
            "dagster/asset_partition_range_start": first.strftime(fmt),
            "dagster/asset_partition_range_end": last.strftime(fmt),
        }
        return Runs(
            self.run(job_name(m.name, grain, backfill=True), tags=tags)
            for m in self.config.models
            if models is None or m.name in models
        )

    @staticmethod
    def metadata(result, *path):
        for event in result.get_asset_materialization_events():
            if tuple(event.materialization.asset_key.path) == path:
                return {k: v.value for k, v in event.materialization.metadata.items()}
        raise KeyError(path)


def simulated(root, config, start, days, scenarios):
    """A baselined pipeline over ``days`` simulated days from ``start``, on DuckDB under ``root``.

    Returns ``(pipeline, settings)``.
    """
    settings = Settings(
        config_path=PROJECT_ROOT / "config" / "models.yaml",
        data_dir=root / "data",
        warehouse_url=f"duckdb:///{root / 'warehouse.duckdb'}",
    )
    simulate(config, settings.data_dir, start, days, seed=42, scenarios=scenarios)
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    return pipeline, settings
