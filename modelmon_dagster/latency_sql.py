"""The SQL form of :func:`modelmon_dagster.stats.latency.latency_bin` (same on both engines)."""

from modelmon_dagster.stats.latency import BINS_PER_DECADE, MIN_LATENCY_MS

LATENCY_BIN_SQL = (
    f"CAST(floor(log10(greatest(latency_ms, {MIN_LATENCY_MS!r})) * {BINS_PER_DECADE}) AS INTEGER)"
)
