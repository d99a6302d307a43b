"""Run the real Dagster jobs in-process for tests."""

import dataclasses

import dagster as dg

from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.jobs import BASELINE_JOB, DAILY_JOB, HOURLY_JOB

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def only(config, *names):
    return dataclasses.replace(config, models=tuple(m for m in config.models if m.name in names))


class Pipeline:
    def __init__(self, config, settings):
        self.defs = build_definitions(config, settings)
        self.instance = dg.DagsterInstance.ephemeral()

    def run(self, job_name, partition_key=None):
        result = self.defs.resolve_job_def(job_name).execute_in_process(
            instance=self.instance, partition_key=partition_key, run_config=QUIET
        )
        assert result.success
        return result

    def baseline(self):
        return self.run(BASELINE_JOB)

    def hour(self, hour):
        return self.run(HOURLY_JOB, hour.strftime("%Y-%m-%d-%H:%M"))

    def day(self, day):
        return self.run(DAILY_JOB, day.strftime("%Y-%m-%d"))

    @staticmethod
    def metadata(result, *path):
        for event in result.get_asset_materialization_events():
            if tuple(event.materialization.asset_key.path) == path:
                return {k: v.value for k, v in event.materialization.metadata.items()}
        raise KeyError(path)
