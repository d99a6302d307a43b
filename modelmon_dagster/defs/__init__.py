"""Dagster objects only, one folder per concern; ``build_definitions`` assembles them."""
