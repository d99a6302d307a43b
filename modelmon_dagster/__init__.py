"""Production monitoring for machine-learning models, orchestrated by Dagster."""
