"""Labelled windows from the warehouse, and their split into training rows and a later holdout.

The join is the one of ``dbt_like_sql/models/daily/daily_performance_counts.sql``: ok
predictions of the window, each with the latest label (by label time, then arrival partition)
among the labels that had *arrived* before ``labels_until``, so a retrain at a given hour sees
exactly the labels the monitoring saw then.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelmon_dagster.config import FeatureType, ModelConfig
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.warehouse import Warehouse, quote

MISSING_CATEGORY = "__missing__"

LABELLED_SQL = """
with

predictions as (
    select prediction_id, model_version, ts, partition_hour, prediction_label,
        prediction_value, score, {features}
    from {predictions}
    where partition_hour >= :window_start and partition_hour < :window_end
        and status = 'ok'
),

labels_ranked as (
    select
        prediction_id,
        label_text,
        label_value,
        label_ts,
        row_number() over (
            partition by prediction_id
            order by label_ts desc, partition_hour desc, arrival_seq desc nulls last
        ) as label_rank
    from {labels}
    where partition_hour < :labels_until
        and prediction_id in (select prediction_id from predictions)
),

final as (
    select p.*, l.label_text, l.label_value, l.label_ts
    from predictions as p
    inner join labels_ranked as l
        on l.prediction_id = p.prediction_id and l.label_rank = 1
)

select * from final order by ts, prediction_id
"""


def load_labelled(
    warehouse: Warehouse,
    model: ModelConfig,
    start: dt.datetime,
    end: dt.datetime,
    labels_until: dt.datetime | None = None,
) -> pd.DataFrame:
    """Ok predictions of ``[start, end)`` with their latest label, oldest first.

    Columns: ``prediction_id``, ``model_version``, ``ts``, ``partition_hour``,
    ``prediction_label``, ``prediction_value``, ``score``, one ``f_<name>`` per feature,
    ``label_text``, ``label_value``, ``label_ts``. Labels that arrived at or after
    ``labels_until`` (default ``end``) are ignored. Empty when the raw tables do not exist.
    """
    predictions, labels = raw_predictions_table(model).name, raw_labels_table(model).name
    columns = ["prediction_id", "model_version", "ts", "partition_hour", "prediction_label"]
    columns += ["prediction_value", "score", *(f.column for f in model.features)]
    columns += ["label_text", "label_value", "label_ts"]
    if not (warehouse.table_exists(predictions) and warehouse.table_exists(labels)):
        return pd.DataFrame(columns=columns)
    sql = LABELLED_SQL.format(
        features=", ".join(quote(f.column) for f in model.features),
        predictions=quote(predictions),
        labels=quote(labels),
    )
    params = {"window_start": start, "window_end": end, "labels_until": labels_until or end}
    frame = warehouse.query_df(sql, params)
    return frame[columns]


@dataclass(frozen=True)
class TimeSplit:
    """Labelled rows split by prediction time: every holdout row is later than every train row."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    split_at: dt.datetime | None


def split_by_time(frame: pd.DataFrame, holdout_fraction: float) -> TimeSplit:
    """Put the latest ``holdout_fraction`` of rows (by ``ts``) in the holdout.

    Rows sharing the split timestamp all go to the holdout, so the holdout is strictly later.
    An empty frame gives two empty parts and no split time.
    """
    if not 0 < holdout_fraction < 1:
        raise ValueError("holdout_fraction must lie in (0, 1)")
    if frame.empty:
        return TimeSplit(frame, frame, None)
    ts = pd.to_datetime(frame["ts"]).sort_values(kind="stable")
    split_at = ts.iloc[min(int(len(ts) * (1 - holdout_fraction)), len(ts) - 1)]
    later = pd.to_datetime(frame["ts"]) >= split_at
    return TimeSplit(
        frame[~later].reset_index(drop=True),
        frame[later].reset_index(drop=True),
        split_at.to_pydatetime(),
    )


def feature_frame(features, frame: pd.DataFrame) -> pd.DataFrame:
    """The model-facing inputs: one column per feature name, canonical types.

    Parameters
    ----------
    features : sequence of Feature or (name, type) pairs
        The model's features.
    frame : DataFrame
        Raw-table rows (``f_<name>`` columns) or a frame already keyed by feature name.

    Notes
    -----
    Numeric features become float64 (missing = NaN, which tree models handle and the default
    pipelines impute); categorical ones become Python strings with missing values as
    ``"__missing__"``, so encoders never see ``None`` and ``NaN`` as two different categories.
    """
    out = {}
    for feature in features:
        name, kind = (feature.name, feature.type) if hasattr(feature, "type") else feature
        source = frame[f"f_{name}"] if f"f_{name}" in frame.columns else frame[name]
        if FeatureType(kind) is FeatureType.NUMERIC:
            out[name] = pd.to_numeric(source, errors="coerce").astype(float).to_numpy()
        else:
            values = source.astype(object).to_numpy()
            missing = pd.isna(values)
            out[name] = np.where(missing, MISSING_CATEGORY, values.astype(str)).astype(object)
    return pd.DataFrame(out, index=range(len(frame)))


def target(model: ModelConfig, frame: pd.DataFrame) -> np.ndarray:
    """Labels of labelled rows: class labels as strings, or floats for regression."""
    if model.task.is_classification:
        return frame["label_text"].astype(str).to_numpy(dtype=object)
    return frame["label_value"].astype(float).to_numpy()
