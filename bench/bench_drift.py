"""Benchmark: drift detection on the reference case of the design notes and on every kind of
change of issue 11, each a 1M-row day against a 100k-row reference (7 days).

Usage: ``python bench/bench_drift.py [--engines duckdb,postgres] [--cases reference,kinds]``
(part of ``make bench``).

**reference** (the design notes' case, timed phase by phase as before): 20 numeric + 5
categorical features; 8 drift, the rest do not:

===========  ==========================================
num_0        mean +0.1 sd (the shift PSI on 10 bins misses)
num_1        mean +0.25 sd
num_2        sd x1.2
num_3        sd x0.8
num_4        mean +0.5 sd
num_5        10 % of values moved to a mode at +3 sd
cat_0        category mix changes
cat_1        5 % of values are a new category
===========  ==========================================

**kinds**: one column per kind of change, a drifted day and a clean day (both 1M rows):

================  =================================================  =====================
column            drifted day                                        clean day
================  =================================================  =====================
k_heavy_tail      lognormal: values above its q95 twice as far out     unchanged
k_tail_only       normal: values above +1.645 sd 4x as far out       unchanged
k_shape_only      normal -> bimodal with the same mean and sd        unchanged
k_int_shift       integers (Poisson 2.5): 10 % of values +1          unchanged
k_zero_inflated   30 % zeros -> 25 % zeros                           unchanged
k_cat_unseen      a new category takes 3 % of the rows               unchanged
k_cat_shift       6 points move from one category to another         unchanged
k_num_nulls       0 % -> 3 % nulls (null rate)                       unchanged
k_opt_nulls       optional category, 2 % -> 6 % nulls (null rate)    unchanged
c_normal, c_lognormal, c_integer, c_zero_inflated, c_category  unchanged both days
c_wander          mean moves 0.1-0.3 sd from day to day in the reference; both days
                  inside that range (not drift: only the adaptive floor can tell)
================  =================================================  =====================

Days and reference are generated with DuckDB (not timed). The real pipeline runs: baseline,
hourly ingestion, hourly aggregates, daily rollup, hourly and daily drift. The script prints
the phases' times (reference case), each column's daily verdict and hours flagged out of 24,
its binned effect against the exact W1/std on the raw rows (and the counts-only estimate of the
first version), the null-rate verdicts, and the false flags of the clean day.
"""

import argparse
import datetime as dt
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy import stats as sps

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_COLUMNS,
    BASELINE_NULLS,
    baseline_id_for,
    baseline_tables,
    build_baseline,
    load_baseline,
    null_reference_table,
    reference_histogram,
)
from modelmon_dagster.config import parse_config
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.drift import compute_drift, period_alpha, write_drift
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.ingest.parser import parse_prediction_files
from modelmon_dagster.logformat import PREDICTIONS, hour_folder
from modelmon_dagster.sql import SqlProject, run_model_window
from modelmon_dagster.stats.drift import wasserstein_binned
from modelmon_dagster.warehouse import Replacement, Warehouse

DAY = dt.datetime(2026, 11, 16)
NORMAL = "(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))"

# -- the reference case ---------------------------------------------------------------------
N_NUMERIC, N_CATEGORICAL = 20, 5
DRIFTED = {"num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "cat_0", "cat_1"}

# -- every kind of change ------------------------------------------------------------------
KIND_DRIFTED = {
    "k_heavy_tail",
    "k_tail_only",
    "k_shape_only",
    "k_int_shift",
    "k_zero_inflated",
    "k_cat_unseen",
    "k_cat_shift",
}
KIND_NULLS = {"k_num_nulls", "k_opt_nulls"}
KIND_NUMERIC = [
    "k_heavy_tail",
    "k_tail_only",
    "k_shape_only",
    "k_int_shift",
    "k_zero_inflated",
    "k_num_nulls",
    "c_normal",
    "c_lognormal",
    "c_integer",
    "c_zero_inflated",
    "c_wander",
]
KIND_CATEGORICAL = ["k_cat_unseen", "k_cat_shift", "k_opt_nulls", "c_category"]
OPTIONAL = {"k_num_nulls", "k_opt_nulls"}
CATEGORIES = ["a", "b", "c", "d", "e", "f"]
CATEGORY_P = [0.32, 0.32, 0.16, 0.10, 0.06, 0.04]
SHIFTED_P = [0.38, 0.26, 0.16, 0.10, 0.06, 0.04]
# Mean of c_wander on each reference day (in sd), and on the two benchmark days.
WANDER = [0.25, -0.20, 0.10, -0.30, 0.15, 0.00, -0.10]
WANDER_DAYS = {"drifted": 0.20, "clean": -0.15}


def config(name: str, numeric, categorical, optional=frozenset()):
    features = [{"name": c, "type": "numeric", "required": c not in optional} for c in numeric]
    features += [
        {"name": c, "type": "categorical", "required": c not in optional} for c in categorical
    ]
    return parse_config(
        {
            "partitions": {"start_date": DAY.strftime("%Y-%m-%d")},
            "models": [
                {
                    "name": name,
                    "task": "binary_classification",
                    "classes": ["0", "1"],
                    "positive_class": "1",
                    "features": features,
                    "label_delay": {"expected_hours": 24, "max_hours": 72},
                    "baseline": {
                        "model_version": "v1",
                        "reference_predictions": f"{name}_reference.jsonl",
                    },
                }
            ],
        }
    ).models[0]


def reference_model():
    return config(
        "bench_model",
        [f"num_{i}" for i in range(N_NUMERIC)],
        [f"cat_{i}" for i in range(N_CATEGORICAL)],
    )


def kinds_model():
    return config("bench_kinds", KIND_NUMERIC, KIND_CATEGORICAL, OPTIONAL)


def _feature(i: int, drifted: bool) -> str:
    sd = i + 1
    if not drifted or i > 5:
        return f"round({sd} * {NORMAL}, 6)"
    return {
        0: f"round({sd} * ({NORMAL} + 0.1), 6)",
        1: f"round({sd} * ({NORMAL} + 0.25), 6)",
        2: f"round({sd} * 1.2 * {NORMAL}, 6)",
        3: f"round({sd} * 0.8 * {NORMAL}, 6)",
        4: f"round({sd} * ({NORMAL} + 0.5), 6)",
        5: f"round({sd} * (CASE WHEN random() < 0.1 THEN 3 + 0.3 * {NORMAL} ELSE {NORMAL} END), 6)",
    }[i]


def _category(i: int, drifted: bool) -> str:
    usual = "'c' || CAST(floor(random() * random() * 12) AS INTEGER)"
    if drifted and i == 0:
        return "'c' || CAST(floor(random() * 12) AS INTEGER)"
    if drifted and i == 1:
        return f"CASE WHEN random() < 0.05 THEN 'new' ELSE {usual} END"
    return usual


def _reference_struct(drifted: bool) -> str:
    nums = ", ".join(f"'num_{i}': {_feature(i, drifted)}" for i in range(N_NUMERIC))
    cats = ", ".join(f"'cat_{i}': {_category(i, drifted)}" for i in range(N_CATEGORICAL))
    return f"{{{nums}, {cats}}}"


def _choice(u: str, probs, labels) -> str:
    """A category drawn with ``probs`` by inverse CDF of the per-row uniform column ``u``."""
    cum = np.cumsum(probs)[:-1]
    whens = " ".join(
        f"WHEN {u} < {c:.6f} THEN '{lab}'" for c, lab in zip(cum, labels[:-1], strict=True)
    )
    return f"CASE {whens} ELSE '{labels[-1]}' END"


def _poisson(u: str, rate: float) -> str:
    cdf = sps.poisson.cdf(np.arange(0, 25), rate)
    whens = " ".join(f"WHEN {u} < {c:.10f} THEN {k}" for k, c in enumerate(cdf))
    return f"CASE {whens} ELSE 25 END"


# Per-row random draws that a feature uses more than once (computed in the inner query, since
# DuckDB evaluates an uncorrelated scalar subquery once for all rows).
KIND_DRAWS = {
    "z_heavy": NORMAL,
    "z_tail": NORMAL,
    "u_int": "random()",
    "u_int_c": "random()",
    "u_cat": "random()",
    "u_cat_c": "random()",
    "u_unseen": "random()",
    "u_shift": "random()",
    "u_opt": "random()",
}


def _kinds_struct(day: str) -> str:
    """Features of the kinds case; ``day`` is reference, drifted or clean."""
    drift = day == "drifted"
    q95 = float(np.exp(1.645))
    heavy = (
        f"CASE WHEN exp(z_heavy) > {q95} THEN {q95} + 2 * (exp(z_heavy) - {q95}) "
        "ELSE exp(z_heavy) END"
        if drift
        else "exp(z_heavy)"
    )
    tail = (
        "CASE WHEN z_tail > 1.645 THEN 1.645 + 4 * (z_tail - 1.645) ELSE z_tail END"
        if drift
        else "z_tail"
    )
    # +-0.8 with sd 0.6 inside: mean 0, variance 0.64 + 0.36 = 1, two modes.
    shape = (
        f"(CASE WHEN random() < 0.5 THEN -0.8 ELSE 0.8 END + 0.6 * {NORMAL})" if drift else NORMAL
    )
    integer = _poisson("u_int", 2.5) + (
        " + CASE WHEN random() < 0.1 THEN 1 ELSE 0 END" if drift else ""
    )
    zeros = 0.25 if drift else 0.30
    zero_inflated = f"CASE WHEN random() < {zeros} THEN 0.0 ELSE exp(1 + 0.5 * {NORMAL}) END"
    num_nulls = f"CASE WHEN random() < {0.03 if drift else 0.0} THEN NULL ELSE {NORMAL} END"
    wander_mean = (
        f"list_extract({WANDER}, CAST(off // 86400000000 AS INTEGER) + 1)"
        if day == "reference"
        else str(WANDER_DAYS[day])
    )
    unseen = _choice("u_cat", CATEGORY_P, CATEGORIES)
    if drift:
        unseen = f"CASE WHEN u_unseen < 0.03 THEN 'new' ELSE {unseen} END"
    opt_share = 0.06 if drift else 0.02
    opt = (
        f"CASE WHEN random() < {opt_share} THEN NULL "
        f"ELSE {_choice('u_opt', CATEGORY_P, CATEGORIES)} END"
    )
    columns = {
        "k_heavy_tail": heavy,
        "k_tail_only": tail,
        "k_shape_only": shape,
        "k_int_shift": integer,
        "k_zero_inflated": zero_inflated,
        "k_num_nulls": num_nulls,
        "c_normal": NORMAL,
        "c_lognormal": f"exp({NORMAL})",
        "c_integer": _poisson("u_int_c", 2.5),
        "c_zero_inflated": f"CASE WHEN random() < 0.3 THEN 0.0 ELSE exp(1 + 0.5 * {NORMAL}) END",
        "c_wander": f"({NORMAL} + {wander_mean})",
        "k_cat_unseen": unseen,
        "k_cat_shift": _choice("u_shift", SHIFTED_P if drift else CATEGORY_P, CATEGORIES),
        "k_opt_nulls": opt,
        "c_category": _choice("u_cat_c", CATEGORY_P, CATEGORIES),
    }
    parts = []
    for name, expr in columns.items():
        value = f"round({expr}, 6)" if name in KIND_NUMERIC else expr
        parts.append(f"'{name}': {value}")
    return "{" + ", ".join(parts) + "}"


def _select(model: str, struct: str, n: int, start: dt.datetime, seconds: int, prefix: str):
    draws = "".join(f", {expr} AS {name}" for name, expr in KIND_DRAWS.items())
    return f"""
        SELECT '{prefix}' || i AS prediction_id, '{model}' AS model_name, 'v1' AS model_version,
               strftime(TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_microseconds(off),
                        '%Y-%m-%dT%H:%M:%S.%fZ') AS "timestamp",
               {struct} AS features,
               CASE WHEN s >= 0.5 THEN '1' ELSE '0' END AS prediction,
               round(s, 6) AS score, round(exp(2.5 + random()), 3) AS latency_ms,
               'ok' AS status, NULL AS error_type
        FROM (SELECT i, random() AS s, CAST(random() * {seconds} * 1e6 AS BIGINT) AS off{draws}
              FROM range({n}) t(i))
    """


def generate(root: Path, rows: int, reference_rows: int, cases) -> None:
    con = duckdb.connect()
    con.execute("SELECT setseed(0.7)")
    per_hour = rows // 24
    ref_start = DAY - dt.timedelta(days=7)
    jobs = []
    if "reference" in cases:
        jobs.append(("bench_model", lambda day: _reference_struct(day == "drifted"), ["drifted"]))
    if "kinds" in cases:
        jobs.append(("bench_kinds", _kinds_struct, ["drifted", "clean"]))
    for model, struct, days in jobs:
        for d, day in enumerate(days):
            for h in range(24):
                hour = DAY + dt.timedelta(days=d, hours=h)
                folder = hour_folder(root / "logs", PREDICTIONS, model, hour)
                folder.mkdir(parents=True, exist_ok=True)
                sql = _select(model, struct(day), per_hour, hour, 3599, f"{day[0]}{h}-")
                con.execute(f"COPY ({sql}) TO '{folder / 'bench.jsonl'}' (FORMAT JSON)")
        ref = _select(model, struct("reference"), reference_rows, ref_start, 7 * 86400 - 1, "r-")
        con.execute(f"COPY ({ref}) TO '{root / f'{model}_reference.jsonl'}' (FORMAT JSON)")


def timed(label: str, fn, log: list):
    began = time.perf_counter()
    value = fn()
    log.append((label, time.perf_counter() - began))
    return value


def run(url: str, root: Path, model, days: int) -> tuple[list, dict]:
    """The pipeline over ``days`` days; returns phase times and the drift rows by grain."""
    wh = Warehouse(url)
    project = SqlProject.load(SQL_PROJECT_DIR)
    log: list = []
    end = DAY + dt.timedelta(days=days)

    def baseline():
        path = root / f"{model.name}_reference.jsonl"
        frame = parse_prediction_files([path], model).rows.to_pandas()
        fixed = build_baseline(model, frame, baseline_id_for(model, model.baseline, ["bench"]))
        bins, cols = baseline_tables(fixed, frame)
        where, params = "model_name = :m", {"m": model.name}
        wh.replace_many(
            [
                Replacement(BASELINE_BINS, where, params, rows=bins),
                Replacement(BASELINE_COLUMNS, where, params, rows=cols),
                Replacement(BASELINE_NULLS, where, params, rows=null_reference_table(fixed, frame)),
            ]
        )

    def ingest():
        for h in range(24 * days):
            load_prediction_hour(wh, model, root / "logs", DAY + dt.timedelta(hours=h))

    def models(grain):
        base = load_baseline(wh, model)
        for sql_model in project.by_grain(grain):
            # the benchmark ingests no labels: skip the models that read them
            if ("logs", "raw_labels") not in sql_model.sources:
                run_model_window(wh, project, sql_model, model, DAY, end, base)

    timed("baseline (100k reference rows)", baseline, log)
    timed(f"ingestion ({24 * days} hourly loads)", ingest, log)
    timed("hourly aggregates", lambda: models("hourly"), log)
    timed("daily rollup", lambda: models("daily"), log)
    frames = {
        "daily": timed(
            "daily drift from aggregates", lambda: compute_drift(wh, model, "daily", DAY, end), log
        )
    }
    frames["hourly"] = timed(
        "hourly drift (all hours)", lambda: compute_drift(wh, model, "hourly", DAY, end), log
    )
    for grain, frame in frames.items():
        write_drift(wh, grain, model, DAY, end, frame)
    frames["counts_only"] = _counts_only_effects(wh, model, frames["daily"])
    wh.dispose()
    return log, frames


def _counts_only_effects(wh: Warehouse, model, daily: pd.DataFrame) -> dict:
    """The first version's W1/std (bin counts only, uniform inside bins) from the same rows."""
    base = load_baseline(wh, model)
    ref = reference_histogram(wh, model.name, base.baseline_id)
    ref = ref[ref["hour_of_day"].isna()]
    hist = wh.query_df(
        "SELECT day_start, column_name, bin_index, n FROM daily_feature_histograms "
        "WHERE model_name = :m",
        {"m": model.name},
    )
    stats = wh.query_df(
        "SELECT day_start, column_name, min_value, max_value FROM daily_feature_stats "
        "WHERE model_name = :m",
        {"m": model.name},
    )
    out = {}
    for cb in base.columns:
        if not cb.column.is_numeric or cb.column.role == "label":
            continue
        r = np.zeros(cb.n_bins)
        rows = ref[ref["column_name"] == cb.column.name]
        r[rows["bin_index"].to_numpy(int)] = rows["reference_count"].to_numpy(float)
        for day, rows in hist[hist["column_name"] == cb.column.name].groupby("day_start"):
            c = np.zeros(cb.n_bins)
            c[rows["bin_index"].to_numpy(int)] = rows["n"].to_numpy(float)
            s = stats[(stats["column_name"] == cb.column.name) & (stats["day_start"] == day)]
            low = min(cb.low, float(s["min_value"].min()))
            high = max(cb.high, float(s["max_value"].max()))
            out[(pd.Timestamp(day), cb.column.name)] = wasserstein_binned(
                cb.edges, r, c, low, high, cb.std
            ).distance
    return out


def exact_effects(root: Path, model, days: int) -> dict:
    """W1 / reference std on the raw rows, per (day, numeric column), from the JSONL logs."""
    con = duckdb.connect()
    numeric = [f.name for f in model.features if f.type.value == "numeric"]
    cols = ", ".join(f"CAST(features.{c} AS DOUBLE) AS {c}" for c in numeric)
    ref = con.execute(
        f"SELECT {cols} FROM read_json_auto('{root / f'{model.name}_reference.jsonl'}')"
    ).df()
    out = {}
    for d in range(days):
        day = DAY + dt.timedelta(days=d)
        folder = root / "logs" / PREDICTIONS / model.name / f"{day:%Y-%m-%d}"
        cur = con.execute(f"SELECT {cols} FROM read_json_auto('{folder}/*/*.jsonl')").df()
        for c in numeric:
            r, x = ref[c].dropna().to_numpy(), cur[c].dropna().to_numpy()
            out[(pd.Timestamp(day), c)] = sps.wasserstein_distance(r, x) / r.std(ddof=1)
    return out


def fresh_postgres(base_url: str) -> str:
    engine = sa.create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS modelmon_bench_drift CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA modelmon_bench_drift"))
    engine.dispose()
    return f"{base_url}?options=-csearch_path%3Dmodelmon_bench_drift"


def _flags(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame[frame[column].astype("boolean").fillna(False).astype(bool)]


def _floor_comparison(hourly: pd.DataFrame, drifted: set, model) -> str:
    """Hourly flags with the adaptive floors against the fixed floor alone (item 6)."""
    t = model.thresholds
    fixed = hourly[
        (hourly["adjusted_p"] <= period_alpha(t, "hourly"))
        & (hourly["effect_size"] >= t.drift_effect_warn)
    ]
    adaptive = _flags(hourly, "drifted")
    parts = []
    for name, frame in (("adaptive floors", adaptive), ("fixed floor alone", fixed)):
        real = frame["column_name"].isin(drifted)
        parts.append(f"{name}: {int(real.sum())} on drifted columns, {int((~real).sum())} false")
    return "hourly flags with " + "; with ".join(parts)


def report_reference(log, frames) -> None:
    for label, seconds in log:
        print(f"  {label:<34} {seconds:7.2f} s")
    total = sum(s for label, s in log if not label.startswith(("baseline", "hourly drift")))
    print(f"  {'whole day end to end':<34} {total:7.2f} s (baseline and hourly drift excluded)")
    daily = frames["daily"]
    features = daily[daily["column_role"] == "feature"]
    flagged = set(_flags(features, "drifted")["column_name"])
    print(
        f"  daily: flagged {len(flagged & DRIFTED)} of {len(DRIFTED)} drifted columns, "
        f"{len(flagged - DRIFTED)} false flags (missed: {sorted(DRIFTED - flagged) or 'none'})"
    )
    hourly = frames["hourly"]
    hourly_features = hourly[hourly["column_role"] == "feature"]
    by_col = _flags(hourly_features, "drifted").groupby("column_name").size()
    print(
        "  hourly: hours flagged of 24: "
        + ", ".join(f"{c} {by_col.get(c, 0)}" for c in sorted(DRIFTED))
        + f"; false flags {int(by_col.drop(list(DRIFTED), errors='ignore').sum())} "
        f"in {len(hourly_features) - 24 * len(DRIFTED)} column-hours"
    )
    print("  " + _floor_comparison(hourly_features, DRIFTED, reference_model()))
    top = features.sort_values("effect_size", ascending=False).head(12)
    for r in top.itertuples():
        mark = "drifted" if r.drifted else ""
        print(
            f"    {r.column_name:<7} {r.effect_measure:<16} {r.effect_size:7.4f} "
            f"adj_p {r.adjusted_p:9.2e}  floor {r.effect_floor:.3f}  psi {r.psi:7.4f}  {mark}"
        )


def report_kinds(frames, exact) -> None:
    for d, day in enumerate(("drifted", "clean")):
        start = pd.Timestamp(DAY + dt.timedelta(days=d))
        daily = frames["daily"][pd.to_datetime(frames["daily"]["day_start"]) == start]
        hourly = frames["hourly"]
        hourly = hourly[
            (pd.to_datetime(hourly["hour_start"]) >= start)
            & (pd.to_datetime(hourly["hour_start"]) < start + pd.Timedelta(days=1))
        ]
        print(f"\n  {day} day (1M rows):")
        print(
            f"    {'column':<16} {'daily':<8} {'h/24':>4}  {'measure':<15} {'effect':>7} "
            f"{'exact':>7} {'counts':>7} {'floor':>6}  {'null ref->cur':<15} "
            f"{'null':<6} {'h/24':>4}"
        )
        for r in daily[daily["column_role"] == "feature"].itertuples():
            hours = hourly[hourly["column_name"] == r.column_name]
            h_drift = int(hours["drifted"].astype("boolean").fillna(False).sum())
            h_null = int(hours["null_changed"].astype("boolean").fillna(False).sum())
            key = (start, r.column_name)
            ex = exact.get(key)
            counts = frames["counts_only"].get(key)
            verdict = r.severity if r.drifted else "-"
            null = r.null_severity if r.null_changed else "-"
            print(
                f"    {r.column_name:<16} {verdict:<8} {h_drift:>4}  {r.effect_measure:<15} "
                f"{r.effect_size:7.4f} {'' if ex is None else f'{ex:7.4f}':>7} "
                f"{'' if counts is None else f'{counts:7.4f}':>7} {r.effect_floor:6.3f}  "
                f"{r.null_rate_ref:6.2%}->{r.null_rate_cur:6.2%}  {null:<6} {h_null:>4}"
            )
        t = kinds_model().thresholds
        fixed = daily[
            (daily["adjusted_p"] <= period_alpha(t, "daily"))
            & (daily["effect_size"] >= t.drift_effect_warn)
        ]
        print(
            "    with the fixed floor alone (adaptive_floor_sigmas: 0) the day would flag: "
            + ", ".join(sorted(fixed["column_name"]))
        )
        expected = KIND_DRIFTED if day == "drifted" else set()
        print("    " + _floor_comparison(hourly, expected, kinds_model()))
        expected_nulls = KIND_NULLS if day == "drifted" else set()
        for what, col, exp_set in (
            ("drift", "drifted", expected),
            ("null rate", "null_changed", expected_nulls),
        ):
            d_flag = set(_flags(daily, col)["column_name"])
            h_flags = _flags(hourly, col)
            h_false = h_flags[~h_flags["column_name"].isin(exp_set)]
            print(
                f"    {what}: daily {len(d_flag & exp_set)}/{len(exp_set)} detected, "
                f"{len(d_flag - exp_set)} false of {len(daily) - len(exp_set)}; hourly "
                f"{len(h_false)} false flags in {len(hourly) - 24 * len(exp_set)} column-hours"
            )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--engines", default="duckdb")
    parser.add_argument("--cases", default="reference,kinds")
    args = parser.parse_args()
    cases = args.cases.split(",")
    pg = os.environ.get(
        "MODELMON_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    root = Path(tempfile.mkdtemp(prefix="modelmon-drift-bench-"))
    try:
        t = time.perf_counter()
        generate(root, args.rows, args.reference_rows, cases)
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}; generated "
            f"in {time.perf_counter() - t:.1f} s"
        )
        for engine in args.engines.split(","):
            url = f"duckdb:///{root / 'bench.duckdb'}" if engine == "duckdb" else fresh_postgres(pg)
            if "reference" in cases:
                log, frames = run(url, root, reference_model(), days=1)
                print(f"\n{engine}, reference case ({args.rows:,} vs {args.reference_rows:,}):")
                report_reference(log, frames)
            if "kinds" in cases:
                model = kinds_model()
                log, frames = run(url, root, model, days=2)
                print(f"\n{engine}, every kind of change ({args.rows:,} a day):")
                print("  " + "; ".join(f"{label} {s:.1f} s" for label, s in log))
                report_kinds(frames, exact_effects(root, model, days=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
