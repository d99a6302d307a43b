"""Turn :class:`modelmon_dagster.checks.CheckOutcome` values into Dagster check results."""

import dagster as dg

from modelmon_dagster.checks import CheckOutcome

SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


def check_result(outcome: CheckOutcome, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    """The Dagster result of an outcome (metadata values become JSON where needed)."""
    metadata = {
        k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
        for k, v in outcome.metadata.items()
    }
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=SEVERITY[outcome.severity],
        description=outcome.description,
        metadata=metadata,
    )
