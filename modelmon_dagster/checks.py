"""Check outcomes as plain values: what every asset check decides, without Dagster.

Decision helpers return a :class:`CheckOutcome`; ``defs/checks.py`` turns it into a Dagster
``AssetCheckResult``. Tests call the helpers directly.
"""

from dataclasses import dataclass, field

from modelmon_dagster.config import Thresholds
from modelmon_dagster.ingest.load import IngestResult
from modelmon_dagster.quality.suite import ERROR, WARN, QualityReport


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict: ``passed``, the severity it is judged at, and why."""

    name: str
    passed: bool | None  # None: not judged (no data): not a failure, never alerts
    severity: str  # "ERROR" or "WARN": how bad a failure is
    description: str
    metadata: dict = field(default_factory=dict)


def _expectation_summary(report: QualityReport, severity: str) -> list[dict]:
    return [o.as_metadata() for o in report.failed(severity)]


def schema_outcome(ingest: IngestResult, report: QualityReport, t: Thresholds) -> CheckOutcome:
    """Blocking check: required features present and typed, few quarantined lines.

    An hour without any record cannot be validated: the check fails at WARN severity (it does
    not block) and says so; the volume check judges whether silence is an outage.
    """
    meta = {
        "rows": ingest.rows,
        "quarantined_lines": ingest.quarantined,
        "quarantined_fraction": round(ingest.quarantined_fraction, 6),
        "expectations_evaluated": report.evaluated,
    }
    if ingest.lines == 0:
        return CheckOutcome(
            "schema", False, WARN, "no records in this hour: nothing to validate", meta
        )
    failed = _expectation_summary(report, ERROR)
    too_many_quarantined = ingest.quarantined_fraction > t.quarantine_rate_error
    problems = [f"{f['column']}: {f['unexpected_fraction']:.1%} {f['expectation']}" for f in failed]
    if too_many_quarantined:
        problems.append(
            f"{ingest.quarantined_fraction:.1%} of lines quarantined "
            f"(> {t.quarantine_rate_error:.1%})"
        )
    meta["failed_expectations"] = failed
    if problems:
        return CheckOutcome("schema", False, ERROR, "schema broken: " + "; ".join(problems), meta)
    return CheckOutcome("schema", True, ERROR, "required features present and typed", meta)


def quality_outcome(ingest: IngestResult, report: QualityReport, t: Thresholds) -> CheckOutcome:
    """Non-blocking check: a few schema problems, out-of-range values, unseen categories."""
    meta = {
        "rows": ingest.rows,
        "quarantined_fraction": round(ingest.quarantined_fraction, 6),
        "quarantine_reasons": ingest.quarantine_reasons,
        "expectations_evaluated": report.evaluated,
    }
    if ingest.lines == 0:
        return CheckOutcome("data_quality", False, WARN, "no records in this hour", meta)
    failed = _expectation_summary(report, WARN)
    problems = [f"{f['column']}: {f['unexpected_fraction']:.1%} {f['expectation']}" for f in failed]
    if ingest.quarantined_fraction > t.quarantine_rate_warn:
        problems.append(f"{ingest.quarantined} lines quarantined")
    meta["failed_expectations"] = failed
    if problems:
        return CheckOutcome("data_quality", False, WARN, "; ".join(problems), meta)
    return CheckOutcome("data_quality", True, WARN, "values within the baseline's ranges", meta)
