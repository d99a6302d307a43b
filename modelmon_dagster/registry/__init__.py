"""The model registry: one interface (:class:`Registry`), an embedded and an MLflow backend."""

from modelmon_dagster.registry.base import (
    CHALLENGER,
    CHAMPION,
    EventKind,
    ModelVersion,
    Registry,
    RegistryError,
    RegistryEvent,
    TimeWindow,
    Trigger,
    VersionNotFoundError,
    VersionStatus,
    next_version_name,
)
from modelmon_dagster.registry.embedded import EmbeddedRegistry

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "EmbeddedRegistry",
    "EventKind",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "RegistryEvent",
    "TimeWindow",
    "Trigger",
    "VersionNotFoundError",
    "VersionStatus",
    "next_version_name",
]
