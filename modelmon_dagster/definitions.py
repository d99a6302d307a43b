"""The one entry point Dagster loads (workspace.yaml, ``dagster dev``, ``definitions validate``)."""

import dagster as dg

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.build import build_definitions
from modelmon_dagster.defs.resources import Settings


@dg.definitions
def defs() -> dg.Definitions:
    """Build definitions from the monitored-models config named by the environment."""
    settings = Settings.from_env()
    return build_definitions(load_config(settings.config_path), settings)
