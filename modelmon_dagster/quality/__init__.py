"""Schema and data-quality validation of hourly batches with Great Expectations (no Dagster)."""
