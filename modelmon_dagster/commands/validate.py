"""``modelmon validate``: the config, the reference data and a sample of log files.

Parses files exactly as ingestion does and prints what would be quarantined and why, which
features would be recorded as missing or mistyped, and whether the reference data can serve as
a baseline (label coverage, hours of the day covered). Nothing is written.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.ingest.parser import ParsedBatch, parse_label_files, parse_prediction_files
from modelmon_dagster.logformat import LABELS, PREDICTIONS, closed_files

# Hourly drift compares each hour with the reference rows of the same hour of day.
MIN_REFERENCE_HOURS = 24


@dataclass
class Report:
    """Lines to print, and whether anything makes the setup unusable."""

    lines: list[str] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0

    def info(self, text: str) -> None:
        """A plain line."""
        self.lines.append(text)

    def warn(self, text: str) -> None:
        """Something to look at; monitoring still works."""
        self.warnings += 1
        self.lines.append(f"  WARNING {text}")

    def error(self, text: str) -> None:
        """Something that stops monitoring from working."""
        self.errors += 1
        self.lines.append(f"  ERROR {text}")


def describe_batch(report: Report, what: str, batch: ParsedBatch, examples: int = 3) -> None:
    """Counts, quarantine reasons (with examples) and per-feature schema problems."""
    report.info(
        f"  {what}: {batch.files} file(s), {batch.lines} line(s), {batch.rows.num_rows} "
        f"accepted, {batch.quarantine.num_rows} would be quarantined"
    )
    shown: Counter = Counter()
    reasons = Counter(batch.quarantine.column("reason").to_pylist())
    for reason, n in reasons.most_common():
        report.info(f"    quarantined ({n}): {reason}")
    for row in batch.quarantine.to_pylist():
        if shown[row["reason"]] < examples:
            shown[row["reason"]] += 1
            raw = (row["raw_line"] or "")[:120]
            report.info(f"      {Path(row['source_file']).name}:{row['line_no']}  {raw}")
    if "schema_errors" in batch.rows.column_names:
        problems = Counter(
            problem
            for value in batch.rows.column("schema_errors").to_pylist()
            if value
            for problem in value.split(",")
        )
        rows = batch.rows.num_rows
        for problem, n in problems.most_common():
            name, kind = problem.split(":")
            if kind == "missing":
                report.info(
                    f"    feature {name} missing or null (required) in {n} record(s) "
                    f"({n / rows:.1%}): stored NULL and counted by the schema checks; if it may "
                    "be null, declare it `required: false`"
                )
            else:
                report.info(f"    feature {name} of the wrong type in {n} record(s): stored NULL")


def sample_hours(logs_root: Path, stream: str, model: ModelConfig, n: int) -> list[Path]:
    """The latest ``n`` hour folders of a model's stream (``.../{date}/{HH}``)."""
    root = logs_root / stream / model.name
    if not root.is_dir():
        return []
    folders = sorted(p for day in root.iterdir() if day.is_dir() for p in day.iterdir())
    return folders[-n:]


def _hour_of(folder: Path) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(f"{folder.parent.name} {folder.name}", "%Y-%m-%d %H")
    except ValueError:
        return None


def validate_reference(report: Report, model: ModelConfig, data_dir: Path) -> None:
    """Each configured baseline's reference files: readable, labelled, spread over the day."""
    for spec in model.baselines:
        path = data_dir / spec.reference_predictions
        if not path.is_file():
            report.error(f"reference predictions of {spec.model_version} not found: {path}")
            continue
        batch = parse_prediction_files([path], model, hour=None)
        describe_batch(report, f"reference {spec.model_version} ({path.name})", batch)
        if batch.rows.num_rows == 0:
            report.error(f"no usable reference rows in {path}")
            continue
        hours = set(pc.hour(batch.rows.column("ts")).to_pylist())
        if len(hours) < MIN_REFERENCE_HOURS:
            report.warn(
                f"reference covers {len(hours)} of 24 hours of the day: hourly drift compares "
                "each hour with reference rows of the same hour, so the missing hours are not "
                "judged; sample the reference over whole days"
            )
        if spec.reference_labels is None:
            report.warn("no reference_labels: performance checks have nothing to compare with")
            continue
        labels_path = data_dir / spec.reference_labels
        if not labels_path.is_file():
            report.error(f"reference labels not found: {labels_path}")
            continue
        labels = parse_label_files([labels_path], model)
        describe_batch(report, f"reference labels ({labels_path.name})", labels)
        ids = set(batch.rows.column("prediction_id").to_pylist())
        # distinct ids: a corrected label is a second line for the same prediction
        matched = len(ids & set(labels.rows.column("prediction_id").to_pylist()))
        share = matched / len(ids) if ids else 0.0
        report.info(f"    {matched} reference predictions labelled ({share:.0%})")
        if matched == 0:
            report.error("no reference label matches a reference prediction_id")


def validate_logs(report: Report, model: ModelConfig, logs_root: Path, hours: int) -> None:
    """The latest ``hours`` hour folders of predictions and labels, parsed as ingestion does."""
    for stream in (PREDICTIONS, LABELS):
        folders = sample_hours(logs_root, stream, model, hours)
        if not folders:
            report.warn(f"no {stream} logs under {logs_root / stream / model.name}")
            continue
        files = [f for folder in folders for f in closed_files(folder)]
        if stream == PREDICTIONS:
            batches = [
                parse_prediction_files(closed_files(folder), model, _hour_of(folder))
                for folder in folders
            ]
            batch = _combine(batches)
        else:
            batch = parse_label_files(files, model)
        span = f"{folders[0].parent.name} {folders[0].name}h..{folders[-1].parent.name} "
        describe_batch(
            report, f"{stream} ({len(folders)} hour(s): {span}{folders[-1].name}h)", batch
        )
        if stream == PREDICTIONS:
            warn_schema_breaks(report, model, batch)


def warn_schema_breaks(report: Report, model: ModelConfig, batch: ParsedBatch) -> None:
    """Shares of the sampled prediction lines that would fail the ``schema`` check at ERROR."""
    t = model.thresholds
    if batch.lines and batch.quarantine.num_rows / batch.lines > t.quarantine_rate_error:
        report.warn(
            f"{batch.quarantine.num_rows / batch.lines:.1%} of these lines would be quarantined: "
            f"the schema check fails an hour above {t.quarantine_rate_error:.1%} "
            "(quarantine_rate_error) and blocks its statistics"
        )
    rows = batch.rows.num_rows
    if not rows or "schema_errors" not in batch.rows.column_names:
        return
    flagged = sum(1 for v in batch.rows.column("schema_errors").to_pylist() if v)
    if flagged / rows > t.schema_error_rate_error:
        report.warn(
            f"{flagged / rows:.1%} of these records have a missing, null or mistyped required "
            f"feature: the schema check fails an hour above {t.schema_error_rate_error:.1%} "
            "(schema_error_rate_error) and blocks those features' statistics"
        )


def _combine(batches: list[ParsedBatch]) -> ParsedBatch:
    return ParsedBatch(
        rows=pa.concat_tables([b.rows for b in batches]),
        quarantine=pa.concat_tables([b.quarantine for b in batches]),
        files=sum(b.files for b in batches),
        lines=sum(b.lines for b in batches),
        line_path_files=sum(b.line_path_files for b in batches),
    )


def validate_model(model: ModelConfig, data_dir: Path, logs_root: Path, hours: int) -> Report:
    """Everything ``modelmon validate`` says about one model."""
    report = Report()
    features = ", ".join(
        f"{f.name} ({f.type.value}{'' if f.required else ', optional'})" for f in model.features
    )
    report.info(f"{model.name}: {model.task.value}; features {features}")
    validate_reference(report, model, data_dir)
    validate_logs(report, model, logs_root, hours)
    return report
