"""Deterministic simulator of the demo models' prediction and label logs (no Dagster here)."""

from modelmon_dagster.sim.generator import ModelSimulation, SimulationSummary, simulate
from modelmon_dagster.sim.scenarios import (
    HOTFIX,
    AbruptDrift,
    ConceptDrift,
    Deploy,
    ErrorBurst,
    FeatureDrift,
    GradualDrift,
    LabelDrift,
    LatencySpike,
    MalformedLines,
    Scenario,
    SchemaBreak,
    VolumeDrop,
    clean_scenarios,
    demo_deploys,
    demo_scenarios,
)

__all__ = [
    "AbruptDrift",
    "ConceptDrift",
    "Deploy",
    "ErrorBurst",
    "FeatureDrift",
    "GradualDrift",
    "HOTFIX",
    "LabelDrift",
    "LatencySpike",
    "MalformedLines",
    "ModelSimulation",
    "Scenario",
    "SchemaBreak",
    "SimulationSummary",
    "VolumeDrop",
    "clean_scenarios",
    "demo_deploys",
    "demo_scenarios",
    "simulate",
]
