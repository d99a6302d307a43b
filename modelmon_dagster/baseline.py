"""Baselines: bin edges, categories and centres fixed from a model version's reference data.

No Dagster here. The hourly aggregates bin every monitored column on these edges, so histograms
from different hours and days add up and compare directly with the reference.
"""

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from modelmon_dagster.config import Baseline as BaselineSpec
from modelmon_dagster.config import FeatureType, ModelConfig
from modelmon_dagster.ingest.tables import raw_predictions_table
from modelmon_dagster.monitored import MonitoredColumn, monitored_columns
from modelmon_dagster.stats.binning import (
    bin_index,
    distinct_value_edges,
    quantile_bin_edges,
    top_k_categories,
)
from modelmon_dagster.stats.cbpe import (
    DEFAULT_THRESHOLD,
    derive_threshold,
    expected_roc_auc,
    predicted_positive_bins,
)
from modelmon_dagster.stats.drift import column_drift
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
        # numeric: sum of (x - the baseline mean) over the bin's values (mergeable; with the
        # current window's bin sums it fixes each bin's part of W1 exactly)
        ("reference_sum_shifted", "DOUBLE PRECISION"),
        # NULL: built by the baseline asset from the config; "registry": from a holdout
        ("origin", "VARCHAR"),
    ),
)
# Per column, the reference's own variation between its days (see stats.drift.
# adaptive_effect_floor): effect of each day against the rest, and of random chunks of the same
# sizes (sampling noise alone), for the distribution's effect size and for the null rate.
# Column -> EffectFloorStats attribute.
FLOOR_FIELDS = {
    "floor_chunks": "chunks",
    "floor_chunk_rows": "chunk_rows",
    "floor_rest_rows": "rest_rows",
    "chunk_effect_mean": "chunk_mean",
    "chunk_effect_std": "chunk_std",
    "noise_effect_mean": "noise_mean",
    "noise_effect_std": "noise_std",
}
NULL_FLOOR_FIELDS = {f"null_{col}": attr for col, attr in FLOOR_FIELDS.items()}
FLOOR_COLUMNS = tuple(
    (col, "INTEGER" if attr == "chunks" else "DOUBLE PRECISION")
    for col, attr in (*FLOOR_FIELDS.items(), *NULL_FLOOR_FIELDS.items())
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
        # quantile (quantile edges, open tails), distinct (numeric with at most numeric_bins
        # distinct values: one bin per value) or categories (top-k plus other)
        ("binning", "VARCHAR"),
        *FLOOR_COLUMNS,
        ("origin", "VARCHAR"),
    ),
)
BASELINE_NULLS = TableSchema(
    "baseline_nulls",
    (
        ("model_name", "VARCHAR"),
        ("baseline_id", "VARCHAR"),
        ("column_name", "VARCHAR"),
        ("column_role", "VARCHAR"),
        ("hour_of_day", "INTEGER"),  # NULL: the whole reference; 0-23: that hour of day only
        ("n_rows", "BIGINT"),  # ok reference predictions
        ("n_null", "BIGINT"),
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
        ("reference_sum_shifted", "DOUBLE PRECISION"),  # numeric: as in baseline_bins
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
QUANTILE, DISTINCT, CATEGORIES = "quantile", "distinct", "categories"
# Part of every baseline id: bump it when the way bins are fixed changes, so an id never changes
# meaning (2: numeric columns with few distinct values get one bin per value, and values that
# hold a bin's worth of the reference get a bin of their own).
BINNING_VERSION = "2"
# Adaptive effect floors: the reference is cut into calendar days; days with fewer than this
# share of the median day's rows (a partial first or last day) are left out, and at least
# MIN_FLOOR_CHUNKS days must remain. NOISE_DRAWS random splits measure pure sampling noise.
MIN_FLOOR_CHUNKS = 3
MIN_CHUNK_SHARE = 0.5
NOISE_DRAWS = 4


@dataclass(frozen=True)
class EffectFloorStats:
    """A column's reference variation between days, against pure sampling noise.

    ``chunk_*``: effect of each reference day against the rest of the reference; ``noise_*``:
    the same for random chunks of the same sizes. See ``stats.drift.adaptive_effect_floor``.
    """

    chunks: int
    chunk_rows: float
    rest_rows: float
    chunk_mean: float
    chunk_std: float
    noise_mean: float
    noise_std: float


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
    discrete: bool = False  # numeric: one bin per reference value (few distinct values)
    floor: EffectFloorStats | None = None  # distribution effect between reference days
    null_floor: EffectFloorStats | None = None  # null-rate difference between reference days

    @property
    def binning(self) -> str:
        """``quantile``, ``distinct`` or ``categories``."""
        if not self.column.is_numeric:
            return CATEGORIES
        return DISTINCT if self.discrete else QUANTILE

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
        # Few distinct values (counts, flags, integer codes): one bin per value, so W1 and KS
        # see each value's mass where it is instead of smeared over a quantile bin.
        edges = distinct_value_edges(numbers, spec.numeric_bins)
        discrete = edges is not None
        if edges is None:
            edges = quantile_bin_edges(numbers, spec.numeric_bins, isolate_atoms=True)
        return ColumnBins(
            col,
            discrete=discrete,
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
    chunks = _day_chunks(ok["ts"]) if "ts" in ok.columns else None
    if chunks is not None:
        rng = np.random.default_rng(int(hashlib.sha256(baseline_id.encode()).hexdigest()[:8], 16))
        columns = [
            replace(
                cb,
                floor=_effect_floor(cb, ok[cb.column.sql_column], chunks, rng),
                null_floor=_null_floor(ok[cb.column.sql_column], chunks, rng),
            )
            for cb in columns
        ]
    label = label_column(model)
    if label.sql_column in ok.columns and ok[label.sql_column].notna().any():
        columns.append(_column_bins(label, ok[label.sql_column], spec))
    return Baseline(model.name, baseline_id, spec.model_version, tuple(columns))


def _day_chunks(ts: pd.Series) -> np.ndarray | None:
    """Calendar day of each reference row as a chunk number (-1: a partial day left out).

    None when fewer than ``MIN_FLOOR_CHUNKS`` days have at least ``MIN_CHUNK_SHARE`` of the
    median day's rows: the reference says nothing about its variation between days.
    """
    codes, _ = pd.factorize(pd.to_datetime(ts).dt.floor("D"))
    if codes.size == 0 or codes.min() < 0:
        return None
    sizes = np.bincount(codes)
    keep = sizes >= MIN_CHUNK_SHARE * np.median(sizes)
    if keep.sum() < MIN_FLOOR_CHUNKS:
        return None
    renumber = np.where(keep, np.cumsum(keep) - 1, -1)
    return renumber[codes]


def _floor_stats(chunk_effects, noise_effects, chunk_rows, rest_rows) -> EffectFloorStats | None:
    a, b = np.asarray(chunk_effects, dtype=float), np.asarray(noise_effects, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < MIN_FLOOR_CHUNKS or b.size < MIN_FLOOR_CHUNKS:
        return None
    return EffectFloorStats(
        chunks=int(a.size),
        chunk_rows=float(chunk_rows),
        rest_rows=float(rest_rows),
        chunk_mean=float(a.mean()),
        chunk_std=float(a.std(ddof=1)),
        noise_mean=float(b.mean()),
        noise_std=float(b.std(ddof=1)),
    )


def _random_chunks(rng: np.random.Generator, sizes: np.ndarray, n: int) -> np.ndarray:
    """Chunk labels of ``n`` rows for random chunks of ``sizes`` rows (-1: in no chunk)."""
    labels = np.full(n, -1)
    labels[rng.permutation(n)[: sizes.sum()]] = np.repeat(np.arange(sizes.size), sizes)
    return labels


def _effect_floor(
    cb: ColumnBins, values: pd.Series, chunks: np.ndarray, rng: np.random.Generator
) -> EffectFloorStats | None:
    """Effect size of each reference day against the rest, and of random chunks (noise)."""
    bins, present = _bin_indices(cb, values)
    if bins.size == 0:
        return None
    day = chunks[present]
    kept = day >= 0
    sizes = np.bincount(day[kept], minlength=int(chunks.max()) + 1)
    if np.count_nonzero(sizes) < MIN_FLOOR_CHUNKS:
        return None
    n_bins = cb.n_bins
    if cb.column.is_numeric:
        shifted = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)[present] - cb.center
    else:
        shifted = np.zeros(bins.size)

    def histograms(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = sizes.size
        idx = np.where(labels >= 0, labels, k) * n_bins + bins
        counts = np.bincount(idx, minlength=(k + 1) * n_bins).reshape(k + 1, n_bins)
        sums = np.bincount(idx, weights=shifted, minlength=(k + 1) * n_bins)
        return counts, sums.reshape(k + 1, n_bins)

    def effects(labels: np.ndarray) -> list[float]:
        counts, sums = histograms(labels)
        total_c, total_s = counts.sum(axis=0), sums.sum(axis=0)
        out = []
        for c, sm in zip(counts[:-1], sums[:-1], strict=True):
            rest_c, rest_s = total_c - c, total_s - sm
            if c.sum() == 0 or rest_c.sum() == 0:
                continue
            if cb.column.is_numeric:
                with np.errstate(invalid="ignore", divide="ignore"):
                    result = column_drift(
                        cb.column.kind.value,
                        rest_c,
                        c,
                        edges=cb.edges,
                        low=cb.low,
                        high=cb.high,
                        scale=cb.std or 1.0,
                        ref_means=cb.center + rest_s / rest_c,
                        cur_means=cb.center + sm / c,
                        point_masses=cb.discrete,
                    )
            else:
                result = column_drift(cb.column.kind.value, rest_c, c)
            out.append(result.effect_size)
        return out

    chunk_effects = effects(day)
    noise = [e for _ in range(NOISE_DRAWS) for e in effects(_random_chunks(rng, sizes, day.size))]
    chunk_rows = float(sizes[sizes > 0].mean())
    return _floor_stats(chunk_effects, noise, chunk_rows, bins.size - chunk_rows)


def _null_floor(
    values: pd.Series, chunks: np.ndarray, rng: np.random.Generator
) -> EffectFloorStats | None:
    """Null-rate difference of each reference day against the rest, and of random chunks."""
    null = values.isna().to_numpy()
    kept = chunks >= 0
    sizes = np.bincount(chunks[kept])
    if np.count_nonzero(sizes) < MIN_FLOOR_CHUNKS:
        return None
    total_rows, total_null = null.size, int(null.sum())

    def effects(labels: np.ndarray) -> list[float]:
        mask = labels >= 0
        rows = np.bincount(labels[mask], minlength=sizes.size)
        nulls = np.bincount(labels[mask], weights=null[mask], minlength=sizes.size)
        ok = (rows > 0) & (rows < total_rows)
        rate = nulls[ok] / rows[ok]
        rest = (total_null - nulls[ok]) / (total_rows - rows[ok])
        return list(np.abs(rate - rest))

    noise = [e for _ in range(NOISE_DRAWS) for e in effects(_random_chunks(rng, sizes, null.size))]
    chunk_rows = float(sizes[sizes > 0].mean())
    return _floor_stats(effects(chunks), noise, chunk_rows, total_rows - chunk_rows)


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


def _bin_rows(
    cb: ColumnBins, counts: np.ndarray, sums: np.ndarray | None, hours: np.ndarray
) -> pd.DataFrame:
    """One row per (hour of day or None, bin) with its reference count (and sum, numeric)."""
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
            "reference_sum_shifted": (
                np.full(counts.size, np.nan) if sums is None else sums.reshape(-1)
            ),
        }
    )


def _floor_row(stats: EffectFloorStats | None, names: dict[str, str]) -> dict:
    return {col: None if stats is None else getattr(stats, attr) for col, attr in names.items()}


def baseline_tables(baseline: Baseline, reference: pd.DataFrame) -> tuple[pa.Table, pa.Table]:
    """Rows of ``baseline_bins`` and ``baseline_columns`` for a baseline and its reference.

    ``baseline_bins`` holds, per column and bin, the reference count (and, for numeric columns,
    the sum of ``x - mean``) over the whole reference (``hour_of_day`` NULL) and for each hour
    of day 0-23: hourly drift compares an hour with the reference rows of the same hour of day,
    so daily cycles are not mistaken for drift. ``baseline_columns`` holds each column's
    moments, null count, binning and variation between reference days (adaptive floors).
    """
    ok = reference[reference["status"] == "ok"]
    hour_of_day = pd.to_datetime(ok["ts"]).dt.hour.to_numpy()
    frames, column_rows = [], []
    for cb in baseline.columns:
        col = cb.column
        values = ok[col.sql_column]
        bins, present = _bin_indices(cb, values)
        cells = hour_of_day[present] * cb.n_bins + bins
        by_hour = np.bincount(cells, minlength=24 * cb.n_bins).reshape(24, cb.n_bins)
        counts = np.vstack([by_hour.sum(axis=0, keepdims=True), by_hour])
        sums = None
        if col.is_numeric:
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)[present]
            hour_sums = np.bincount(cells, weights=x - cb.center, minlength=24 * cb.n_bins)
            hour_sums = hour_sums.reshape(24, cb.n_bins)
            sums = np.vstack([hour_sums.sum(axis=0, keepdims=True), hour_sums])
        hours = np.array([None, *range(24)], dtype=object)
        frames.append(_bin_rows(cb, counts, sums, hours))
        if col.is_numeric:
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
                "binning": cb.binning,
            }
            | stats
            | _floor_row(cb.floor, FLOOR_FIELDS)
            | _floor_row(cb.null_floor, NULL_FLOOR_FIELDS)
        )
    bins = pd.concat(frames, ignore_index=True)
    bins.insert(0, "model_name", baseline.model_name)
    bins.insert(1, "baseline_id", baseline.baseline_id)
    bins["hour_of_day"] = bins["hour_of_day"].astype("Int64")
    return _to_arrow(bins, BASELINE_BINS), _to_arrow(column_rows, BASELINE_COLUMNS)


def null_reference_table(baseline: Baseline, reference: pd.DataFrame) -> pa.Table:
    """Rows of ``baseline_nulls``: per column, ok reference rows and nulls, overall and by hour.

    Null rates are compared like distributions: an hour with the same hour of day of the
    reference, a day with the whole reference. Labels are not included (a missing label is not
    a missing value).
    """
    ok = reference[reference["status"] == "ok"]
    hour_of_day = pd.to_datetime(ok["ts"]).dt.hour.to_numpy()
    rows_by_hour = np.bincount(hour_of_day, minlength=24)
    frames = []
    for cb in baseline.columns:
        if cb.column.role == "label":
            continue
        null = ok[cb.column.sql_column].isna().to_numpy()
        null_by_hour = np.bincount(hour_of_day, weights=null, minlength=24).astype(np.int64)
        frames.append(
            pd.DataFrame(
                {
                    "column_name": cb.column.name,
                    "column_role": cb.column.role,
                    "hour_of_day": pd.array([None, *range(24)], dtype="Int64"),
                    "n_rows": [int(rows_by_hour.sum()), *rows_by_hour.tolist()],
                    "n_null": [int(null_by_hour.sum()), *null_by_hour.tolist()],
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "model_name", baseline.model_name)
    frame.insert(1, "baseline_id", baseline.baseline_id)
    return _to_arrow(frame, BASELINE_NULLS)


def _shifted(cb: ColumnBins, ok: pd.DataFrame) -> np.ndarray | None:
    """``x - mean`` of a numeric column's non-null values (None for categorical columns)."""
    if not cb.column.is_numeric:
        return None
    x = pd.to_numeric(ok[cb.column.sql_column], errors="coerce").to_numpy(dtype=float)
    return x[~np.isnan(x)] - cb.center


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
        binned = [
            (cb, *_bin_indices(cb, ok[cb.column.sql_column]), _shifted(cb, ok))
            for cb in baseline.columns
        ]
        for value in seg_bins.categories:
            in_segment = (seg_values == value).fillna(False).to_numpy()
            for cb, bins, present, shifted in binned:
                if cb.column.name == segment:
                    continue
                mask = in_segment[present]
                counts = np.bincount(bins[mask], minlength=cb.n_bins)
                sums = (
                    np.bincount(bins[mask], weights=shifted[mask], minlength=cb.n_bins)
                    if shifted is not None
                    else np.full(cb.n_bins, np.nan)
                )
                frames.append(
                    pd.DataFrame(
                        {
                            "segment_column": segment,
                            "segment_value": value,
                            "column_name": cb.column.name,
                            "bin_index": np.arange(cb.n_bins),
                            "reference_count": counts.astype(np.int64),
                            "reference_sum_shifted": sums,
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
        f"binning-v{BINNING_VERSION}",
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
    # SELECT *: a baseline written before a column was added to the table reads as NULL there.
    meta = warehouse.query_df(
        f"SELECT * FROM baseline_columns WHERE model_name = :m AND {where}",
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
        s = stats.loc[col.name] if col.name in stats.index else pd.Series(dtype=object)
        floors = {
            "floor": _floor_stats_from(s, FLOOR_FIELDS),
            "null_floor": _floor_stats_from(s, NULL_FLOOR_FIELDS),
        }
        if col.is_numeric:
            edges = tuple(float(e) for e in rows["lower_edge"].iloc[1:])
            columns.append(
                ColumnBins(
                    col,
                    edges=edges,
                    center=float(s["mean"]),
                    std=float(s["std"]),
                    low=float(s["min_value"]),
                    high=float(s["max_value"]),
                    discrete=s.get("binning") == DISTINCT,
                    **floors,
                )
            )
        else:
            cats = tuple(str(c) for c in rows["category"] if c != OTHER_CATEGORY)
            other = rows.loc[rows["category"] == OTHER_CATEGORY, "reference_count"]
            complete = bool(other.empty or int(other.iloc[0]) == 0)
            columns.append(ColumnBins(col, categories=cats, categories_complete=complete, **floors))
    return Baseline(model.name, baseline_id, version, tuple(columns))


def _floor_stats_from(row: pd.Series, names: dict[str, str]) -> EffectFloorStats | None:
    values = {attr: row.get(col) for col, attr in names.items()}
    if any(v is None or pd.isna(v) for v in values.values()):
        return None
    return EffectFloorStats(**{k: int(v) if k == "chunks" else float(v) for k, v in values.items()})


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
    ``reference_count``, ``reference_sum_shifted`` (NaN for categorical columns and for
    baselines written before bin sums were stored).
    """
    return warehouse.query_df(
        "SELECT * FROM baseline_bins WHERE model_name = :m AND baseline_id = :b "
        "AND (hour_of_day IS NULL OR hour_of_day = :h)",
        {"m": model_name, "b": baseline_id, "h": -1 if hour_of_day is None else hour_of_day},
    ).reindex(
        columns=[
            "hour_of_day",
            "column_name",
            "bin_index",
            "reference_count",
            "reference_sum_shifted",
        ]
    )


def reference_nulls(
    warehouse: Warehouse, model_name: str, baseline_id: str, hour_of_day: int | None = None
) -> pd.DataFrame:
    """Reference rows and nulls per column: whole reference and, if given, one hour of day.

    Columns: ``hour_of_day`` (NA for the whole reference), ``column_name``, ``n_rows``,
    ``n_null``. Baselines written before ``baseline_nulls`` existed give the whole reference's
    counts from ``baseline_columns``.
    """
    params = {"m": model_name, "b": baseline_id, "h": -1 if hour_of_day is None else hour_of_day}
    if warehouse.table_exists(BASELINE_NULLS.name):
        frame = warehouse.query_df(
            "SELECT hour_of_day, column_name, n_rows, n_null FROM baseline_nulls "
            "WHERE model_name = :m AND baseline_id = :b "
            "AND (hour_of_day IS NULL OR hour_of_day = :h)",
            params,
        )
        if not frame.empty:
            return frame
    if not warehouse.table_exists(BASELINE_COLUMNS.name):
        return pd.DataFrame(columns=["hour_of_day", "column_name", "n_rows", "n_null"])
    return warehouse.query_df(
        "SELECT CAST(NULL AS INTEGER) AS hour_of_day, column_name, n + n_null AS n_rows, n_null "
        "FROM baseline_columns WHERE model_name = :m AND baseline_id = :b "
        "AND column_role <> 'label'",
        params,
    )


def reference_threshold(model: ModelConfig, frame: pd.DataFrame) -> float:
    """A binary model's decision threshold, as the pre-label estimate applies it.

    The config's ``decision_threshold``; else the one the reference's logged predictions and
    scores follow (:func:`derive_threshold`); else 0.5.
    """
    if model.decision_threshold is not None:
        return model.decision_threshold
    ok = frame[(frame["status"] == "ok") & frame["score"].notna()]
    derived = derive_threshold(
        ok["score"].to_numpy(dtype=float), (ok["prediction_label"] == model.positive_class)
    )
    return DEFAULT_THRESHOLD if derived is None else derived


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
        if seg_col == "__all__" and binary:
            threshold = reference_threshold(model, frame)
            values["decision_threshold"] = threshold
        if seg_col == "__all__" and binary and calibration.num_rows:
            cal = calibration.to_pandas().set_index("score_bin")["calibrated_p"]
            cal = cal.reindex(range(SCORE_BINS)).to_numpy()
            bins = np.minimum((frame["score"].dropna() * SCORE_BINS).astype(int), SCORE_BINS - 1)
            counts = bins.value_counts().reindex(range(SCORE_BINS), fill_value=0)
            estimate = expected_confusion(counts, cal, predicted_positive_bins(threshold))
            values |= {f"estimated_{k}": v for k, v in estimate.items()}
            values["estimated_roc_auc"] = expected_roc_auc(counts, cal)
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
    """Everything one model version's baseline writes: the six tables' rows."""

    baseline: Baseline
    bins: pa.Table
    columns: pa.Table
    segments: pa.Table
    calibration: pa.Table
    performance: list[dict]
    nulls: pa.Table

    def replacements(self, where: str, params: dict) -> list[Replacement]:
        """One replacement per table, all selecting ``where``."""
        perf = _to_arrow(self.performance, BASELINE_PERFORMANCE)
        return [
            Replacement(BASELINE_BINS, where, params, rows=self.bins),
            Replacement(BASELINE_COLUMNS, where, params, rows=self.columns),
            Replacement(BASELINE_PERFORMANCE, where, params, rows=perf),
            Replacement(BASELINE_SEGMENT_BINS, where, params, rows=self.segments),
            Replacement(BASELINE_CALIBRATION, where, params, rows=self.calibration),
            Replacement(BASELINE_NULLS, where, params, rows=self.nulls),
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
        nulls=null_reference_table(fixed, frame),
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
        nulls=_with_origin(rows.nulls, REGISTRY_ORIGIN),
    )
    where = "model_name = :model_name AND baseline_id = :baseline_id"
    params = {"model_name": model.name, "baseline_id": baseline_id}
    warehouse.replace_many(marked.replacements(where, params))
    return baseline_id
