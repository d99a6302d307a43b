"""Run the code location's jobs and sensors in-process on a Dagster instance.

What ``make demo`` and the ``modelmon`` command use: runs land in the persistent instance (the
UI shows them), each with the clock it acts at, and sensors are evaluated with their own code
against the instance, as the daemon evaluates them. Their requested runs carry the same
``dagster/sensor_name`` and ``dagster/run_key`` tags the daemon gives, so a daemon started
later (``make ui``) recognises them and never launches them again.
"""

import datetime as dt
import os
from dataclasses import dataclass, field

import dagster as dg
import threadpoolctl

from modelmon_dagster.defs.resources import ClockResource

# A ranged run's materialisations of an asset are stored as one batch (one transaction in the
# embedded instance's event log, modelmon_dagster/instance_storage.py); Dagster's default, 0,
# stores them one by one.
EVENT_BATCH_SIZE = "1000"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
HOUR_KEY = "%Y-%m-%d-%H:%M"
DAY_KEY = "%Y-%m-%d"


_LIMITS: list = []


def limit_numeric_threads() -> None:
    """One thread for OpenMP and BLAS (scikit-learn's trees, numpy's solvers) in this process.

    The runs of the demo and of ``modelmon`` train and predict small models on small batches,
    one step at a time: threads gain little there, and on a shared machine an OpenMP thread
    that is not scheduled stalls the others at every barrier while they spin. Measured on the
    2-core machine at load average 7: one ``fraud_detector`` retrain 75 s wall / 24 s CPU with
    two threads, 6.3 s / 1.7 s with one, the same model and decision. ``OMP_NUM_THREADS`` set
    by the user wins. Libraries loaded later read the environment; loaded ones are limited now.
    """
    threads = int(os.environ.setdefault("OMP_NUM_THREADS", "1"))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    if not _LIMITS:
        _LIMITS.append(threadpoolctl.threadpool_limits(limits=threads))


class RunFailed(RuntimeError):
    """A run failed; the message lists its first failure events."""


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags of one ranged run over the partitions ``first`` to ``last`` (inclusive)."""
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@dataclass
class InProcessRunner:
    """Jobs and sensors of ``defs``, executed in this process against ``instance``."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    log_level: str = "CRITICAL"
    cursors: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self):
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
        limit_numeric_threads()

    def _run_config(self, now: dt.datetime | None) -> dict:
        config: dict = {"loggers": {"console": {"config": {"log_level": self.log_level}}}}
        if now is not None:
            config["resources"] = {"clock": {"config": {"fixed_now": now.isoformat()}}}
        return config

    def run(
        self,
        job_name: str,
        *,
        partition_key: str | None = None,
        tags: dict | None = None,
        asset_selection=None,
        now: dt.datetime | None = None,
    ):
        """Execute one run; raise :class:`RunFailed` if it fails."""
        result = self.defs.resolve_job_def(job_name).execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            tags=tags,
            asset_selection=asset_selection,
            run_config=self._run_config(now),
            raise_on_error=False,
        )
        if not result.success:
            failed = [e.message for e in result.all_events if e.is_failure]
            target = partition_key or (tags or {}).get("dagster/asset_partition_range_start", "")
            raise RunFailed(f"run of {job_name} {target} failed:\n" + "\n".join(failed[:5]))
        return result

    def run_range(self, job_name: str, first: str, last: str, now: dt.datetime | None = None):
        """One ranged run over partitions ``first`` to ``last`` (keys)."""
        return self.run(job_name, tags=range_tags(first, last), now=now)

    def tick(self, sensor_name: str, now: dt.datetime) -> list:
        """Evaluate a sensor once (cursor kept between ticks) and execute what it requests."""
        sensor = self.defs.get_sensor_def(sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor_name),
            repository_def=self.defs.get_repository_def(),
            resources={"clock": ClockResource(fixed_now=now.isoformat())},
        )
        data = sensor.evaluate_tick(context)
        self.cursors[sensor_name] = data.cursor
        results = []
        for request in data.run_requests or ():
            job_name = request.job_name or sensor.job_name
            tags = dict(request.tags) | {"dagster/sensor_name": sensor_name}
            if request.run_key:
                tags["dagster/run_key"] = request.run_key
            results.append(
                self.run(
                    job_name,
                    partition_key=request.partition_key,
                    tags=tags,
                    asset_selection=request.asset_selection,
                    now=now,
                )
            )
        return results
