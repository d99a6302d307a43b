"""The one entry point Dagster loads (workspace.yaml, ``dagster dev``, ``definitions validate``)."""

import os

import dagster as dg

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.resources import Settings
from modelmon_dagster.runner import EVENT_BATCH_SIZE, limit_numeric_threads


@dg.definitions
def defs() -> dg.Definitions:
    """Build definitions from the monitored-models config named by the environment.

    Every process that runs this code location's runs loads it first: the code server, each
    launched run's worker and its step processes (``make ui``, ``make ui-postgres``, the
    deployments). They get the limits of in-process runs (:class:`~modelmon_dagster.runner.
    InProcessRunner`): one OpenMP/BLAS thread and events stored in batches, unless the
    environment sets ``OMP_NUM_THREADS`` / ``DAGSTER_EVENT_BATCH_SIZE`` itself.
    """
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    limit_numeric_threads()
    settings = Settings.from_env()
    return build_definitions(load_config(settings.config_path), settings)
