"""Deterministic simulator of the demo models' prediction and label logs (no Dagster here)."""

from modelmon_dagster.sim.generator import ModelSimulation, SimulationSummary, simulate
from modelmon_dagster.sim.scenarios import (
    AbruptDrift,
    ConceptDrift,
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
    demo_scenarios,
)

__all__ = [
    "AbruptDrift",
    "ConceptDrift",
    "ErrorBurst",
    "FeatureDrift",
    "GradualDrift",
    "LabelDrift",
    "LatencySpike",
    "MalformedLines",
    "ModelSimulation",
    "Scenario",
    "SchemaBreak",
    "SimulationSummary",
    "VolumeDrop",
    "clean_scenarios",
    "demo_scenarios",
    "simulate",
]
