"""Check outcomes as plain values: what every asset check decides, without Dagster.

Decision helpers return a :class:`CheckOutcome`; ``defs/checks.py`` turns it into a Dagster
``AssetCheckResult``. Tests call the helpers directly.
"""

from dataclasses import dataclass, field

import pandas as pd

from modelmon_dagster.config import ModelConfig, Thresholds
from modelmon_dagster.ingest.load import IngestResult
from modelmon_dagster.quality.suite import ERROR, WARN, QualityReport

PASSED, FAILED, NOT_JUDGED = "passed", "failed", "not_judged"


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict: ``passed``, the severity it is judged at, and why.

    ``passed`` is ``None`` when the check could not judge (no data in the period, no labels
    yet, no history to compare with): that is not a failure. It is recorded with its reason,
    shown as "not judged" (in Dagster: no evaluation, so the check shows as skipped), and never
    opens, repeats or resolves an alert, nor triggers a remediation.
    """

    name: str
    passed: bool | None
    severity: str  # "ERROR" or "WARN": how bad a failure is
    description: str
    metadata: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``passed``, ``failed`` or ``not_judged``."""
        if self.passed is None:
            return NOT_JUDGED
        return PASSED if self.passed else FAILED

    @property
    def judged(self) -> bool:
        """Whether the check reached a verdict."""
        return self.passed is not None

    @property
    def failed(self) -> bool:
        """Whether the check judged and failed (a not-judged check has not failed)."""
        return self.passed is False

    @classmethod
    def not_judged(
        cls, name: str, reason: str, metadata: dict | None = None, severity: str = "WARN"
    ) -> "CheckOutcome":
        """An outcome saying the check could not judge, and why (``reason``)."""
        return cls(name, None, severity, f"not judged: {reason}", dict(metadata or {}))


ALL_COLUMNS = "*"
# Great Expectations' expectation types in words ("{column}: {share} {phrase}"); the column
# ``schema_errors`` stands for the whole record.
_PHRASES = {
    "expect_column_values_to_not_be_null": "missing or mistyped",
    "expect_column_values_to_be_null": "with a schema error",
    "expect_column_values_to_be_between": "outside the expected range",
    "expect_column_values_to_be_in_set": "in categories unseen in the baseline",
}
_RECORD = "schema_errors"


def _column_label(column: str) -> str:
    """A column as people know it: the feature name, not the raw table's ``f_`` column."""
    return column.removeprefix("f_")


def _expectation_summary(report: QualityReport, severity: str) -> list[dict]:
    """Failed expectations for the UI: the column and the problem in words, not GX's names."""
    out = []
    for o in report.failed(severity):
        entry = o.as_metadata()
        kind = entry.pop("expectation")
        entry.pop("column")
        column = "records" if o.column == _RECORD else _column_label(o.column)
        problem = _PHRASES.get(kind, kind.removeprefix("expect_").replace("_", " "))
        out.append({"column": column, "problem": problem, **entry})
    return out


def _problem_text(failed: dict) -> str:
    return f"{failed['column']}: {failed['unexpected_fraction']:.1%} {failed['problem']}"


def feature_error_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Per feature named in ``schema_errors``, the records where it is missing or mistyped.

    Counts add up over batches of an hour's rows (see ``quality.hours``).
    """
    if rows.empty or "schema_errors" not in rows:
        return {}
    listed = rows["schema_errors"].dropna()
    if listed.empty:
        return {}
    names = listed.str.split(",").explode().str.split(":").str[0]
    return {str(k): int(v) for k, v in names.value_counts().items()}


def feature_error_rates(rows: pd.DataFrame, model: ModelConfig) -> dict[str, float]:
    """Per feature, the share of records where it is missing (if required) or mistyped."""
    return error_rates(feature_error_counts(rows), len(rows), model)


def error_rates(counts: dict[str, int], rows: int, model: ModelConfig) -> dict[str, float]:
    """Per feature of ``model`` with errors, its count in ``counts`` over ``rows`` records."""
    return {
        f.name: float(counts.get(f.name, 0)) / rows for f in model.features if counts.get(f.name, 0)
    }


def blocked_columns(ingest: IngestResult, rows: pd.DataFrame, model: ModelConfig) -> dict[str, str]:
    """What the schema check blocks in an hour whose rows are ``rows``: ``column -> reason``."""
    return blocked_by_rates(ingest, feature_error_rates(rows, model), model)


def blocked_by_rates(
    ingest: IngestResult, rates: dict[str, float], model: ModelConfig
) -> dict[str, str]:
    """What the schema check blocks in an hour: ``column -> reason``.

    Blocking is per column: a feature missing or mistyped in more than
    ``schema_error_rate_error`` of the records (``rates``: see :func:`feature_error_rates`) has
    its statistics for the hour left out of the aggregates (so drift never compares a broken
    column), while every other column is still measured. Broken record shape (more than
    ``quarantine_rate_error`` of the lines quarantined) blocks the whole hour (key ``*``).
    """
    t = model.thresholds
    if ingest.lines and ingest.quarantined_fraction > t.quarantine_rate_error:
        return {
            ALL_COLUMNS: f"{ingest.quarantined_fraction:.1%} of lines quarantined "
            f"(more than {t.quarantine_rate_error:.1%})"
        }
    return {
        name: f"{rate:.1%} of records missing or mistyped "
        f"(more than {t.schema_error_rate_error:.1%})"
        for name, rate in rates.items()
        if rate > t.schema_error_rate_error
    }


def schema_outcome(
    ingest: IngestResult, report: QualityReport, blocked: dict[str, str], t: Thresholds
) -> CheckOutcome:
    """Records have the config's shape: required features present and typed, few bad lines.

    Fails at ERROR when something is blocked (see :func:`blocked_columns`): the broken columns'
    statistics are left out of the hour's aggregates, the others are still measured. An hour
    without any line is not judged: there is nothing to validate, and the volume check judges
    whether silence is an outage.
    """
    meta = {
        "rows": ingest.rows,
        "quarantined_lines": ingest.quarantined,
        "quarantined_fraction": round(ingest.quarantined_fraction, 6),
        "expectations_evaluated": report.evaluated,
        "blocked_columns": dict(blocked),
    }
    if ingest.lines == 0:
        return CheckOutcome.not_judged("schema", "no records in this hour", meta, ERROR)
    failed = _expectation_summary(report, ERROR)
    meta["failed_expectations"] = failed
    if not blocked and not failed:
        return CheckOutcome("schema", True, ERROR, "required features present and typed", meta)
    problems = [_problem_text(f) for f in failed]
    if ALL_COLUMNS in blocked:
        problems.insert(0, blocked[ALL_COLUMNS])
        effect = "the hour's feature statistics and drift are blocked"
    elif blocked:
        effect = (
            f"statistics of {', '.join(sorted(blocked))} blocked for this hour; "
            "other columns still measured"
        )
    else:
        effect = "nothing blocked"
    return CheckOutcome(
        "schema", False, ERROR, f"schema broken: {'; '.join(problems)} ({effect})", meta
    )


def quality_outcome(ingest: IngestResult, report: QualityReport, t: Thresholds) -> CheckOutcome:
    """Non-blocking check: a few schema problems, out-of-range values, unseen categories."""
    meta = {
        "rows": ingest.rows,
        "quarantined_fraction": round(ingest.quarantined_fraction, 6),
        "quarantine_reasons": ingest.quarantine_reasons,
        "expectations_evaluated": report.evaluated,
    }
    if ingest.lines == 0:
        return CheckOutcome.not_judged("data_quality", "no records in this hour", meta)
    failed = _expectation_summary(report, WARN)
    problems = [_problem_text(f) for f in failed]
    if ingest.quarantined_fraction > t.quarantine_rate_warn:
        problems.append(f"{ingest.quarantined} lines quarantined")
    meta["failed_expectations"] = failed
    if problems:
        return CheckOutcome("data_quality", False, WARN, "; ".join(problems), meta)
    return CheckOutcome("data_quality", True, WARN, "values within the baseline's ranges", meta)
