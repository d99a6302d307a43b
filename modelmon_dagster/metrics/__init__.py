"""The metric store, system-health outcomes and control charts over it (no Dagster)."""
