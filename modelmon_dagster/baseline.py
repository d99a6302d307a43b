"""Baselines: bin edges, categories and centres fixed from a model version's reference data.

No Dagster here. The hourly aggregates bin every monitored column on these edges, so histograms
from different hours and days add up and compare directly with the reference.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.monitored import MonitoredColumn, monitored_columns
from modelmon_dagster.stats.binning import bin_index, quantile_bin_edges, top_k_categories
from modelmon_dagster.warehouse import TableSchema, Warehouse

BASELINE_BINS = TableSchema(
    "baseline_bins",
    (
        ("model_name", "VARCHAR"),
        ("baseline_id", "VARCHAR"),
        ("column_name", "VARCHAR"),
        ("column_role", "VARCHAR"),
        ("bin_index", "INTEGER"),
        ("lower_edge", "DOUBLE PRECISION"),
        ("upper_edge", "DOUBLE PRECISION"),
        ("category", "VARCHAR"),
        ("reference_count", "BIGINT"),
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
    ),
)
OTHER_CATEGORY = "__other__"


@dataclass(frozen=True)
class ColumnBins:
    """How one monitored column is binned."""

    column: MonitoredColumn
    edges: tuple[float, ...] = ()  # numeric: interior edges
    categories: tuple[str, ...] = ()  # categorical: top-k; bin len(categories) is "other"
    center: float = 0.0  # numeric: baseline mean, the shift for mergeable sums

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


def build_baseline(model: ModelConfig, reference: pd.DataFrame, baseline_id: str) -> Baseline:
    """Fix bins from reference predictions (rows as in the raw predictions table).

    Only ``ok`` records count: errors carry no prediction and would skew the reference.
    """
    ok = reference[reference["status"] == "ok"]
    if ok.empty:
        raise ValueError(f"{model.name}: the reference data has no ok predictions")
    columns = []
    for col in monitored_columns(model):
        values = ok[col.sql_column]
        if col.is_numeric:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            edges = quantile_bin_edges(numbers, model.baseline.numeric_bins)
            columns.append(
                ColumnBins(
                    col, edges=tuple(float(e) for e in edges), center=float(np.nanmean(numbers))
                )
            )
        else:
            cats = top_k_categories(values.dropna().tolist(), model.baseline.top_k_categories)
            columns.append(ColumnBins(col, categories=tuple(cats)))
    return Baseline(model.name, baseline_id, model.baseline.model_version, tuple(columns))


def baseline_tables(baseline: Baseline, reference: pd.DataFrame) -> tuple[pa.Table, pa.Table]:
    """Rows of ``baseline_bins`` and ``baseline_columns`` for a baseline and its reference."""
    ok = reference[reference["status"] == "ok"]
    bin_rows, column_rows = [], []
    for cb in baseline.columns:
        col = cb.column
        values = ok[col.sql_column]
        common = {"model_name": baseline.model_name, "baseline_id": baseline.baseline_id}
        if col.is_numeric:
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            present = x[~np.isnan(x)]
            counts = np.bincount(bin_index(present, np.array(cb.edges)), minlength=cb.n_bins)
            lowers = (-np.inf, *cb.edges)
            uppers = (*cb.edges, np.inf)
            for i in range(cb.n_bins):
                bin_rows.append(
                    common
                    | {
                        "column_name": col.name,
                        "column_role": col.role,
                        "bin_index": i,
                        "lower_edge": lowers[i],
                        "upper_edge": uppers[i],
                        "category": None,
                        "reference_count": int(counts[i]),
                    }
                )
            stats = {
                "mean": float(present.mean()) if present.size else None,
                "std": float(present.std(ddof=1)) if present.size > 1 else None,
                "min_value": float(present.min()) if present.size else None,
                "max_value": float(present.max()) if present.size else None,
            }
            n = int(present.size)
        else:
            as_text = values.dropna().astype(str)
            index = {c: i for i, c in enumerate(cb.categories)}
            counts = np.bincount(
                [index.get(v, len(cb.categories)) for v in as_text], minlength=cb.n_bins
            )
            for i in range(cb.n_bins):
                category = cb.categories[i] if i < len(cb.categories) else OTHER_CATEGORY
                bin_rows.append(
                    common
                    | {
                        "column_name": col.name,
                        "column_role": col.role,
                        "bin_index": i,
                        "lower_edge": None,
                        "upper_edge": None,
                        "category": category,
                        "reference_count": int(counts[i]),
                    }
                )
            stats = {"mean": None, "std": None, "min_value": None, "max_value": None}
            n = int(as_text.size)
        column_rows.append(
            common
            | {
                "model_version": baseline.model_version,
                "column_name": col.name,
                "column_role": col.role,
                "kind": col.kind.value,
                "n": n,
                "n_null": int(len(values) - n),
            }
            | stats
        )
    return _to_arrow(bin_rows, BASELINE_BINS), _to_arrow(column_rows, BASELINE_COLUMNS)


def _to_arrow(rows: list[dict], schema: TableSchema) -> pa.Table:
    frame = pd.DataFrame(rows, columns=schema.column_names)
    return pa.Table.from_pandas(frame, preserve_index=False)


def load_baseline(warehouse: Warehouse, model: ModelConfig) -> Baseline:
    """Read the model's current baseline back from the warehouse.

    Raises
    ------
    BaselineMissingError
        When the baseline asset has not been materialised for this model.
    """
    if not warehouse.table_exists(BASELINE_BINS.name):
        raise BaselineMissingError(
            f"{model.name}: no baseline yet; materialise the {model.name}/baseline asset first"
        )
    bins = warehouse.query_df(
        "SELECT baseline_id, column_name, bin_index, lower_edge, category "
        "FROM baseline_bins WHERE model_name = :m ORDER BY column_name, bin_index",
        {"m": model.name},
    )
    if bins.empty:
        raise BaselineMissingError(
            f"{model.name}: no baseline yet; materialise the {model.name}/baseline asset first"
        )
    meta = warehouse.query_df(
        "SELECT column_name, model_version, mean FROM baseline_columns WHERE model_name = :m",
        {"m": model.name},
    ).set_index("column_name")
    baseline_id = str(bins["baseline_id"].iloc[0])
    columns = []
    for col in monitored_columns(model):
        rows = bins[bins["column_name"] == col.name]
        if rows.empty:
            raise BaselineMissingError(
                f"{model.name}: the baseline has no bins for {col.name!r}; rebuild the baseline"
            )
        if col.is_numeric:
            edges = tuple(float(e) for e in rows["lower_edge"].iloc[1:])
            center = float(meta.loc[col.name, "mean"])
            columns.append(ColumnBins(col, edges=edges, center=center))
        else:
            cats = tuple(str(c) for c in rows["category"] if c != OTHER_CATEGORY)
            columns.append(ColumnBins(col, categories=cats))
    version = str(meta["model_version"].iloc[0])
    return Baseline(model.name, baseline_id, version, tuple(columns))
