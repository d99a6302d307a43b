"""The monthly review sample: predictions and their labels for a person to read (no Dagster).

For each model and month: the labelled predictions the model got most wrong, plus a sample
stratified by true class and by whether the prediction was right (regression: by error size),
drawn deterministically (by a hash of the prediction id) so that a rerun gives the same rows.
Written as CSV (for tools) and as a self-contained HTML page (for people).
"""

import datetime as dt
import html
from pathlib import Path

import pandas as pd

from modelmon_dagster.config import ModelConfig, Task
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.warehouse import Warehouse, quote

MOST_WRONG = 25
PER_STRATUM = 25
MAX_ROWS = 200


def _labelled(warehouse: Warehouse, model: ModelConfig, start, end) -> pd.DataFrame:
    features = ", ".join(f"p.{quote(f.column)}" for f in model.features)
    return warehouse.query_df(
        f"""
        WITH labels AS (
            SELECT prediction_id, label_text, label_value, label_ts,
                   row_number() OVER (PARTITION BY prediction_id
                                      ORDER BY label_ts DESC, partition_hour DESC,
                                               arrival_seq DESC NULLS LAST) AS label_rank
            FROM {quote(raw_labels_table(model).name)}
        )
        SELECT p.prediction_id, p.ts, p.model_version, p.prediction_label, p.prediction_value,
               p.score, l.label_text, l.label_value, l.label_ts, md5(p.prediction_id) AS draw,
               {features}
        FROM {quote(raw_predictions_table(model).name)} AS p
        JOIN labels AS l ON l.prediction_id = p.prediction_id AND l.label_rank = 1
        WHERE p.partition_hour >= :s AND p.partition_hour < :e AND p.status = 'ok'
        """,
        {"s": start, "e": end},
    )


def review_sample(
    warehouse: Warehouse, model: ModelConfig, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """The month's review rows, with ``reason`` = ``most_wrong`` or ``stratum:<name>``."""
    rows = _labelled(warehouse, model, start, end)
    if rows.empty:
        return rows.assign(
            error=pd.Series(dtype=float), stratum=pd.Series(dtype=str), reason=pd.Series(dtype=str)
        )
    if model.task is Task.REGRESSION:
        rows["error"] = (rows["prediction_value"] - rows["label_value"]).abs()
        rows["stratum"] = pd.qcut(
            rows["error"].rank(method="first"),
            4,
            labels=["small error", "medium", "large", "largest"],
        ).astype(str)
    else:
        correct = rows["prediction_label"] == rows["label_text"]
        if model.task is Task.BINARY_CLASSIFICATION:
            truth = (rows["label_text"] == model.positive_class).astype(float)
            rows["error"] = (truth - rows["score"]).abs()  # confident and wrong ranks first
        else:
            rows["error"] = (~correct).astype(float)
        rows["stratum"] = (
            "label="
            + rows["label_text"].astype(str)
            + ", "
            + correct.map({True: "right", False: "wrong"})
        )
    rows = rows.sort_values(["error", "draw"], ascending=[False, True])
    most_wrong = rows.head(MOST_WRONG).assign(reason="most_wrong")
    rest = rows.drop(most_wrong.index).sort_values("draw")
    stratified = rest.groupby("stratum", sort=True).head(PER_STRATUM)
    stratified = stratified.assign(reason="stratum:" + stratified["stratum"])
    sample = pd.concat([most_wrong, stratified]).head(MAX_ROWS)
    return sample.drop(columns=["draw"]).reset_index(drop=True)


def write_review(sample: pd.DataFrame, model: ModelConfig, month: str, folder: Path) -> tuple:
    """Write ``{month}.csv`` and ``{month}.html`` under ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = folder / f"{month}.csv", folder / f"{month}.html"
    sample.to_csv(csv_path, index=False)
    strata = sample["reason"].value_counts().sort_index()
    rows_html = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in sample.itertuples(index=False)
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in sample.columns)
    summary = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in strata.items())
    html_path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(model.name)} review sample {html.escape(month)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1a1a1a; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}
th {{ background: #f0f0f0; position: sticky; top: 0; }}
tr:nth-child(even) {{ background: #fafafa; }}
</style></head><body>
<h1>{html.escape(model.name)}: review sample for {html.escape(month)}</h1>
<p>{len(sample)} labelled predictions: the {MOST_WRONG} the model got most wrong, then up to
{PER_STRATUM} per stratum, drawn by a hash of the prediction id (a rerun gives the same rows).</p>
<ul>{summary}</ul>
<table><thead><tr>{head}</tr></thead><tbody>
{rows_html}
</tbody></table></body></html>
""")
    return csv_path, html_path
