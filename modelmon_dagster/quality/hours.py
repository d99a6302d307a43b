"""Judge ingested hours: schema and data-quality outcomes, and what the schema check blocks.

One Great Expectations validation serves every hour that shares a baseline (its outcomes are
graded per hour), so a backfill of many hours pays the validation's fixed cost once per
baseline rather than once per hour.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from modelmon_dagster.baseline import baselines_by_hour
from modelmon_dagster.checks import CheckOutcome, blocked_columns, quality_outcome, schema_outcome
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.ingest.load import IngestResult
from modelmon_dagster.quality.suite import QualityReport, validate_groups
from modelmon_dagster.warehouse import Warehouse


@dataclass(frozen=True)
class HourJudgement:
    """The schema and data-quality outcomes of one ingested hour, and its blocked columns."""

    hour: dt.datetime
    schema: CheckOutcome
    quality: CheckOutcome
    blocked: dict[str, str]


def judge_prediction_hours(
    warehouse: Warehouse,
    model: ModelConfig,
    results: list[IngestResult],
    warn: Callable[[str], None],
) -> list[HourJudgement]:
    """Outcomes of each hour's ingestion (``results``, one per hour), in the same order."""
    with_rows = [r for r in results if r.rows]
    baselines = baselines_by_hour(warehouse, model, [r.hour for r in with_rows], warn)
    frames = {r.hour: r.table.to_pandas() for r in with_rows}
    reports: dict[dt.datetime, QualityReport] = {}
    by_baseline: dict[str, list[dt.datetime]] = {}
    for hour, baseline in baselines.items():
        by_baseline.setdefault(baseline.baseline_id, []).append(hour)
    for hours in by_baseline.values():
        baseline = baselines[hours[0]]
        rows = pd.concat([frames[h] for h in hours], ignore_index=True)
        groups = pd.Series(
            [h for h in hours for _ in range(len(frames[h]))], index=rows.index, dtype=object
        )
        complete = {c.column.name: c.categories_complete for c in baseline.columns}
        reports |= validate_groups(rows, groups, model, baseline, complete)
    out = []
    for result in results:
        rows = frames.get(result.hour, pd.DataFrame())
        blocked = blocked_columns(result, rows, model)
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
        table=pa.table({}),
        prediction_days=tuple(days),
        skipped_files=tuple(f for r in results for f in r.skipped_files),
    )
