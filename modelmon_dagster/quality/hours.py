"""Judge ingested hours: schema and data-quality outcomes, and what the schema check blocks.

One Great Expectations validation serves every hour that shares a baseline (its outcomes are
graded per hour), so a backfill of many hours pays the validation's fixed cost once per
baseline rather than once per hour.
"""

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from modelmon_dagster.baseline import baselines_by_hour
from modelmon_dagster.checks import (
    CheckOutcome,
    blocked_by_rates,
    error_rates,
    feature_error_counts,
    quality_outcome,
    schema_outcome,
)
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.ingest.load import IngestResult
from modelmon_dagster.ingest.tables import raw_predictions_table
from modelmon_dagster.quality.suite import GroupedValidation, QualityReport
from modelmon_dagster.warehouse import Warehouse


@dataclass(frozen=True)
class HourJudgement:
    """The schema and data-quality outcomes of one ingested hour, and its blocked columns."""

    hour: dt.datetime
    schema: CheckOutcome
    quality: CheckOutcome
    blocked: dict[str, str]


# Values (rows x columns) validated at a time: memory stays bounded by one batch whatever the
# hour's size, and a wide model gets fewer rows a batch. 1M values: ~24k rows of a 25-feature
# model (41 columns). Great Expectations' transient copies of a batch, not its rows, set the
# peak: 100k-row batches peaked 240-330 MB higher on a 2M-line hour (see the README), and a
# validation's cost is mostly fixed (~0.35 s), so much smaller batches would cost CPU.
BATCH_VALUES = 1_000_000
MIN_BATCH_ROWS = 1_000


def batch_rows_for(columns: int) -> int:
    """Rows per batch for a table of ``columns`` columns (``BATCH_VALUES`` values a batch)."""
    return max(MIN_BATCH_ROWS, BATCH_VALUES // max(columns, 1))


class _HourBatches:
    """Feeds the stored rows of hours sharing a baseline to one validation, in batches.

    Small hours are pooled into one batch (one validation's fixed cost for many hours); a
    large hour is read in several batches. Also counts each hour's per-feature schema errors.
    """

    def __init__(self, validation: GroupedValidation, batch_rows: int):
        self.validation = validation
        self.batch_rows = batch_rows
        self.pending: list[tuple[dt.datetime, pd.DataFrame]] = []
        self.errors: dict[dt.datetime, Counter] = {}

    def add(self, hour: dt.datetime, frame: pd.DataFrame) -> None:
        self.errors.setdefault(hour, Counter()).update(feature_error_counts(frame))
        self.pending.append((hour, frame))
        if sum(len(f) for _, f in self.pending) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows = pd.concat([f for _, f in self.pending], ignore_index=True)
        groups = pd.Series([h for h, f in self.pending for _ in range(len(f))], dtype=object)
        self.validation.add(rows, groups)
        self.pending = []


def judge_prediction_hours(
    warehouse: Warehouse,
    model: ModelConfig,
    results: list[IngestResult],
    warn: Callable[[str], None],
    batch_rows: int | None = None,
) -> list[HourJudgement]:
    """Outcomes of each hour's ingestion (``results``, one per hour), in the same order.

    The hours' rows are read back from the warehouse in batches of about ``batch_rows``
    (default: ``batch_rows_for`` the table's columns): the grades are those of one validation
    of each hour's whole rows, without holding them.
    """
    with_rows = [r for r in results if r.rows]
    baselines = baselines_by_hour(warehouse, model, [r.hour for r in with_rows], warn)
    schema = raw_predictions_table(model)
    batch_rows = batch_rows or batch_rows_for(len(schema.column_names))
    reports: dict[dt.datetime, QualityReport] = {}
    errors: dict[dt.datetime, Counter] = {}
    by_baseline: dict[str, list[dt.datetime]] = {}
    for hour, baseline in baselines.items():
        by_baseline.setdefault(baseline.baseline_id, []).append(hour)
    for hours in by_baseline.values():
        baseline = baselines[hours[0]]
        complete = {c.column.name: c.categories_complete for c in baseline.columns}
        batches = _HourBatches(GroupedValidation(model, baseline, complete), batch_rows)
        for hour in hours:
            for table in warehouse.read_batches(schema, "partition_hour", hour, batch_rows):
                batches.add(hour, table.to_pandas())
                del table  # not held while the next batch is read
        batches.flush()
        reports |= batches.validation.reports()
        errors |= batches.errors
    out = []
    for result in results:
        rates = error_rates(errors.get(result.hour, {}), result.rows, model) if result.rows else {}
        blocked = blocked_by_rates(result, rates, model)
        report = reports.get(result.hour, QualityReport(rows=0))
        out.append(
            HourJudgement(
                hour=result.hour,
                schema=schema_outcome(result, report, blocked, model.thresholds),
                quality=quality_outcome(result, report, model.thresholds),
                blocked=blocked,
            )
        )
    return out


def combined(results: list[IngestResult]) -> IngestResult:
    """One result summing several hours' (for a ranged run's metadata)."""
    if len(results) == 1:
        return results[0]
    reasons: dict[str, int] = {}
    for r in results:
        for reason, n in r.quarantine_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    days = sorted({d for r in results for d in r.prediction_days})
    return IngestResult(
        stream=results[0].stream,
        hour=results[0].hour,
        files=sum(r.files for r in results),
        lines=sum(r.lines for r in results),
        rows=sum(r.rows for r in results),
        quarantined=sum(r.quarantined for r in results),
        line_path_files=sum(r.line_path_files for r in results),
        quarantine_reasons=dict(sorted(reasons.items())),
        prediction_days=tuple(days),
        skipped_files=tuple(f for r in results for f in r.skipped_files),
        chunks=sum(r.chunks for r in results),
        direct_hours=sum(r.direct_hours for r in results),
        direct_declined=dict(sum((Counter(r.direct_declined) for r in results), Counter())),
    )
