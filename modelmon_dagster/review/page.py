"""The review sample written for tools (CSV, full precision) and for people (an HTML page).

The page says what it is, which model and month it covers and how its rows were drawn; its
values are rounded, its times are UTC to the second, missing values are an em dash, and its
table fits a 1280-pixel screen (each row's features are folded into one cell).
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from modelmon_dagster import readable
from modelmon_dagster.config import ModelConfig, Task
from modelmon_dagster.review.sample import MAX_ROWS, MOST_WRONG, PER_STRATUM

NO_LABEL = "no label yet"
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("modelmon_dagster.review", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
# How each task's "most wrong" is measured, and what its strata are.
_ERROR_MEASURE = {
    Task.BINARY_CLASSIFICATION: "by how far the score is from the true label, confident and "
    "wrong first",
    Task.MULTICLASS_CLASSIFICATION: "wrong predictions first, the most confident (highest "
    "score) first",
    Task.REGRESSION: "by the absolute error |prediction − true value|",
}
_STRATA = {
    Task.BINARY_CLASSIFICATION: "true label × right or wrong",
    Task.MULTICLASS_CLASSIFICATION: "true label × right or wrong",
    Task.REGRESSION: "quartile of the error's size",
}
_ERROR_HEADER = {
    Task.BINARY_CLASSIFICATION: "|label − score|",
    Task.MULTICLASS_CLASSIFICATION: "right?",
    Task.REGRESSION: "|error|",
}


@dataclass(frozen=True)
class Feature:
    """One feature of a row, as shown."""

    name: str
    value: str
    missing: bool


@dataclass(frozen=True)
class Row:
    """One sampled prediction, as shown."""

    prediction_id: str
    why: str
    predicted_at: str
    version: str
    prediction: str
    truth: str
    label_at: str
    error: str
    features: tuple[Feature, ...]

    @property
    def missing_features(self) -> int:
        """How many features the record lacks."""
        return sum(f.missing for f in self.features)


def _why(reason: str) -> str:
    """``most_wrong`` / ``stratum:label=1, wrong`` in words."""
    if reason == "most_wrong":
        return "most wrong"
    return reason.removeprefix("stratum:").replace("label=", "label ")


def _text(value) -> str:
    return readable.MISSING if readable.is_missing(value) else str(value)


def _prediction(r: pd.Series, task: Task) -> str:
    if task is Task.REGRESSION:
        return readable.number(r["prediction_value"])
    label = _text(r["prediction_label"])
    if readable.is_missing(r["score"]):
        return label
    return f"{label} (score {readable.number(r['score'], 3)})"


def _truth(r: pd.Series, task: Task) -> str:
    value = r["label_value"] if task is Task.REGRESSION else r["label_text"]
    if readable.is_missing(value):
        return NO_LABEL
    return readable.number(value) if task is Task.REGRESSION else str(value)


def _error(r: pd.Series, task: Task) -> str:
    if readable.is_missing(r["error"]):
        return readable.MISSING
    if task is Task.MULTICLASS_CLASSIFICATION:
        return "wrong" if r["error"] else "right"
    return readable.number(r["error"], 3)


def page_rows(sample: pd.DataFrame, model: ModelConfig) -> list[Row]:
    """The sample's rows as the page shows them."""
    task = model.task
    return [
        Row(
            prediction_id=str(r["prediction_id"]),
            why=_why(str(r["reason"])),
            predicted_at=readable.timestamp(r["ts"]),
            version=_text(r["model_version"]),
            prediction=_prediction(r, task),
            truth=_truth(r, task),
            label_at=readable.timestamp(r["label_ts"]),
            error=_error(r, task),
            features=tuple(
                Feature(f.name, readable.number(r[f.column]), readable.is_missing(r[f.column]))
                for f in model.features
            ),
        )
        for _, r in sample.iterrows()
    ]


def review_page(
    sample: pd.DataFrame, model: ModelConfig, start: dt.datetime, end: dt.datetime, csv_name: str
) -> str:
    """The HTML page of the month ``[start, end)``'s review ``sample``."""
    strata = sample["reason"].value_counts().sort_index() if len(sample) else pd.Series()
    versions = sorted(sample["model_version"].dropna().astype(str).unique()) if len(sample) else []
    return _ENV.get_template("review.html.j2").render(
        model=model,
        task=model.task.value.replace("_", " "),
        month=f"{start:%B %Y}",
        start=readable.timestamp(start, seconds=False),
        end=readable.timestamp(end, seconds=False),
        labelled=sample.attrs.get("labelled", len(sample)),
        rows=page_rows(sample, model),
        versions=versions,
        strata=[(_why(k), int(v)) for k, v in strata.items()],
        most_wrong=MOST_WRONG,
        per_stratum=PER_STRATUM,
        max_rows=MAX_ROWS,
        error_measure=_ERROR_MEASURE[model.task],
        strata_kind=_STRATA[model.task],
        error_header=_ERROR_HEADER[model.task],
        truth_header="True value" if model.task is Task.REGRESSION else "True label",
        csv_name=csv_name,
    )


def write_review(
    sample: pd.DataFrame, model: ModelConfig, start: dt.datetime, end: dt.datetime, folder: Path
) -> tuple[Path, Path]:
    """Write ``{YYYY-MM}.csv`` and ``{YYYY-MM}.html`` under ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    month = f"{start:%Y-%m}"
    csv_path, html_path = folder / f"{month}.csv", folder / f"{month}.html"
    sample.to_csv(csv_path, index=False)
    html_path.write_text(review_page(sample, model, start, end, csv_path.name), encoding="utf-8")
    return csv_path, html_path
