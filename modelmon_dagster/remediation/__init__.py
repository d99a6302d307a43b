"""Remediation: retrain and rollback as plain functions, and the policy that requests them.

No Dagster here (the sensors and jobs that call these live in ``defs/``).
"""
