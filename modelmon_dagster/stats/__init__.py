"""Pure numpy/scipy statistics: no Dagster, no SQL."""
