"""Baselines: bin edges, categories and centres fixed from a model version's reference data.

No Dagster here. The hourly aggregates bin every monitored column on these edges, so histograms
from different hours and days add up and compare directly with the reference.
"""

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from modelmon_dagster.config import Baseline as BaselineSpec
from modelmon_dagster.config import FeatureType, ModelConfig
from modelmon_dagster.ingest.tables import raw_predictions_table
from modelmon_dagster.monitored import MonitoredColumn, monitored_columns
from modelmon_dagster.stats.binning import bin_index, quantile_bin_edges, top_k_categories
from modelmon_dagster.stats.performance import (
    expected_calibration_error,
    expected_confusion,
    performance_metrics,
    reliability_table,
)
from modelmon_dagster.warehouse import Replacement, TableSchema, Warehouse

BASELINE_BINS = TableSchema(
    "baseline_bins",
    (
        ("model_name", "VARCHAR"),
        ("baseline_id", "VARCHAR"),
        ("column_name", "VARCHAR"),
        ("column_role", "VARCHAR"),
        ("hour_of_day", "INTEGER"),  # NULL: the whole reference; 0-23: that hour of day only
        ("bin_index", "INTEGER"),
        ("lower_edge", "DOUBLE PRECISION"),
        ("upper_edge", "DOUBLE PRECISION"),
        ("category", "VARCHAR"),
        ("reference_count", "BIGINT"),
        # NULL: built by the baseline asset from the config; "registry": from a holdout
        ("origin", "VARCHAR"),
    ),
)
BASELINE_COLUMNS = TableSchema(
    "baseline_columns",
    (
        ("model_name", "VARCHAR"),
        ("baseline_id", "VARCHAR"),
        ("model_version", "VARCHAR"),
        ("column_name", "VARCHAR"),
        ("column_role", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("n", "BIGINT"),
        ("n_null", "BIGINT"),
        ("mean", "DOUBLE PRECISION"),
        ("std", "DOUBLE PRECISION"),
        ("min_value", "DOUBLE PRECISION"),
        ("max_value", "DOUBLE PRECISION"),
        ("origin", "VARCHAR"),
    ),
)
BASELINE_PERFORMANCE = TableSchema(
    "baseline_performance",
    (
        ("model_name", "VARCHAR"),
        ("baseline_id", "VARCHAR"),
        ("model_version", "VARCHAR"),
        ("segment_column", "VARCHAR"),  # "__all__" for the whole reference
        ("segment_value", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("value", "DOUBLE PRECISION"),
        ("n", "BIGINT"),
        ("origin", "VARCHAR"),
    ),
)
BASELINE_SEGMENT_BINS = TableSchema(
    "baseline_segment_bins",
    (
        ("model_name", "VARCHAR"),
        ("baseline_id", "VARCHAR"),
        ("segment_column", "VARCHAR"),
        ("segment_value", "VARCHAR"),
        ("column_name", "VARCHAR"),
        ("bin_index", "INTEGER"),
        ("reference_count", "BIGINT"),
        ("origin", "VARCHAR"),
    ),
)
BASELINE_CALIBRATION = TableSchema(
    "baseline_calibration",
    (
        ("model_name", "VARCHAR"),
        ("baseline_id", "VARCHAR"),
        ("score_bin", "INTEGER"),
        ("calibrated_p", "DOUBLE PRECISION"),
        ("origin", "VARCHAR"),
    ),
)
SCORE_BINS = 100  # equal-width bins of [0, 1], as daily_score_histogram
OTHER_CATEGORY = "__other__"
REGISTRY_ORIGIN = "registry"
# The rows a rebuild of the config's baselines replaces: registry-built baselines (new versions,
# from their holdout) are left alone.
CONFIG_BASELINE_ROWS = "model_name = :model_name AND origin IS NULL"


@dataclass(frozen=True)
class ColumnBins:
    """How one monitored column is binned."""

    column: MonitoredColumn
    edges: tuple[float, ...] = ()  # numeric: interior edges
    categories: tuple[str, ...] = ()  # categorical: top-k; bin len(categories) is "other"
    center: float = 0.0  # numeric: baseline mean, the shift for mergeable sums
    std: float | None = None  # numeric: reference standard deviation (drift effect scale)
    low: float | None = None  # numeric: reference minimum
    high: float | None = None  # numeric: reference maximum
    categories_complete: bool = False  # categorical: top-k holds every reference category

    @property
    def range(self) -> tuple[float, float] | None:
        """The reference's [min, max] of a numeric column, if known."""
        if self.low is None or self.high is None:
            return None
        return self.low, self.high

    @property
    def n_bins(self) -> int:
        """Number of bins, open tails or "other" included."""
        return len(self.edges) + 1 if self.column.is_numeric else len(self.categories) + 1


@dataclass(frozen=True)
class Baseline:
    """The binning of every monitored column of one model version."""

    model_name: str
    baseline_id: str
    model_version: str
    columns: tuple[ColumnBins, ...]

    def for_column(self, name: str) -> ColumnBins:
        """Bins of the monitored column ``name``."""
        for col in self.columns:
            if col.column.name == name:
                return col
        raise KeyError(name)


class BaselineMissingError(RuntimeError):
    """No baseline has been built for a model yet."""


def file_digest(path: Path) -> str:
    """Short content hash, so a changed reference file gives a new baseline id."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def label_column(model: ModelConfig) -> MonitoredColumn:
    """The ground-truth label as a binned column (label drift, baseline only)."""
    if model.task.is_classification:
        return MonitoredColumn("label", "label", FeatureType.CATEGORICAL, "label_text")
    return MonitoredColumn("label", "label", FeatureType.NUMERIC, "label_value")


def with_labels(reference: pd.DataFrame, labels: pd.DataFrame | None) -> pd.DataFrame:
    """Reference predictions with their labels joined by prediction id (latest label wins)."""
    if labels is None:
        return reference
    latest = labels.sort_values("label_ts").drop_duplicates("prediction_id", keep="last")
    return reference.merge(
        latest[["prediction_id", "label_text", "label_value"]], on="prediction_id", how="left"
    )


def _column_bins(col: MonitoredColumn, values: pd.Series, spec: BaselineSpec) -> ColumnBins:
    if col.is_numeric:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        edges = quantile_bin_edges(numbers, spec.numeric_bins)
        return ColumnBins(
            col,
            edges=tuple(float(e) for e in edges),
            center=float(np.nanmean(numbers)),
            std=float(np.nanstd(numbers, ddof=1)) if np.sum(~np.isnan(numbers)) > 1 else None,
            low=float(np.nanmin(numbers)),
            high=float(np.nanmax(numbers)),
        )
    present = values.dropna().astype(str)
    cats = top_k_categories(present.tolist(), spec.top_k_categories)
    return ColumnBins(
        col, categories=tuple(cats), categories_complete=present.nunique() <= len(cats)
    )


def build_baseline(
    model: ModelConfig,
    reference: pd.DataFrame,
    baseline_id: str,
    spec: BaselineSpec | None = None,
) -> Baseline:
    """Fix bins from reference predictions (rows as in the raw predictions table).

    Only ``ok`` records count: errors carry no prediction and would skew the reference. When
    the frame has label columns (see :func:`with_labels`), the label distribution is binned too.
    """
    spec = spec or model.baseline
    ok = reference[reference["status"] == "ok"]
    if ok.empty:
        raise ValueError(f"{model.name}: the reference data has no ok predictions")
    columns = [_column_bins(col, ok[col.sql_column], spec) for col in monitored_columns(model)]
    label = label_column(model)
    if label.sql_column in ok.columns and ok[label.sql_column].notna().any():
        columns.append(_column_bins(label, ok[label.sql_column], spec))
    return Baseline(model.name, baseline_id, spec.model_version, tuple(columns))


def _bin_indices(cb: ColumnBins, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Bin of every non-null value, and the mask of non-null values."""
    if cb.column.is_numeric:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        present = ~np.isnan(x)
        return bin_index(x[present], np.array(cb.edges)), present
    present = values.notna().to_numpy()
    index = {c: i for i, c in enumerate(cb.categories)}
    other = len(cb.categories)
    return np.array([index.get(str(v), other) for v in values[present]], dtype=int), present


def _bin_rows(cb: ColumnBins, counts: np.ndarray, hours: np.ndarray) -> pd.DataFrame:
    """One row per (hour of day or None, bin) with its reference count."""
    n_bins = cb.n_bins
    scopes = counts.shape[0]
    if cb.column.is_numeric:
        lowers = np.array((-np.inf, *cb.edges))
        uppers = np.array((*cb.edges, np.inf))
        category = [None] * n_bins
    else:
        lowers = uppers = np.full(n_bins, np.nan)
        category = [*cb.categories, OTHER_CATEGORY]
    return pd.DataFrame(
        {
            "column_name": cb.column.name,
            "column_role": cb.column.role,
            "hour_of_day": np.repeat(hours, n_bins),
            "bin_index": np.tile(np.arange(n_bins), scopes),
            "lower_edge": np.tile(lowers, scopes),
            "upper_edge": np.tile(uppers, scopes),
            "category": category * scopes,
            "reference_count": counts.reshape(-1).astype(np.int64),
        }
    )


def baseline_tables(baseline: Baseline, reference: pd.DataFrame) -> tuple[pa.Table, pa.Table]:
    """Rows of ``baseline_bins`` and ``baseline_columns`` for a baseline and its reference.

    ``baseline_bins`` holds, per column and bin, the reference count over the whole reference
    (``hour_of_day`` NULL) and for each hour of day 0-23: hourly drift compares an hour with the
    reference rows of the same hour of day, so daily cycles are not mistaken for drift.
    """
    ok = reference[reference["status"] == "ok"]
    hour_of_day = pd.to_datetime(ok["ts"]).dt.hour.to_numpy()
    frames, column_rows = [], []
    for cb in baseline.columns:
        col = cb.column
        values = ok[col.sql_column]
        bins, present = _bin_indices(cb, values)
        by_hour = np.zeros((24, cb.n_bins), dtype=np.int64)
        np.add.at(by_hour, (hour_of_day[present], bins), 1)
        counts = np.vstack([by_hour.sum(axis=0, keepdims=True), by_hour])
        hours = np.array([None, *range(24)], dtype=object)
        frames.append(_bin_rows(cb, counts, hours))
        if col.is_numeric:
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            stats = {
                "mean": float(x.mean()) if x.size else None,
                "std": float(x.std(ddof=1)) if x.size > 1 else None,
                "min_value": float(x.min()) if x.size else None,
                "max_value": float(x.max()) if x.size else None,
            }
        else:
            stats = {"mean": None, "std": None, "min_value": None, "max_value": None}
        n = int(present.sum())
        column_rows.append(
            {
                "model_name": baseline.model_name,
                "baseline_id": baseline.baseline_id,
                "model_version": baseline.model_version,
                "column_name": col.name,
                "column_role": col.role,
                "kind": col.kind.value,
                "n": n,
                "n_null": int(len(values) - n),
            }
            | stats
        )
    bins = pd.concat(frames, ignore_index=True)
    bins.insert(0, "model_name", baseline.model_name)
    bins.insert(1, "baseline_id", baseline.baseline_id)
    bins["hour_of_day"] = bins["hour_of_day"].astype("Int64")
    return _to_arrow(bins, BASELINE_BINS), _to_arrow(column_rows, BASELINE_COLUMNS)


def segment_reference_table(
    model: ModelConfig, baseline: Baseline, reference: pd.DataFrame
) -> pa.Table:
    """Reference counts of every monitored column within each segment value.

    Segments are the config's ``segments`` (categorical features); their values are the
    baseline's top-k categories. Drift inside a segment is judged against the segment's own
    reference, not the whole population's.
    """
    ok = reference[reference["status"] == "ok"]
    frames = []
    for segment in model.segments:
        seg_bins = baseline.for_column(segment)
        seg_values = ok[model.feature(segment).column].astype("string")
        binned = [(cb, *_bin_indices(cb, ok[cb.column.sql_column])) for cb in baseline.columns]
        for value in seg_bins.categories:
            in_segment = (seg_values == value).fillna(False).to_numpy()
            for cb, bins, present in binned:
                if cb.column.name == segment:
                    continue
                counts = np.bincount(bins[in_segment[present]], minlength=cb.n_bins)
                frames.append(
                    pd.DataFrame(
                        {
                            "segment_column": segment,
                            "segment_value": value,
                            "column_name": cb.column.name,
                            "bin_index": np.arange(cb.n_bins),
                            "reference_count": counts.astype(np.int64),
                        }
                    )
                )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame.insert(0, "model_name", baseline.model_name)
    frame.insert(1, "baseline_id", baseline.baseline_id)
    return _to_arrow(frame, BASELINE_SEGMENT_BINS)


def calibration_table(model: ModelConfig, baseline: Baseline, reference: pd.DataFrame) -> pa.Table:
    """P(positive | score bin) on the reference, by isotonic regression (binary models only).

    The confidence-based estimate of performance before labels uses these probabilities. With
    no labelled reference rows the table is empty and the estimate is reported as unavailable.
    """
    frame = pd.DataFrame(columns=BASELINE_CALIBRATION.column_names)
    if model.task.value == "binary_classification" and "label_text" in reference.columns:
        rows = reference[(reference["status"] == "ok") & reference["label_text"].notna()]
        if len(rows) >= 10:
            from sklearn.isotonic import IsotonicRegression

            y = (rows["label_text"] == model.positive_class).to_numpy(dtype=float)
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(rows["score"].to_numpy(dtype=float), y)
            centres = (np.arange(SCORE_BINS) + 0.5) / SCORE_BINS
            frame = pd.DataFrame(
                {
                    "model_name": baseline.model_name,
                    "baseline_id": baseline.baseline_id,
                    "score_bin": np.arange(SCORE_BINS),
                    "calibrated_p": iso.predict(centres),
                }
            )
    return _to_arrow(frame, BASELINE_CALIBRATION)


def _to_arrow(rows: list[dict] | pd.DataFrame, schema: TableSchema) -> pa.Table:
    frame = pd.DataFrame(rows, columns=schema.column_names)
    return pa.Table.from_pandas(frame, preserve_index=False)


def load_baseline(
    warehouse: Warehouse, model: ModelConfig, model_version: str | None = None
) -> Baseline:
    """Read a model version's baseline back from the warehouse (default version if None).

    Raises
    ------
    BaselineMissingError
        When the baseline asset has not been materialised for this model and version.
    """
    version = model_version or model.baseline.model_version
    if warehouse.table_exists(BASELINE_COLUMNS.name):
        found = warehouse.scalar(
            "SELECT max(baseline_id) FROM baseline_columns WHERE model_name = :m AND "
            "model_version = :v",
            {"m": model.name, "v": version},
        )
        if found is not None:
            return load_baseline_by_id(warehouse, model, str(found))
    raise BaselineMissingError(
        f"{model.name}: no baseline for version {version!r}; materialise the {model.name}/baseline "
        "asset (and configure a baseline for that model version)"
    )


def load_baseline_by_id(warehouse: Warehouse, model: ModelConfig, baseline_id: str) -> Baseline:
    """Read the baseline with id ``baseline_id`` (as recorded in aggregate rows).

    Memoised per process: a baseline id is content-addressed (see :func:`baseline_id_for`), so
    the rows behind an id never change.
    """
    key = (warehouse.url, model, baseline_id)
    if key not in _BY_ID:
        if len(_BY_ID) >= 64:
            _BY_ID.pop(next(iter(_BY_ID)))
        _BY_ID[key] = _load(
            warehouse, model, "baseline_id = :b", {"b": baseline_id}, f"id {baseline_id!r}"
        )
    return _BY_ID[key]


_BY_ID: dict = {}


def baseline_id_for(model: ModelConfig, spec: BaselineSpec, reference_digests: list[str]) -> str:
    """Content-addressed id: the version, the reference files and everything that shapes bins."""
    h = hashlib.sha256()
    for part in (
        *reference_digests,
        str(spec.numeric_bins),
        str(spec.top_k_categories),
        model.task.value,
        *(f"{f.name}:{f.type.value}" for f in model.features),
    ):
        h.update(part.encode())
        h.update(b"\x00")
    return f"{spec.model_version}-{h.hexdigest()[:12]}"


def _load(warehouse: Warehouse, model: ModelConfig, where: str, params: dict, what: str):
    missing = BaselineMissingError(
        f"{model.name}: no baseline for {what}; materialise the {model.name}/baseline asset "
        "(and configure a baseline for that model version)"
    )
    if not warehouse.table_exists(BASELINE_BINS.name):
        raise missing
    meta = warehouse.query_df(
        "SELECT baseline_id, model_version, column_name, mean, std, min_value, max_value "
        f"FROM baseline_columns WHERE model_name = :m AND {where}",
        {"m": model.name, **params},
    )
    if meta.empty:
        raise missing
    baseline_id = str(meta["baseline_id"].iloc[0])
    version = str(meta["model_version"].iloc[0])
    stats = meta.set_index("column_name")
    bins = warehouse.query_df(
        "SELECT column_name, bin_index, lower_edge, category, reference_count FROM baseline_bins "
        "WHERE model_name = :m AND baseline_id = :b AND hour_of_day IS NULL "
        "ORDER BY column_name, bin_index",
        {"m": model.name, "b": baseline_id},
    )
    columns = []
    for col in (*monitored_columns(model), label_column(model)):
        rows = bins[bins["column_name"] == col.name]
        if rows.empty:
            if col.role == "label":
                continue  # no reference labels: label drift is reported as unavailable
            raise BaselineMissingError(
                f"{model.name}: the baseline has no bins for {col.name!r}; rebuild the baseline"
            )
        if col.is_numeric:
            edges = tuple(float(e) for e in rows["lower_edge"].iloc[1:])
            s = stats.loc[col.name]
            columns.append(
                ColumnBins(
                    col,
                    edges=edges,
                    center=float(s["mean"]),
                    std=float(s["std"]),
                    low=float(s["min_value"]),
                    high=float(s["max_value"]),
                )
            )
        else:
            cats = tuple(str(c) for c in rows["category"] if c != OTHER_CATEGORY)
            other = rows.loc[rows["category"] == OTHER_CATEGORY, "reference_count"]
            complete = bool(other.empty or int(other.iloc[0]) == 0)
            columns.append(ColumnBins(col, categories=cats, categories_complete=complete))
    return Baseline(model.name, baseline_id, version, tuple(columns))


def served_versions(warehouse: Warehouse, model: ModelConfig, start, end) -> dict[dt.datetime, str]:
    """Per hour of ``[start, end)`` with predictions, the model version that served most."""
    table = raw_predictions_table(model).name
    if not warehouse.table_exists(table):
        return {}
    frame = warehouse.query_df(
        f'SELECT partition_hour, model_version, count(*) AS n FROM "{table}" '
        "WHERE partition_hour >= :s AND partition_hour < :e "
        "GROUP BY partition_hour, model_version",
        {"s": start, "e": end},
    )
    out = {}
    for hour, rows in frame.groupby("partition_hour"):
        top = rows.sort_values(["n", "model_version"], ascending=[False, True]).iloc[0]
        out[pd.Timestamp(hour).to_pydatetime()] = str(top["model_version"])
    return out


def baseline_for_version(
    warehouse: Warehouse, model: ModelConfig, version: str | None, warn: Callable[[str], None]
) -> Baseline:
    """The baseline of ``version`` (the default version's when None).

    A version without a baseline of its own falls back to the default version's baseline and
    says so through ``warn``: its histograms stay comparable with earlier hours, and the
    baseline's ``model_version`` shows which version it describes.
    """
    if version is None or version == model.baseline.model_version:
        return load_baseline(warehouse, model)
    try:
        return load_baseline(warehouse, model, version)
    except BaselineMissingError:
        warn(
            f"{model.name}: no baseline for served version {version!r}; judged against the "
            f"default {model.baseline.model_version!r} baseline"
        )
        return load_baseline(warehouse, model)


def baseline_for_window(
    warehouse: Warehouse, model: ModelConfig, start, end, warn: Callable[[str], None]
) -> Baseline:
    """The baseline of the model version that served most of ``[start, end)``'s predictions."""
    table = raw_predictions_table(model).name
    served = (
        warehouse.query_df(
            f'SELECT model_version, count(*) AS n FROM "{table}" '
            "WHERE partition_hour >= :s AND partition_hour < :e "
            "GROUP BY model_version ORDER BY n DESC, model_version LIMIT 1",
            {"s": start, "e": end},
        )
        if warehouse.table_exists(table)
        else None
    )
    version = None if served is None or served.empty else str(served["model_version"].iloc[0])
    return baseline_for_version(warehouse, model, version, warn)


def baselines_by_hour(
    warehouse: Warehouse,
    model: ModelConfig,
    hours: list[dt.datetime],
    warn: Callable[[str], None],
) -> dict[dt.datetime, Baseline]:
    """Each hour's baseline (that of the version serving most of it; default if none served)."""
    if not hours:
        return {}
    served = served_versions(warehouse, model, min(hours), max(hours) + dt.timedelta(hours=1))
    warned: set[str] = set()

    def warn_once(message: str) -> None:
        if message not in warned:
            warned.add(message)
            warn(message)

    by_version = {
        version: baseline_for_version(warehouse, model, version, warn_once)
        for version in {served.get(h) for h in hours}
    }
    return {h: by_version[served.get(h)] for h in hours}


def reference_histogram(
    warehouse: Warehouse, model_name: str, baseline_id: str, hour_of_day: int | None = None
) -> pd.DataFrame:
    """Reference counts of the whole reference and, if given, of one hour of day.

    Columns: ``hour_of_day`` (NA for the whole reference), ``column_name``, ``bin_index``,
    ``reference_count``.
    """
    return warehouse.query_df(
        "SELECT hour_of_day, column_name, bin_index, reference_count FROM baseline_bins "
        "WHERE model_name = :m AND baseline_id = :b AND (hour_of_day IS NULL OR hour_of_day = :h)",
        {"m": model_name, "b": baseline_id, "h": -1 if hour_of_day is None else hour_of_day},
    )


def performance_rows(
    model: ModelConfig, baseline_id: str, version: str, frame: pd.DataFrame, calibration
) -> list[dict]:
    """Reference performance, overall and per segment value, with the counts behind it.

    Also the confidence-based estimate on the reference itself (``estimated_*``): the daily
    estimate is compared with it, so the estimator's own bias cancels out.
    """
    is_regression = model.task.value == "regression"
    label_col = "label_value" if is_regression else "label_text"
    pred_col = "prediction_value" if is_regression else "prediction_label"
    if label_col not in frame.columns:
        return []
    labelled = frame[(frame["status"] == "ok") & frame[label_col].notna()]
    scopes = [("__all__", "__all__", labelled)]
    for segment in model.segments:
        column = model.feature(segment).column
        for value, rows in labelled.groupby(labelled[column].astype("string")):
            scopes.append((segment, str(value), rows))
    out = []
    binary = model.task.value == "binary_classification"
    for seg_col, seg_val, rows in scopes:
        values = performance_metrics(
            model,
            rows[label_col].to_numpy(),
            rows[pred_col].to_numpy(),
            rows["score"].to_numpy() if binary else None,
        )
        if binary and len(rows):
            truth = (rows[label_col] == model.positive_class).to_numpy(dtype=float)
            n, sums, hits = reliability_table(rows["score"].to_numpy(dtype=float), truth)
            values["ece"] = expected_calibration_error(n, sums, hits)
        if seg_col == "__all__" and binary and calibration.num_rows:
            cal = calibration.to_pandas().set_index("score_bin")["calibrated_p"]
            bins = np.minimum((frame["score"].dropna() * 100).astype(int), 99)
            counts = bins.value_counts().reindex(range(100), fill_value=0)
            estimate = expected_confusion(
                counts, cal.reindex(range(100)).to_numpy(), np.arange(100) >= 50
            )
            values |= {f"estimated_{k}": v for k, v in estimate.items()}
        out += [
            {
                "model_name": model.name,
                "baseline_id": baseline_id,
                "model_version": version,
                "segment_column": seg_col,
                "segment_value": seg_val,
                "metric": name,
                "value": value,
                "n": len(rows),
            }
            for name, value in values.items()
        ]
    return out


@dataclass(frozen=True)
class BaselineRows:
    """Everything one model version's baseline writes: the five tables' rows."""

    baseline: Baseline
    bins: pa.Table
    columns: pa.Table
    segments: pa.Table
    calibration: pa.Table
    performance: list[dict]

    def replacements(self, where: str, params: dict) -> list[Replacement]:
        """One replacement per table, all selecting ``where``."""
        perf = _to_arrow(self.performance, BASELINE_PERFORMANCE)
        return [
            Replacement(BASELINE_BINS, where, params, rows=self.bins),
            Replacement(BASELINE_COLUMNS, where, params, rows=self.columns),
            Replacement(BASELINE_PERFORMANCE, where, params, rows=perf),
            Replacement(BASELINE_SEGMENT_BINS, where, params, rows=self.segments),
            Replacement(BASELINE_CALIBRATION, where, params, rows=self.calibration),
        ]


def baseline_rows(
    model: ModelConfig, frame: pd.DataFrame, baseline_id: str, spec: BaselineSpec
) -> BaselineRows:
    """Bins, moments, segment references, calibration and performance of a reference frame.

    ``frame`` holds rows as in the raw predictions table, with ``label_text`` /
    ``label_value`` joined (see :func:`with_labels`) when the reference has labels.
    """
    fixed = build_baseline(model, frame, baseline_id, spec)
    bins, columns = baseline_tables(fixed, frame)
    calibration = calibration_table(model, fixed, frame)
    return BaselineRows(
        baseline=fixed,
        bins=bins,
        columns=columns,
        segments=segment_reference_table(model, fixed, frame),
        calibration=calibration,
        performance=performance_rows(model, baseline_id, spec.model_version, frame, calibration),
    )


def _with_origin(table: pa.Table, origin: str) -> pa.Table:
    index = table.schema.get_field_index("origin")
    return table.set_column(index, "origin", pa.array([origin] * table.num_rows, pa.string()))


def write_version_baseline(
    warehouse: Warehouse, model: ModelConfig, version: str, reference: pd.DataFrame
) -> str:
    """Build and store the baseline of a registry-created version from its holdout rows.

    ``reference`` holds the holdout rows with *this version's* predictions in
    ``prediction_label`` / ``prediction_value`` / ``score`` and the labels joined. The rows are
    marked ``origin = 'registry'``, so rebuilding the config's baselines leaves them alone;
    lookups by version (:func:`load_baseline`, :func:`baseline_for_window`) find them like any
    other. The id is content-addressed (version, rows, predictions, binning settings), so
    writing the same holdout twice replaces the same rows.

    Returns
    -------
    str
        The baseline id.
    """
    content = pd.util.hash_pandas_object(
        reference[["prediction_id", "prediction_label", "prediction_value", "score"]].astype(str),
        index=False,
    )
    digest = hashlib.sha256(content.to_numpy().tobytes()).hexdigest()[:12]
    spec = BaselineSpec(
        model_version=version,
        reference_predictions=f"registry holdout of {model.name} {version}",
        numeric_bins=model.baseline.numeric_bins,
        top_k_categories=model.baseline.top_k_categories,
    )
    baseline_id = baseline_id_for(model, spec, [digest])
    rows = baseline_rows(model, reference.assign(status="ok"), baseline_id, spec)
    marked = BaselineRows(
        baseline=rows.baseline,
        bins=_with_origin(rows.bins, REGISTRY_ORIGIN),
        columns=_with_origin(rows.columns, REGISTRY_ORIGIN),
        segments=_with_origin(rows.segments, REGISTRY_ORIGIN),
        calibration=_with_origin(rows.calibration, REGISTRY_ORIGIN),
        performance=[r | {"origin": REGISTRY_ORIGIN} for r in rows.performance],
    )
    where = "model_name = :model_name AND baseline_id = :baseline_id"
    params = {"model_name": model.name, "baseline_id": baseline_id}
    warehouse.replace_many(marked.replacements(where, params))
    return baseline_id
