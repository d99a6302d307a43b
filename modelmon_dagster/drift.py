"""Drift of every monitored column from stored histograms (no raw rescan; no Dagster).

For each period (hour or day) and baseline, each column's current histogram is compared with
the reference counts on the same bins (``stats.drift.column_drift``). Benjamini-Hochberg
controls the false discovery rate across all of a model's columns in the period; a column is
*drifted* only when it is significant after that control **and** its effect size reaches the
column's floor: ``drift_effect_warn``, raised to the reference's own day-to-day variation at
the current sample size when that is larger (``adaptive_floor_sigmas``); ``drift_effect_error``
makes it an ERROR. Effect sizes: W1 / baseline std for numeric columns (exact bin sums, see
``stats.drift.wasserstein_binned``), the Jensen-Shannon distance for categorical ones. A column
with no current values is reported as such, never as "no drift".

Each row also compares the column's null rate (among ok predictions) with the reference's:
Fisher's exact test, Benjamini-Hochberg across the columns of the period, and a change of at
least ``null_rate_warn`` points (``null_rate_error``: ERROR), with the same adaptive floor. The
``null_rate`` check judges those columns of the rows.

Hourly periods are compared with the reference rows of the same hour of day (traffic has daily
cycles: night-time temperatures or fraud rates are not drift); days with the whole reference.
Each hour is tested at ``fdr_alpha / 24`` so that the 24 hourly checks of a day together spend
the same false-alarm budget as the daily one.
"""

import datetime as dt
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa

from modelmon_dagster import readable
from modelmon_dagster.baseline import (
    Baseline,
    ColumnBins,
    EffectFloorStats,
    load_baseline_by_id,
    reference_histogram,
    reference_nulls,
)
from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import ModelConfig, Thresholds
from modelmon_dagster.stats.drift import (
    adaptive_effect_floor,
    benjamini_hochberg,
    column_drift,
    flag_drift,
    null_rate_test,
)
from modelmon_dagster.warehouse import TableSchema, Warehouse

TIME_COLUMN = {"hourly": "hour_start", "daily": "day_start"}
FEATURE_ROLES = ("feature",)
OUTPUT_ROLES = ("prediction", "score")
LABEL_ROLES = ("label",)
NO_DATA = "NO_DATA"
CONFIG, ADAPTIVE = "config", "adaptive"
# An hour is compared with the reference rows of the same hour of day when there are at least
# this many of them for the column; otherwise with the whole reference (and the row says so).
MIN_HOUR_OF_DAY_REFERENCE = 200
# Hourly checks run 24 times a day: each hour gets 1/24 of the false-alarm budget (Bonferroni
# across hours, Benjamini-Hochberg across columns within the hour), so a model raises a false
# hourly drift alarm on at most about `fdr_alpha` of clean days.
PERIODS_PER_DAY = {"hourly": 24, "daily": 1}


def period_alpha(t: Thresholds, grain: str) -> float:
    """The false discovery rate one period's tests run at: ``fdr_alpha`` shared by the day."""
    return t.fdr_alpha / PERIODS_PER_DAY[grain]


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
            # bound on |exact - binned| of effect_size, and how the histograms were read
            ("effect_size_max_error", "DOUBLE PRECISION"),
            ("effect_method", "VARCHAR"),
            # the effect the column had to reach: drift_effect_warn or the adaptive floor
            ("effect_floor", "DOUBLE PRECISION"),
            ("floor_source", "VARCHAR"),
            # null rate among ok predictions against the reference's (the null_rate check)
            ("n_rows_ref", "BIGINT"),
            ("n_null_ref", "BIGINT"),
            ("n_rows_cur", "BIGINT"),
            ("n_null_cur", "BIGINT"),
            ("null_rate_ref", "DOUBLE PRECISION"),
            ("null_rate_cur", "DOUBLE PRECISION"),
            ("null_p_value", "DOUBLE PRECISION"),
            ("null_adjusted_p", "DOUBLE PRECISION"),
            ("null_effect_floor", "DOUBLE PRECISION"),
            ("null_floor_source", "VARCHAR"),
            ("null_reference_scope", "VARCHAR"),
            ("null_changed", "BOOLEAN"),
            ("null_severity", "VARCHAR"),
        ),
    )


def _columns_of(warehouse: Warehouse, table: str) -> set[str]:
    with warehouse.engine.connect() as conn:
        return set(warehouse.table_columns(conn, table))


def _histograms(warehouse: Warehouse, model: ModelConfig, grain: str, start, end) -> pd.DataFrame:
    """Current bin counts (and sums) of the period's columns and of the arrived labels.

    A missing table is no data (a fresh warehouse, or an upstream step that did not run); a
    table written before bin sums existed reads NULL sums (the effect falls back to counts).
    """
    time_col = TIME_COLUMN[grain]
    params = {"m": model.name, "s": start, "e": end}
    parts = []
    for table in (f"{grain}_feature_histograms", f"{grain}_label_histogram"):
        columns = _columns_of(warehouse, table)
        if not columns:
            continue
        sums = "sum_shifted" if "sum_shifted" in columns else "CAST(NULL AS DOUBLE PRECISION)"
        parts.append(
            warehouse.query_df(
                f"SELECT {time_col} AS period, baseline_id, column_name, column_role, "
                f"bin_index, n, {sums} AS sum_shifted FROM {table} "
                f"WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e",
                params,
            )
        )
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(
            columns=[
                "period",
                "baseline_id",
                "column_name",
                "column_role",
                "bin_index",
                "n",
                "sum_shifted",
            ]
        )
    return pd.concat(parts, ignore_index=True)


def _column_stats(warehouse: Warehouse, model: ModelConfig, grain: str, start, end) -> pd.DataFrame:
    """Per period, baseline and column: the range seen and the ok rows and nulls among them."""
    time_col = TIME_COLUMN[grain]
    table = f"{grain}_feature_stats"
    columns = _columns_of(warehouse, table)
    names = ["period", "baseline_id", "column_name", "low", "high", "n_ok", "n_null_ok"]
    if not columns:
        return pd.DataFrame(columns=names)
    ok = "sum(n_ok)" if "n_ok" in columns else "CAST(NULL AS BIGINT)"
    null_ok = "sum(n_null_ok)" if "n_null_ok" in columns else "CAST(NULL AS BIGINT)"
    return warehouse.query_df(
        f"SELECT {time_col} AS period, baseline_id, column_name, min(min_value) AS low, "
        f"max(max_value) AS high, {ok} AS n_ok, {null_ok} AS n_null_ok FROM {table} "
        f"WHERE model_name = :m AND {time_col} >= :s AND {time_col} < :e "
        f"GROUP BY {time_col}, baseline_id, column_name",
        {"m": model.name, "s": start, "e": end},
    )


# What a period's drift reads of each column, as arrays (a period has a few dozen rows per
# column: pandas' cost per access dwarfed them): histogram bins, the period's statistics, and
# the reference's bins and null counts.
HIST_FIELDS = ("bin_index", "n", "sum_shifted")
STATS_FIELDS = ("low", "high", "n_ok", "n_null_ok")
REFERENCE_FIELDS = ("bin_index", "reference_count", "reference_sum_shifted")
NULL_REFERENCE_FIELDS = ("n_rows", "n_null")


def _arrays_by(frame: pd.DataFrame, keys: list[str], fields: tuple[str, ...]) -> dict:
    """``frame``'s ``fields`` as float arrays (missing: NaN) for each value of ``keys``.

    Rows keep their order within a group. Keys are tuples when ``keys`` has several names.
    """
    if not len(frame):
        return {}
    columns = {f: frame[f].to_numpy(dtype=float, na_value=np.nan) for f in fields}
    by = keys if len(keys) > 1 else keys[0]
    return {
        key: {f: values[at] for f, values in columns.items()}
        for key, at in frame.groupby(by, sort=False).indices.items()
    }


def _nested(groups: dict) -> dict:
    """``{(a, b, column): arrays}`` as ``{(a, b): {column: arrays}}``."""
    out: dict = {}
    for (*outer, column), arrays in groups.items():
        out.setdefault(tuple(outer), {})[column] = arrays
    return out


def _reference_for(reference: pd.DataFrame, hour_of_day: int | None, count: str, fields):
    """Per column, the reference's ``fields`` (arrays) to compare with, and their scope.

    ``count`` names the field whose sum must reach ``MIN_HOUR_OF_DAY_REFERENCE`` for the
    hour-of-day slice to be used.
    """
    whole = _arrays_by(reference[reference["hour_of_day"].isna()], ["column_name"], fields)
    chosen = {c: (arrays, "all") for c, arrays in whole.items()}
    if hour_of_day is None:
        return chosen
    same = _arrays_by(reference[reference["hour_of_day"] == hour_of_day], ["column_name"], fields)
    for column, arrays in same.items():
        if np.nansum(arrays[count]) >= MIN_HOUR_OF_DAY_REFERENCE:
            chosen[column] = (arrays, "hour_of_day")
    return chosen


def _bin_means(cb: ColumnBins, counts: np.ndarray, sums: np.ndarray) -> np.ndarray | None:
    """Mean of each bin from its shifted sum; None when a non-empty bin has no sum."""
    if np.any(np.isnan(sums[counts > 0])):
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, cb.center + sums / counts, np.nan)


def _present(values) -> list[float]:
    """The values that are not missing, as floats (a Series or a float array)."""
    if isinstance(values, pd.Series):
        values = values.to_numpy(dtype=float, na_value=np.nan)
    return values[~np.isnan(values)].tolist()


def _drift_of(cb: ColumnBins, ref, cur, ranges: pd.DataFrame, ref_sums=None, cur_sums=None):
    """``column_drift`` of one column, with what numeric columns also need.

    ``ranges`` holds the column's rows of the period's statistics: its ``low`` and ``high``
    (a frame, or float arrays).

    Numeric columns pass their bin edges, the range seen on both sides (the reference's and the
    period's min and max close the open tail bins), the baseline std as the effect scale (a
    constant reference column measures the effect in raw units) and, when both sides have bin
    sums, each bin's mean: the W1 of each bin is then exact wherever the two distribution
    functions do not cross inside it (``stats.drift.wasserstein_binned``). Columns binned on
    their distinct values place each side's bin mass at its bin mean (exact for them).
    """
    if not cb.column.is_numeric:
        return column_drift(cb.column.kind.value, ref, cur)
    lows, highs = (_present(ranges[side]) for side in ("low", "high"))
    means = {}
    if ref_sums is not None and cur_sums is not None:
        ref_means, cur_means = _bin_means(cb, ref, ref_sums), _bin_means(cb, cur, cur_sums)
        if ref_means is not None and cur_means is not None:
            means = {"ref_means": ref_means, "cur_means": cur_means, "point_masses": cb.discrete}
    return column_drift(
        cb.column.kind.value,
        ref,
        cur,
        edges=cb.edges,
        low=min([cb.low, *lows]),
        high=max([cb.high, *highs]),
        scale=cb.std or 1.0,
        **means,
    )


def column_floor(
    stats: EffectFloorStats | None, configured: float, sigmas: float, n_cur: float, n_ref: float
) -> tuple[float, str]:
    """The effect a column must reach, and where it comes from (``config`` or ``adaptive``).

    ``configured`` (``drift_effect_warn`` or ``null_rate_warn``) applies to every column; the
    adaptive floor (``stats.drift.adaptive_effect_floor`` from the reference's days) raises it
    where the reference itself varies more than that at the current sample sizes. Without
    floor statistics (a reference of fewer than three days) or with ``sigmas`` 0, the
    configured floor alone.
    """
    if stats is None or not sigmas > 0:
        return configured, CONFIG
    adaptive = adaptive_effect_floor(
        stats.chunk_mean,
        stats.chunk_std,
        stats.noise_mean,
        stats.noise_std,
        stats.chunk_rows,
        stats.rest_rows,
        n_cur,
        n_ref,
        sigmas,
    )
    if math.isfinite(adaptive) and adaptive > configured:
        return adaptive, ADAPTIVE
    return configured, CONFIG


def _decide(results: list, rows: list[dict], t: Thresholds, alpha: float) -> None:
    """Mark ``rows`` (one per result) drifted and graded.

    Drifted: rejected by BH at ``alpha`` across all of them and an effect of at least the
    row's ``effect_floor`` (``drift_effect_warn`` unless set higher) (WARN); ERROR when the
    effect also reaches ``drift_effect_error``.
    """
    if not results:
        return
    floors = [r.get("effect_floor", t.drift_effect_warn) for r in rows]
    for flag in flag_drift(results, alpha=alpha, min_effect=floors):
        row = rows[flag.column]
        row["adjusted_p"], row["drifted"] = flag.adjusted_p, flag.drifted
        if flag.drifted:
            row["severity"] = "ERROR" if row["effect_size"] >= t.drift_effect_error else "WARN"


def _decide_nulls(rows: list[dict], t: Thresholds, alpha: float) -> None:
    """Mark the null-rate comparisons of ``rows``: BH across them, then effect floors.

    Changed: rejected by BH at ``alpha`` and ``|null_rate_cur - null_rate_ref|`` at least the
    row's ``null_effect_floor`` (WARN); ERROR when it also reaches ``null_rate_error``.
    """
    tested = [r for r in rows if r.get("null_p_value") is not None]
    if not tested:
        return
    fdr = benjamini_hochberg([r["null_p_value"] for r in tested], alpha)
    for row, rejected, adjusted in zip(tested, fdr.rejected, fdr.adjusted_p, strict=True):
        change = abs(row["null_rate_cur"] - row["null_rate_ref"])
        row["null_adjusted_p"] = adjusted
        row["null_changed"] = bool(rejected and change >= row["null_effect_floor"])
        if row["null_changed"]:
            row["null_severity"] = "ERROR" if change >= t.null_rate_error else "WARN"


def _null_part(
    cb: ColumnBins, ref_rows: dict | None, cur_stats: dict | None, t: Thresholds
) -> dict:
    """The null-rate columns of one drift row (labels have none); arrays as ``_arrays_by``'s."""
    n_ok = _present(cur_stats["n_ok"]) if cur_stats is not None else []
    cur_rows = int(sum(n_ok)) if n_ok else 0
    cur_null = int(np.nansum(cur_stats["n_null_ok"])) if n_ok else 0
    ref_n = int(np.nansum(ref_rows["n_rows"])) if ref_rows is not None else 0
    ref_null = int(np.nansum(ref_rows["n_null"])) if ref_rows is not None else 0
    part = {"n_rows_ref": ref_n, "n_null_ref": ref_null, "n_rows_cur": cur_rows}
    part["n_null_cur"] = cur_null
    if cur_rows == 0 or ref_n == 0:
        return part | {"null_changed": False, "null_severity": NO_DATA}
    test = null_rate_test(ref_null, ref_n, cur_null, cur_rows)
    floor, source = column_floor(
        cb.null_floor, t.null_rate_warn, t.adaptive_floor_sigmas, cur_rows, ref_n
    )
    return part | {
        "null_rate_ref": test.ref_rate,
        "null_rate_cur": test.cur_rate,
        "null_p_value": test.p_value,
        "null_effect_floor": floor,
        "null_floor_source": source,
        "null_changed": False,
    }


def _period_drift(
    model: ModelConfig,
    baseline: Baseline,
    references: dict,
    null_references: dict,
    current: dict,
    stats: dict,
    alpha: float,
) -> list[dict]:
    """Drift rows of one period.

    ``current`` and ``stats``: the period's ``HIST_FIELDS`` and ``STATS_FIELDS`` arrays per
    column; ``references`` and ``null_references`` from ``_reference_for``.
    """
    t = model.thresholds
    rows, results, result_rows = [], [], []
    for cb in baseline.columns:
        name = cb.column.name
        base = {"column_name": name, "column_role": cb.column.role, "kind": cb.column.kind.value}
        cur_rows = current.get(name)
        ref_rows, scope = references.get(name, (None, "all"))
        base["reference_scope"] = scope
        if cb.column.role in LABEL_ROLES:
            if cur_rows is None:
                continue  # no labels arrived in the period: label drift is simply not measured
        else:
            null_rows, null_scope = null_references.get(name, (None, "all"))
            base |= _null_part(cb, null_rows, stats.get(name), t)
            base["null_reference_scope"] = null_scope
        cur, cur_sums = np.zeros(cb.n_bins), np.zeros(cb.n_bins)
        ref, ref_sums = np.zeros(cb.n_bins), np.zeros(cb.n_bins)
        if cur_rows is not None:
            at = cur_rows["bin_index"].astype(int)
            cur[at] = cur_rows["n"]
            cur_sums[at] = cur_rows["sum_shifted"]
        if ref_rows is not None:
            at = ref_rows["bin_index"].astype(int)
            ref[at] = ref_rows["reference_count"]
            ref_sums[at] = ref_rows["reference_sum_shifted"]
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
        no_stats = {"low": np.array([]), "high": np.array([])}
        result = _drift_of(cb, ref, cur, stats.get(name, no_stats), ref_sums, cur_sums)
        floor, source = column_floor(
            cb.floor, t.drift_effect_warn, t.adaptive_floor_sigmas, result.n_cur, result.n_ref
        )
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
                "effect_size_max_error": result.effect_size_max_error,
                "effect_method": result.effect_method,
                "effect_floor": floor,
                "floor_source": source,
            }
        )
    _decide(results, result_rows, t, alpha)
    _decide_nulls(rows + result_rows, t, alpha)
    return rows + result_rows


def _drift_tasks(model: ModelConfig, baselines: dict, references: dict, tasks, alpha) -> list:
    """``_period_drift`` of each task (see ``compute_drift``), in order."""
    return [
        _period_drift(model, baselines[b], *references[ref], current, stats, alpha)
        for _, b, ref, current, stats in tasks
    ]


def periods_drift(
    model: ModelConfig, baselines: dict, references: dict, tasks: list, alpha: float, workers: int
) -> list:
    """The drift rows of each task; with ``workers`` > 1, shared with other processes.

    Periods are independent (each its own Benjamini-Hochberg family), so they are split in
    ``workers`` consecutive shares: this process computes the first while fresh (spawned)
    processes compute the others from the same inputs, giving the same rows.
    """
    if workers <= 1 or len(tasks) < 2:
        return _drift_tasks(model, baselines, references, tasks, alpha)
    size = -(-len(tasks) // workers)
    shares = [tasks[i : i + size] for i in range(0, len(tasks), size)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(shares) - 1, mp_context=context) as pool:
        futures = []
        for share in shares[1:]:
            used = {t[2] for t in share}
            futures.append(
                pool.submit(
                    _drift_tasks,
                    model,
                    {b: baselines[b] for b, _ in used},
                    {key: references[key] for key in used},
                    share,
                    alpha,
                )
            )
        out = _drift_tasks(model, baselines, references, shares[0], alpha)
        for future in futures:
            out += future.result()
    return out


def compute_drift(
    warehouse: Warehouse,
    model: ModelConfig,
    grain: str,
    start: dt.datetime,
    end: dt.datetime,
    workers: int = 1,
) -> pd.DataFrame:
    """Drift rows of every column for each period of ``grain`` in ``[start, end)``.

    A period with feature statistics but no histogram rows (every value null) still gets its
    rows: the distribution is ``NO_DATA`` and the null rate is judged. Missing tables are no
    data, not an error. ``workers`` processes share the periods (``periods_drift``).
    """
    schema = drift_table(grain)
    hist = _histograms(warehouse, model, grain, start, end)
    stats = _column_stats(warehouse, model, grain, start, end)
    keys = pd.concat([hist[["period", "baseline_id"]], stats[["period", "baseline_id"]]])
    keys = keys.dropna().drop_duplicates().sort_values(["period", "baseline_id"])
    key_columns = ["period", "baseline_id", "column_name"]
    hist_by_key = _nested(_arrays_by(hist, key_columns, HIST_FIELDS))
    stats_by_key = _nested(_arrays_by(stats, key_columns, STATS_FIELDS))
    # (baseline, hour of day) -> reference rows per column: a range of days repeats them
    references: dict = {}
    baselines: dict = {}
    tasks = []  # (period, baseline, reference key, current rows, current stats)
    for period, baseline_id in keys.itertuples(index=False):
        baselines[baseline_id] = load_baseline_by_id(warehouse, model, baseline_id)
        hour_of_day = pd.Timestamp(period).hour if grain == "hourly" else None
        if (baseline_id, hour_of_day) not in references:
            reference = reference_histogram(warehouse, model.name, baseline_id, hour_of_day)
            ref_nulls = reference_nulls(warehouse, model.name, baseline_id, hour_of_day)
            references[(baseline_id, hour_of_day)] = (
                _reference_for(reference, hour_of_day, "reference_count", REFERENCE_FIELDS),
                _reference_for(ref_nulls, hour_of_day, "n_rows", NULL_REFERENCE_FIELDS),
            )
        current = hist_by_key.get((period, baseline_id), {})
        period_stats = stats_by_key.get((period, baseline_id), {})
        tasks.append((period, baseline_id, (baseline_id, hour_of_day), current, period_stats))
    alpha = period_alpha(model.thresholds, grain)
    out = []
    for (period, baseline_id, *_), rows in zip(
        tasks, periods_drift(model, baselines, references, tasks, alpha, workers), strict=True
    ):
        ident = {"model_name": model.name, TIME_COLUMN[grain]: period, "baseline_id": baseline_id}
        out += [row | ident for row in rows]
    if not out:
        return pd.DataFrame(columns=schema.column_names)
    return pd.DataFrame(out).reindex(columns=schema.column_names)


def write_drift(warehouse: Warehouse, grain: str, model: ModelConfig, start, end, frame) -> int:
    """Replace the window's drift rows of ``model``."""
    schema = drift_table(grain)
    time_col = TIME_COLUMN[grain]
    table = pa.Table.from_pandas(
        frame.astype({"drifted": "boolean", "null_changed": "boolean"}), preserve_index=False
    )
    return warehouse.replace_rows(
        schema,
        f"model_name = :m AND {time_col} >= :s AND {time_col} < :e",
        {"m": model.name, "s": start, "e": end},
        rows=table,
    )


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _fmt(value) -> float | None:
    return (
        None
        if value is None or (isinstance(value, float) and math.isnan(value))
        else round(float(value), 6)
    )


def period_records(frame: pd.DataFrame | list[dict]) -> list[dict]:
    """A period's drift rows as dicts (a few dozen rows: pandas' cost per call dwarfs them).

    Values as pandas gives them (``to_dict``): Python scalars, NaN for a missing number.
    """
    if isinstance(frame, list):
        return frame
    return frame.to_dict("records") if len(frame) else []


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _largest_first(rows: list[dict], key: str) -> list[dict]:
    """``rows`` in the order of pandas' ``sort_values(key, ascending=False)``: missing last.

    The same index arithmetic as pandas' ``nargsort``, so ties come out in the same order.
    """
    values = np.array([np.nan if _missing(r[key]) else r[key] for r in rows], dtype=float)
    missing = np.isnan(values)
    present = np.arange(len(rows))[~missing][::-1]
    order = present[values[~missing][::-1].argsort(kind="quicksort")][::-1]
    return [rows[i] for i in (*order, *np.nonzero(missing)[0])]


def _max(values) -> float:
    present = [v for v in values if not _missing(v)]
    return max(present) if present else math.nan


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
    rows = [r for r in period_records(frame) if r["column_role"] in roles]
    measured = [r for r in rows if r["severity"] != NO_DATA]
    no_data = sorted(r["column_name"] for r in rows if r["severity"] == NO_DATA)
    blocked_here = sorted(c for c in no_data if c in blocked or "*" in blocked)
    no_data = [c for c in no_data if c not in blocked_here]
    if not measured:
        why = "no data to compare with the baseline" + (
            f" ({', '.join(no_data)})" if no_data else ""
        )
        if blocked_here or ("*" in blocked and not rows):
            why = "columns blocked by the schema check: " + "; ".join(
                f"{c}: {r}" for c, r in sorted(blocked.items())
            )
        return CheckOutcome.not_judged(
            check_name,
            why,
            {"columns_without_data": no_data, "blocked_columns": blocked},
        )
    by_effect = _largest_first(measured, "effect_size")
    drifted = [r for r in by_effect if bool(r["drifted"])]
    table = [
        {
            "column": r["column_name"],
            "effect": _fmt(r["effect_size"]),
            "measure": r["effect_measure"],
            "adjusted_p": _fmt(r["adjusted_p"]),
            "floor": _fmt(r.get("effect_floor")),
            "floor_source": _text(r.get("floor_source")),
            "psi": _fmt(r["psi"]),
            "severity": r["severity"],
        }
        for r in by_effect
    ]
    meta = {
        "columns_measured": len(measured),
        "columns_drifted": len(drifted),
        "share_drifted": round(len(drifted) / len(measured), 4),
        "max_effect_size": _fmt(_max(r["effect_size"] for r in measured)),
        "drifted_columns": sorted(r["column_name"] for r in drifted),
        "columns": table,
        "columns_without_data": no_data,
        "blocked_columns": {c: blocked.get(c, blocked.get("*")) for c in blocked_here},
    }
    if not drifted:
        return CheckOutcome(check_name, True, "WARN", "no significant drift", meta)
    severity = "ERROR" if any(r["severity"] == "ERROR" for r in drifted) else "WARN"
    top = ", ".join(
        f"{r['column_name']} ({readable.effect(r['effect_measure'], r['effect_size'])})"
        for r in drifted[:5]
    )
    return CheckOutcome(
        check_name, False, severity, f"drift in {len(drifted)} column(s): {top}", meta
    )


NULL_RATE_ROLES = FEATURE_ROLES + OUTPUT_ROLES


def null_rate_outcome(frame: pd.DataFrame, check_name: str = "null_rate") -> CheckOutcome:
    """The null-rate check over a period's drift rows (features, prediction and score).

    Fails at ERROR when some column's null rate changed (significant after Benjamini-Hochberg
    across the columns, and by at least its floor) by ``null_rate_error`` or more, at WARN when
    some changed by less. With no column measurable (no ok predictions, no reference rows)
    it does not judge (``passed`` None) and says why: a not-judged check is not a failure.
    """
    rows = [r for r in period_records(frame) if r["column_role"] in NULL_RATE_ROLES]
    measured = [r for r in rows if "null_severity" in r and not _missing(r["null_p_value"])]
    if not measured:
        why = "no ok predictions to compare with the reference's null rates"
        return CheckOutcome(check_name, None, "WARN", f"not judged: {why}", {"columns_measured": 0})
    measured = _largest_first(
        [
            r | {"change": change, "size": abs(change)}
            for r in measured
            for change in (r["null_rate_cur"] - r["null_rate_ref"],)
        ],
        "size",
    )
    changed = [r for r in measured if not _missing(r["null_changed"]) and bool(r["null_changed"])]
    table = [
        {
            "column": r["column_name"],
            "null_rate_ref": _fmt(r["null_rate_ref"]),
            "null_rate_cur": _fmt(r["null_rate_cur"]),
            "change": _fmt(r["change"]),
            "floor": _fmt(r["null_effect_floor"]),
            "floor_source": _text(r["null_floor_source"]),
            "adjusted_p": _fmt(r["null_adjusted_p"]),
            "rows": int(r["n_rows_cur"]),
            "reference_scope": _text(r["null_reference_scope"]),
            "severity": _text(r["null_severity"]),
        }
        for r in measured
    ]
    meta = {
        "columns_measured": len(measured),
        "columns_changed": len(changed),
        "changed_columns": sorted(r["column_name"] for r in changed),
        "max_change": _fmt(_max(r["size"] for r in measured)),
        "effect_measure": "null rate difference (current - reference, among ok predictions)",
        "columns": table,
    }
    if not changed:
        return CheckOutcome(check_name, True, "WARN", "null rates in line with the baseline", meta)
    severity = "ERROR" if any(r["null_severity"] == "ERROR" for r in changed) else "WARN"
    top = ", ".join(
        f"{r['column_name']} {r['null_rate_ref']:.1%} -> {r['null_rate_cur']:.1%}"
        for r in changed[:5]
    )
    return CheckOutcome(
        check_name, False, severity, f"null rate changed in {len(changed)} column(s): {top}", meta
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
            ("effect_method", "VARCHAR"),
        ),
    )


TOO_FEW_ROWS = "TOO_FEW_ROWS"


def _segment_reference(warehouse: Warehouse, model: ModelConfig, baseline_id: str) -> dict:
    """A baseline's segment bins, by ``(segment column, segment value, column)``."""
    reference = warehouse.query_df(
        "SELECT * FROM baseline_segment_bins WHERE model_name = :m AND baseline_id = :b",
        {"m": model.name, "b": baseline_id},
    ).reindex(
        columns=[
            "segment_column",
            "segment_value",
            "column_name",
            "bin_index",
            "reference_count",
            "reference_sum_shifted",
        ]
    )
    return {k: g for k, g in reference.groupby(["segment_column", "segment_value", "column_name"])}


def compute_segment_drift(
    warehouse: Warehouse, model: ModelConfig, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """Daily drift of every column inside each segment value, against that segment's reference.

    One Benjamini-Hochberg family per day spans every (segment value, column) pair tested. A
    pair with fewer than ``MIN_SEGMENT_ROWS`` rows on either side (or a segment value absent
    from the reference) is not tested: its row has severity ``TOO_FEW_ROWS``. Effect floors
    are the configured ones (the adaptive floors describe whole columns, not segments).
    """
    schema = segment_drift_table()
    empty = pd.DataFrame(columns=schema.column_names)
    columns = _columns_of(warehouse, "daily_segment_histograms")
    if not model.segments or not columns:
        return empty
    sums = "sum_shifted" if "sum_shifted" in columns else "CAST(NULL AS DOUBLE PRECISION)"
    hist = warehouse.query_df(
        "SELECT day_start AS period, baseline_id, segment_column, segment_value, column_name, "
        f"column_role, bin_index, n, {sums} AS sum_shifted FROM daily_segment_histograms "
        "WHERE model_name = :m AND day_start >= :s AND day_start < :e",
        {"m": model.name, "s": start, "e": end},
    )
    if hist.empty:
        return empty
    ranges = _column_stats(warehouse, model, "daily", start, end)
    t = model.thresholds
    out = []
    references: dict = {}  # baseline -> its segment bins by (segment, value, column)
    for (period, baseline_id), current in hist.groupby(["period", "baseline_id"]):
        baseline = load_baseline_by_id(warehouse, model, baseline_id)
        if baseline_id not in references:
            references[baseline_id] = _segment_reference(warehouse, model, baseline_id)
        ref_groups = references[baseline_id]
        period_ranges = ranges[ranges["period"] == period]
        ranges_by_column = dict(tuple(period_ranges.groupby("column_name")))
        results, rows = [], []
        for (seg_col, seg_val, column), cur_rows in current.groupby(
            ["segment_column", "segment_value", "column_name"]
        ):
            cb = baseline.for_column(column)
            ref_rows = ref_groups.get((seg_col, seg_val, column))
            cur, cur_sums = np.zeros(cb.n_bins), np.zeros(cb.n_bins)
            at = cur_rows["bin_index"].to_numpy(dtype=int)
            cur[at] = cur_rows["n"].to_numpy(dtype=float)
            cur_sums[at] = cur_rows["sum_shifted"].to_numpy(dtype=float)
            ref, ref_sums = np.zeros(cb.n_bins), np.zeros(cb.n_bins)
            if ref_rows is not None:
                at = ref_rows["bin_index"].to_numpy(dtype=int)
                ref[at] = ref_rows["reference_count"].to_numpy(dtype=float)
                ref_sums[at] = ref_rows["reference_sum_shifted"].to_numpy(dtype=float)
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
            seen = ranges_by_column.get(column, period_ranges.iloc[0:0])
            result = _drift_of(cb, ref, cur, seen, ref_sums, cur_sums)
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
                    "effect_method": result.effect_method,
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
        f"{r.segment_column}={r.segment_value}: {r.column_name} "
        f"({readable.effect(r.effect_measure, r.effect_size)})"
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
