"""The monthly review sample: which labelled predictions a person reads (no Dagster).

For each model and month: the labelled predictions the model got most wrong, plus a sample
stratified by true class and by whether the prediction was right (regression: by error size),
drawn deterministically (by a hash of the prediction id) so that a rerun gives the same rows.
"""

import datetime as dt

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
    """The month's review rows, with ``reason`` = ``most_wrong`` or ``stratum:<name>``.

    ``sample.attrs["labelled"]`` holds how many labelled predictions the month had (the
    population the rows were drawn from).
    """
    rows = _labelled(warehouse, model, start, end)
    if rows.empty:
        empty = rows.drop(columns=["draw"]).assign(
            error=pd.Series(dtype=float), stratum=pd.Series(dtype=str), reason=pd.Series(dtype=str)
        )
        empty.attrs["labelled"] = 0
        return empty
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
    # a multiclass mistake made with more confidence (the predicted class's probability, logged
    # as the score) is the more wrong one, as a confident binary one is
    rows["confidence"] = rows["score"] if model.task is Task.MULTICLASS_CLASSIFICATION else 0.0
    rows = rows.sort_values(["error", "confidence", "draw"], ascending=[False, False, True])
    rows = rows.drop(columns=["confidence"])
    most_wrong = rows.head(MOST_WRONG).assign(reason="most_wrong")
    rest = rows.drop(most_wrong.index).sort_values("draw")
    stratified = rest.groupby("stratum", sort=True).head(PER_STRATUM)
    stratified = stratified.assign(reason="stratum:" + stratified["stratum"])
    sample = pd.concat([most_wrong, stratified]).head(MAX_ROWS)
    sample = sample.drop(columns=["draw"]).reset_index(drop=True)
    sample.attrs["labelled"] = len(rows)
    return sample
