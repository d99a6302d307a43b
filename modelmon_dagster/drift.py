"""Drift of every monitored column from stored histograms (no raw rescan; no Dagster).

For each period (hour or day) and baseline, each column's current histogram is compared with
the reference counts on the same bins (``stats.drift.column_drift``). Benjamini-Hochberg
controls the false discovery rate across all of a model's columns in the period; a column is
*drifted* only when it is significant after that control **and** its effect size reaches
``drift_effect_warn`` (``drift_effect_error`` makes it an ERROR). Effect sizes: W1 / baseline
std for numeric columns, Cramér's V for categorical ones. A column with no current values is
reported as such, never as "no drift".

Hourly periods are compared with the reference rows of the same hour of day (traffic has daily
cycles: night-time temperatures or fraud rates are not drift); days with the whole reference.
Each hour is tested at ``fdr_alpha / 24`` so that the 24 hourly checks of a day together spend
the same false-alarm budget as the daily one.
"""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow as pa

from modelmon_dagster.baseline import Baseline, load_baseline_by_id, reference_histogram
from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.stats.drift import column_drift, flag_drift
from modelmon_dagster.warehouse import TableSchema, Warehouse

TIME_COLUMN = {"hourly": "hour_start", "daily": "day_start"}
FEATURE_ROLES = ("feature",)
OUTPUT_ROLES = ("prediction", "score")
LABEL_ROLES = ("label",)
NO_DATA = "NO_DATA"
# An hour is compared with the reference rows of the same hour of day when there are at least
# this many of them for the column; otherwise with the whole reference (and the row says so).
MIN_HOUR_OF_DAY_REFERENCE = 200
# Hourly checks run 24 times a day: each hour gets 1/24 of the false-alarm budget (Bonferroni
# across hours, Benjamini-Hochberg across columns within the hour), so a model raises a false
# hourly drift alarm on at most about `fdr_alpha` of clean days.
PERIODS_PER_DAY = {"hourly": 24, "daily": 1}


def drift_table(grain: str) -> TableSchema:
    """``hourly_column_drift`` / ``daily_column_drift``: one row per model, period and column."""
    return TableSchema(
        f"{grain}_column_drift",
        (
            ("model_name", "VARCHAR"),
            (TIME_COLUMN[grain], "TIMESTAMP"),
            ("baseline_id", "VARCHAR"),
            ("column_name", "VARCHAR"),
            ("column_role", "VARCHAR"),
            ("kind", "VARCHAR"),
            ("n_ref", "BIGINT"),
            ("n_cur", "BIGINT"),
            ("p_value", "DOUBLE PRECISION"),
            ("adjusted_p", "DOUBLE PRECISION"),
            ("effect_size", "DOUBLE PRECISION"),
            ("effect_measure", "VARCHAR"),
            ("psi", "DOUBLE PRECISION"),
            ("js_distance", "DOUBLE PRECISION"),
            ("ks_statistic", "DOUBLE PRECISION"),
            ("max_binning_error", "DOUBLE PRECISION"),
            ("reference_scope", "VARCHAR"),
            ("drifted", "BOOLEAN"),
            ("severity", "VARCHAR"),
        ),
    )


def _histograms(warehouse: Warehouse, model: ModelConfig, grain: str, start, end) -> pd.DataFrame:
    time_col = TIME_COLUMN[grain]
    params = {"m": model.name, "s": start, "e": end}
    parts = [
        warehouse.query_df(
            f"SELECT {time_col} AS period, baseline_id, column_name, column_role, bin_index, n "
            f"FROM {grain}_feature_histograms "
            f"WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e",
            params,
        )
    ]
    if warehouse.table_exists(f"{grain}_label_histogram"):
        parts.append(
            warehouse.query_df(
                f"SELECT {time_col} AS period, baseline_id, column_name, column_role, bin_index, n "
                f"FROM {grain}_label_histogram "
                f"WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e",
                params,
            )
        )
    return (
        pd.concat([p for p in parts if not p.empty], ignore_index=True)
        if any(not p.empty for p in parts)
        else parts[0]
    )


def _ranges(warehouse: Warehouse, model: ModelConfig, grain: str, start, end) -> pd.DataFrame:
    time_col = TIME_COLUMN[grain]
    return warehouse.query_df(
        f"SELECT {time_col} AS period, column_name, min(min_value) AS low, "
        f"max(max_value) AS high FROM {grain}_feature_stats "
        f"WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e "
        f"GROUP BY {time_col}, column_name",
        {"m": model.name, "s": start, "e": end},
    )


def _reference_for(reference: pd.DataFrame, hour_of_day: int | None):
    """Per column, the reference rows to compare with, and their scope."""
    whole = {c: g for c, g in reference[reference["hour_of_day"].isna()].groupby("column_name")}
    if hour_of_day is None:
        return {c: (g, "all") for c, g in whole.items()}
    same = reference[reference["hour_of_day"] == hour_of_day]
    chosen = {c: (g, "all") for c, g in whole.items()}
    for column, rows in same.groupby("column_name"):
        if rows["reference_count"].sum() >= MIN_HOUR_OF_DAY_REFERENCE:
            chosen[column] = (rows, "hour_of_day")
    return chosen


def _drift_of(cb, ref: np.ndarray, cur: np.ndarray, ranges: pd.DataFrame):
    """``column_drift`` of one column, with what numeric columns also need.

    Numeric columns pass their bin edges, the range seen on both sides (the reference's and the
    period's min and max close the open tail bins) and the baseline std as the effect scale; a
    constant reference column (std 0 or unknown) measures the effect in raw units.
    """
    if not cb.column.is_numeric:
        return column_drift(cb.column.kind.value, ref, cur)
    seen = ranges[ranges["column_name"] == cb.column.name]
    return column_drift(
        cb.column.kind.value,
        ref,
        cur,
        edges=cb.edges,
        low=min([cb.low, *seen["low"].dropna().tolist()]),
        high=max([cb.high, *seen["high"].dropna().tolist()]),
        scale=cb.std or 1.0,
    )


def _decide(results: list, rows: list[dict], t, alpha: float) -> None:
    """Mark ``rows`` (one per result) drifted and graded.

    Drifted: rejected by BH at ``alpha`` across all of them and an effect of at least
    ``drift_effect_warn`` (WARN); ERROR from ``drift_effect_error``.
    """
    if not results:
        return
    for flag in flag_drift(results, alpha=alpha, min_effect=t.drift_effect_warn):
        row = rows[flag.column]
        row["adjusted_p"], row["drifted"] = flag.adjusted_p, flag.drifted
        if flag.drifted:
            row["severity"] = "ERROR" if row["effect_size"] >= t.drift_effect_error else "WARN"


def _period_drift(
    model: ModelConfig,
    baseline: Baseline,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    ranges: pd.DataFrame,
    hour_of_day: int | None,
    alpha: float,
) -> list[dict]:
    t = model.thresholds
    rows, results, result_rows = [], [], []
    references = _reference_for(reference, hour_of_day)
    by_column = dict(tuple(current.groupby("column_name")))
    for cb in baseline.columns:
        name = cb.column.name
        base = {"column_name": name, "column_role": cb.column.role, "kind": cb.column.kind.value}
        cur_rows = by_column.get(name, current.iloc[0:0])
        ref_rows, scope = references.get(name, (None, "all"))
        base["reference_scope"] = scope
        if cb.column.role in LABEL_ROLES and cur_rows.empty:
            continue  # no labels arrived in the period: label drift is simply not measured
        cur = np.zeros(cb.n_bins)
        ref = np.zeros(cb.n_bins)
        if not cur_rows.empty:
            cur[cur_rows["bin_index"].to_numpy(dtype=int)] = cur_rows["n"].to_numpy(dtype=float)
        if ref_rows is not None:
            ref[ref_rows["bin_index"].to_numpy(dtype=int)] = ref_rows["reference_count"].to_numpy(
                dtype=float
            )
        if cur.sum() == 0 or ref.sum() == 0:
            rows.append(
                base
                | {
                    "n_ref": int(ref.sum()),
                    "n_cur": int(cur.sum()),
                    "drifted": False,
                    "severity": NO_DATA,
                }
            )
            continue
        result = _drift_of(cb, ref, cur, ranges)
        results.append(result)
        result_rows.append(
            base
            | {
                "n_ref": result.n_ref,
                "n_cur": result.n_cur,
                "p_value": result.p_value,
                "effect_size": result.effect_size,
                "effect_measure": result.effect_measure,
                "psi": result.psi,
                "js_distance": result.js_distance,
                "ks_statistic": result.ks_statistic,
                "max_binning_error": result.max_binning_error,
            }
        )
    _decide(results, result_rows, t, alpha)
    return rows + result_rows


def compute_drift(
    warehouse: Warehouse, model: ModelConfig, grain: str, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """Drift rows of every column for each period of ``grain`` in ``[start, end)``."""
    hist = _histograms(warehouse, model, grain, start, end)
    schema = drift_table(grain)
    if hist.empty:
        return pd.DataFrame(columns=schema.column_names)
    ranges = _ranges(warehouse, model, grain, start, end)
    ranges_by_period = dict(tuple(ranges.groupby("period"))) if len(ranges) else {}
    references: dict = {}  # (baseline, hour of day) -> rows: a range of days repeats them
    out = []
    for (period, baseline_id), current in hist.groupby(["period", "baseline_id"]):
        baseline = load_baseline_by_id(warehouse, model, baseline_id)
        hour_of_day = pd.Timestamp(period).hour if grain == "hourly" else None
        if (baseline_id, hour_of_day) not in references:
            references[(baseline_id, hour_of_day)] = reference_histogram(
                warehouse, model.name, baseline_id, hour_of_day
            )
        reference = references[(baseline_id, hour_of_day)]
        period_ranges = ranges_by_period.get(period, ranges.iloc[0:0])
        alpha = model.thresholds.fdr_alpha / PERIODS_PER_DAY[grain]
        for row in _period_drift(
            model, baseline, reference, current, period_ranges, hour_of_day, alpha
        ):
            out.append(
                row
                | {"model_name": model.name, TIME_COLUMN[grain]: period, "baseline_id": baseline_id}
            )
    return pd.DataFrame(out).reindex(columns=schema.column_names)


def write_drift(warehouse: Warehouse, grain: str, model: ModelConfig, start, end, frame) -> int:
    """Replace the window's drift rows of ``model``."""
    schema = drift_table(grain)
    time_col = TIME_COLUMN[grain]
    table = pa.Table.from_pandas(frame.astype({"drifted": "boolean"}), preserve_index=False)
    return warehouse.replace_rows(
        schema,
        f"model_name = :m AND {time_col} >= :s AND {time_col} < :e",
        {"m": model.name, "s": start, "e": end},
        rows=table,
    )


def _fmt(value) -> float | None:
    return (
        None
        if value is None or (isinstance(value, float) and math.isnan(value))
        else round(float(value), 6)
    )


def drift_outcome(
    frame: pd.DataFrame,
    check_name: str,
    roles: tuple[str, ...],
    blocked: dict[str, str] | None = None,
) -> CheckOutcome:
    """A check over the drift rows of some column roles (features, outputs or labels).

    Fails at ERROR when any column is drifted with an effect at or above the ERROR threshold,
    at WARN when any is drifted. With no column measured (no data, or every column blocked by
    the hour's schema check, listed in ``blocked``) it does not judge, and says why.
    """
    blocked = dict(blocked or {})
    rows = frame[frame["column_role"].isin(roles)]
    measured = rows[rows["severity"] != NO_DATA]
    no_data = sorted(rows.loc[rows["severity"] == NO_DATA, "column_name"])
    blocked_here = sorted(c for c in no_data if c in blocked or "*" in blocked)
    no_data = [c for c in no_data if c not in blocked_here]
    if measured.empty:
        why = "no data to compare with the baseline" + (
            f" ({', '.join(no_data)})" if no_data else ""
        )
        if blocked_here or ("*" in blocked and rows.empty):
            why = "columns blocked by the schema check: " + "; ".join(
                f"{c}: {r}" for c, r in sorted(blocked.items())
            )
        return CheckOutcome.not_judged(
            check_name,
            why,
            {"columns_without_data": no_data, "blocked_columns": blocked},
        )
    drifted = measured[measured["drifted"].astype(bool)].sort_values("effect_size", ascending=False)
    table = [
        {
            "column": r.column_name,
            "effect": _fmt(r.effect_size),
            "measure": r.effect_measure,
            "adjusted_p": _fmt(r.adjusted_p),
            "psi": _fmt(r.psi),
            "severity": r.severity,
        }
        for r in measured.sort_values("effect_size", ascending=False).itertuples()
    ]
    meta = {
        "columns_measured": len(measured),
        "columns_drifted": len(drifted),
        "share_drifted": round(len(drifted) / len(measured), 4),
        "max_effect_size": _fmt(measured["effect_size"].max()),
        "drifted_columns": sorted(drifted["column_name"]),
        "columns": table,
        "columns_without_data": no_data,
        "blocked_columns": {c: blocked.get(c, blocked.get("*")) for c in blocked_here},
    }
    if drifted.empty:
        return CheckOutcome(check_name, True, "WARN", "no significant drift", meta)
    severity = "ERROR" if (drifted["severity"] == "ERROR").any() else "WARN"
    top = ", ".join(
        f"{r.column_name} ({r.effect_measure} {r.effect_size:.2f})"
        for r in drifted.head(5).itertuples()
    )
    return CheckOutcome(
        check_name, False, severity, f"drift in {len(drifted)} column(s): {top}", meta
    )


# -- drift inside segments ----------------------------------------------------------------------

# Below this many rows on either side, a segment's column is not tested (too little power; it is
# counted as skipped in the metadata, never reported as "no drift").
MIN_SEGMENT_ROWS = 200


def segment_drift_table() -> TableSchema:
    """``daily_segment_drift``: one row per model, day, segment value and column."""
    return TableSchema(
        "daily_segment_drift",
        (
            ("model_name", "VARCHAR"),
            ("day_start", "TIMESTAMP"),
            ("baseline_id", "VARCHAR"),
            ("segment_column", "VARCHAR"),
            ("segment_value", "VARCHAR"),
            ("column_name", "VARCHAR"),
            ("column_role", "VARCHAR"),
            ("kind", "VARCHAR"),
            ("n_ref", "BIGINT"),
            ("n_cur", "BIGINT"),
            ("p_value", "DOUBLE PRECISION"),
            ("adjusted_p", "DOUBLE PRECISION"),
            ("effect_size", "DOUBLE PRECISION"),
            ("effect_measure", "VARCHAR"),
            ("psi", "DOUBLE PRECISION"),
            ("drifted", "BOOLEAN"),
            ("severity", "VARCHAR"),
        ),
    )


TOO_FEW_ROWS = "TOO_FEW_ROWS"


def compute_segment_drift(
    warehouse: Warehouse, model: ModelConfig, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """Daily drift of every column inside each segment value, against that segment's reference.

    One Benjamini-Hochberg family per day spans every (segment value, column) pair tested. A
    pair with fewer than ``MIN_SEGMENT_ROWS`` rows on either side (or a segment value absent
    from the reference) is not tested: its row has severity ``TOO_FEW_ROWS``.
    """
    schema = segment_drift_table()
    empty = pd.DataFrame(columns=schema.column_names)
    if not model.segments or not warehouse.table_exists("daily_segment_histograms"):
        return empty
    hist = warehouse.query_df(
        "SELECT day_start AS period, baseline_id, segment_column, segment_value, column_name, "
        "column_role, bin_index, n FROM daily_segment_histograms "
        "WHERE model_name = :m AND day_start >= :s AND day_start < :e",
        {"m": model.name, "s": start, "e": end},
    )
    if hist.empty:
        return empty
    ranges = _ranges(warehouse, model, "daily", start, end)
    t = model.thresholds
    out = []
    for (period, baseline_id), current in hist.groupby(["period", "baseline_id"]):
        baseline = load_baseline_by_id(warehouse, model, baseline_id)
        reference = warehouse.query_df(
            "SELECT segment_column, segment_value, column_name, bin_index, reference_count "
            "FROM baseline_segment_bins WHERE model_name = :m AND baseline_id = :b",
            {"m": model.name, "b": baseline_id},
        )
        ref_groups = {
            k: g for k, g in reference.groupby(["segment_column", "segment_value", "column_name"])
        }
        period_ranges = ranges[ranges["period"] == period]
        results, rows = [], []
        for (seg_col, seg_val, column), cur_rows in current.groupby(
            ["segment_column", "segment_value", "column_name"]
        ):
            cb = baseline.for_column(column)
            ref_rows = ref_groups.get((seg_col, seg_val, column))
            cur = np.zeros(cb.n_bins)
            cur[cur_rows["bin_index"].to_numpy(dtype=int)] = cur_rows["n"].to_numpy(dtype=float)
            ref = np.zeros(cb.n_bins)
            if ref_rows is not None:
                ref[ref_rows["bin_index"].to_numpy(dtype=int)] = ref_rows[
                    "reference_count"
                ].to_numpy(dtype=float)
            ident = {
                "model_name": model.name,
                "day_start": period,
                "baseline_id": baseline_id,
                "segment_column": seg_col,
                "segment_value": seg_val,
                "column_name": column,
                "column_role": cb.column.role,
                "kind": cb.column.kind.value,
            }
            if cur.sum() < MIN_SEGMENT_ROWS or ref.sum() < MIN_SEGMENT_ROWS:
                out.append(
                    ident
                    | {
                        "n_ref": int(ref.sum()),
                        "n_cur": int(cur.sum()),
                        "drifted": False,
                        "severity": TOO_FEW_ROWS,
                    }
                )
                continue
            result = _drift_of(cb, ref, cur, period_ranges)
            results.append(result)
            rows.append(
                ident
                | {
                    "n_ref": result.n_ref,
                    "n_cur": result.n_cur,
                    "p_value": result.p_value,
                    "effect_size": result.effect_size,
                    "effect_measure": result.effect_measure,
                    "psi": result.psi,
                }
            )
        _decide(results, rows, t, t.fdr_alpha)
        out += rows
    return pd.DataFrame(out).reindex(columns=schema.column_names) if out else empty


def segment_drift_outcome(rows: pd.DataFrame, model: ModelConfig) -> CheckOutcome:
    """Fails (WARN or ERROR) when some segment value drifted in some column.

    Does not judge when the model has no segments, the day has no segment data, or no
    (segment value, column) pair had enough rows on both sides.
    """
    frame = rows[rows["severity"].isna() | (rows["severity"] != TOO_FEW_ROWS)]
    skipped = len(rows) - len(frame)
    meta = {"pairs_tested": len(frame), "pairs_skipped_small": skipped}
    if frame.empty:
        if not model.segments:
            why = "no segments configured"
        elif skipped:
            why = f"no segment value had {MIN_SEGMENT_ROWS} rows on both sides ({skipped} pairs)"
        else:
            why = "no predictions in the segments this day"
        return CheckOutcome.not_judged("segment_drift", why, meta)
    drifted = frame[frame["drifted"].astype("boolean").fillna(False)].sort_values(
        "effect_size", ascending=False
    )
    segments = drifted.groupby(["segment_column", "segment_value"])["effect_size"].max()
    meta |= {
        "segment_values_drifted": len(segments),
        "worst": [
            {
                "segment": f"{r.segment_column}={r.segment_value}",
                "column": r.column_name,
                "effect": _fmt(r.effect_size),
                "measure": r.effect_measure,
                "adjusted_p": _fmt(r.adjusted_p),
            }
            for r in drifted.head(10).itertuples()
        ],
    }
    if drifted.empty:
        return CheckOutcome("segment_drift", True, "WARN", "no drift inside any segment", meta)
    severity = "ERROR" if (drifted["severity"] == "ERROR").any() else "WARN"
    top = ", ".join(
        f"{r.segment_column}={r.segment_value}: {r.column_name} ({r.effect_size:.2f})"
        for r in drifted.head(3).itertuples()
    )
    return CheckOutcome(
        "segment_drift",
        False,
        severity,
        f"drift inside {len(segments)} segment value(s): {top}",
        meta,
    )


def write_segment_drift(warehouse: Warehouse, model: ModelConfig, start, end, frame) -> int:
    """Replace the window's segment drift rows of ``model``."""
    table = pa.Table.from_pandas(
        frame.astype({"drifted": "boolean"}), preserve_index=False, schema=None
    )
    return warehouse.replace_rows(
        segment_drift_table(),
        "model_name = :m AND day_start >= :s AND day_start < :e",
        {"m": model.name, "s": start, "e": end},
        rows=table,
    )
