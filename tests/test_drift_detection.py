"""Drift and null rates through the real SQL and drift code, against raw-row oracles (issue 11).

A model with one column per kind of behaviour (normal, lognormal, integer-valued,
zero-inflated, categorical, optional categorical, and a feature whose reference mean wanders
from day to day) runs through ingestion, the hourly and daily SQL models and drift, on DuckDB
and PostgreSQL. Effects are compared with scipy on the raw rows, null-rate verdicts with the
injected changes.
"""

import datetime as dt
import functools
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from modelmon_dagster.baseline import (
    BASELINE_BINS,
    BASELINE_COLUMNS,
    BASELINE_NULLS,
    baseline_id_for,
    baseline_tables,
    build_baseline,
    load_baseline,
    null_reference_table,
)
from modelmon_dagster.config import parse_config
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.drift import (
    compute_drift,
    drift_outcome,
    null_rate_outcome,
    period_alpha,
    write_drift,
)
from modelmon_dagster.ingest.load import load_prediction_hour
from modelmon_dagster.ingest.parser import parse_prediction_files
from modelmon_dagster.logformat import PREDICTIONS, format_timestamp, hour_folder
from modelmon_dagster.sql import SqlProject, run_model_window
from modelmon_dagster.stats.drift import (
    benjamini_hochberg,
    chi2_contingency_test,
    ks_2samp_binned,
    null_rate_test,
)
from modelmon_dagster.warehouse import Replacement

DAY = dt.datetime(2026, 11, 16)
REFERENCE_DAYS, REFERENCE_PER_DAY = 7, 6_000
PER_HOUR = 2_500
HOURS = (3, 4, 5)  # current hours of DAY: 3 is clean, 4 and 5 carry the changes
CATS = ["a", "b", "c", "d", "e"]
CAT_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
WANDER_SD = 0.3  # day-to-day sd of the wandering feature's mean, in its own sd


def model_config(**thresholds):
    features = [
        {"name": "num", "type": "numeric"},
        {"name": "heavy", "type": "numeric"},
        {"name": "cnt", "type": "numeric"},
        {"name": "zinf", "type": "numeric"},
        {"name": "wander", "type": "numeric"},
        {"name": "cat", "type": "categorical"},
        {"name": "opt", "type": "categorical", "required": False},
    ]
    return parse_config(
        {
            "partitions": {"start_date": "2026-11-01"},
            "models": [
                {
                    "name": "det_model",
                    "task": "binary_classification",
                    "classes": ["0", "1"],
                    "positive_class": "1",
                    "features": features,
                    "label_delay": {"expected_hours": 24, "max_hours": 72},
                    "baseline": {"model_version": "v1", "reference_predictions": "ref.jsonl"},
                    "thresholds": thresholds,
                }
            ],
        }
    ).models[0]


def records(rng, start: dt.datetime, seconds: int, n: int, prefix: str, change=None, day_shift=0.0):
    """Prediction records; ``change`` names what differs from the reference process."""
    change = change or set()
    num = rng.normal(10.0, 2.0, n) + (0.2 * 2.0 if "num_shift" in change else 0.0)
    heavy = rng.lognormal(0.0, 1.3 if "heavy_spread" in change else 1.0, n)
    cnt = rng.poisson(3.5 if "cnt_up" in change else 2.5, n)
    zinf = np.where(
        rng.random(n) < (0.15 if "zinf_fewer_zeros" in change else 0.3),
        0.0,
        rng.lognormal(1.0, 0.5, n),
    )
    wander = rng.normal(day_shift, 1.0, n)
    p = CAT_P if "cat_mix" not in change else np.array([0.3, 0.3, 0.2, 0.12, 0.08])
    cat = np.array(CATS)[rng.choice(len(CATS), n, p=p)].astype(object)
    if "cat_unseen" in change:
        cat[rng.random(n) < 0.03] = "z"
    opt = np.array(CATS)[rng.choice(len(CATS), n, p=CAT_P)].astype(object)
    opt[rng.random(n) < (0.12 if "opt_nulls" in change else 0.02)] = None
    num_null = rng.random(n) < (0.03 if "num_nulls" in change else 0.0)
    error = rng.random(n) < (0.2 if "errors" in change else 0.01)
    score = rng.random(n)
    ts = np.sort(rng.integers(0, seconds * 1_000_000, n))
    out = []
    for i in range(n):
        ok = not error[i]
        out.append(
            {
                "prediction_id": f"{prefix}-{i}",
                "model_name": "det_model",
                "model_version": "v1",
                "timestamp": format_timestamp(start + dt.timedelta(microseconds=int(ts[i]))),
                "features": {
                    "num": None if num_null[i] else round(float(num[i]), 6),
                    "heavy": round(float(heavy[i]), 6),
                    "cnt": int(cnt[i]),
                    "zinf": round(float(zinf[i]), 6),
                    "wander": round(float(wander[i]), 6),
                    "cat": cat[i],
                    "opt": opt[i],
                },
                "latency_ms": 10.0,
                "status": "ok" if ok else "error",
                "error_type": None if ok else "ValueError",
                "prediction": ("1" if score[i] >= 0.5 else "0") if ok else None,
                "score": round(float(score[i]), 6) if ok else None,
                "probabilities": None,
                "host": {"cpu_pct": 1.0, "memory_mb": 1.0, "gpu_pct": None},
            }
        )
    return out


CHANGES = {
    3: set(),
    4: {"num_shift", "heavy_spread", "cnt_up", "cat_unseen", "opt_nulls", "errors"},
    5: {"zinf_fewer_zeros", "cat_mix", "num_nulls"},
}


def write_world(root, seed=0):
    rng = np.random.default_rng(seed)
    reference = []
    day_shifts = rng.normal(0.0, WANDER_SD, REFERENCE_DAYS)
    for d in range(REFERENCE_DAYS):
        start = DAY - dt.timedelta(days=REFERENCE_DAYS - d)
        reference += records(
            rng, start, 86_400, REFERENCE_PER_DAY, f"ref{d}", day_shift=day_shifts[d]
        )
    (root / "ref.jsonl").write_text("\n".join(json.dumps(r) for r in reference) + "\n")
    # The current day's wandering mean sits inside the reference's own day-to-day range.
    current_shift = float(np.median(np.abs(day_shifts - day_shifts.mean()))) + day_shifts.mean()
    current = {}
    for h in HOURS:
        hour = DAY + dt.timedelta(hours=h)
        rows = records(
            rng, hour, 3600, PER_HOUR, f"h{h}", change=CHANGES[h], day_shift=current_shift
        )
        folder = hour_folder(root / "logs", PREDICTIONS, "det_model", hour)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "w.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        current[h] = rows
    return reference, current


def frame_of(rows) -> pd.DataFrame:
    flat = []
    for r in rows:
        row = {k: v for k, v in r.items() if k not in ("features", "host")}
        row.update(r["features"])
        row["hour"] = dt.datetime.fromisoformat(r["timestamp"].rstrip("Z")).hour
        flat.append(row)
    return pd.DataFrame(flat)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("detection")
    reference, current = write_world(root)
    return root, frame_of(reference), {h: frame_of(rows) for h, rows in current.items()}


def run_pipeline(warehouse, root, model):
    project = SqlProject.load(SQL_PROJECT_DIR)
    frame = parse_prediction_files([root / "ref.jsonl"], model).rows.to_pandas()
    fixed = build_baseline(model, frame, baseline_id_for(model, model.baseline, ["test"]))
    bins, cols = baseline_tables(fixed, frame)
    where, params = "model_name = :m", {"m": model.name}
    warehouse.replace_many(
        [
            Replacement(BASELINE_BINS, where, params, rows=bins),
            Replacement(BASELINE_COLUMNS, where, params, rows=cols),
            Replacement(BASELINE_NULLS, where, params, rows=null_reference_table(fixed, frame)),
        ]
    )
    baseline = load_baseline(warehouse, model)
    for h in HOURS:
        load_prediction_hour(warehouse, model, root / "logs", DAY + dt.timedelta(hours=h))
    end = DAY + dt.timedelta(days=1)
    out = {}
    for grain in ("hourly", "daily"):
        for sql_model in project.by_grain(grain):
            if ("logs", "raw_labels") not in sql_model.sources:
                run_model_window(warehouse, project, sql_model, model, DAY, end, baseline)
        out[grain] = compute_drift(warehouse, model, grain, DAY, end)
        write_drift(warehouse, grain, model, DAY, end, out[grain])
    return baseline, out


@pytest.fixture
def ran(world, warehouse):
    root, reference, current = world
    model = model_config()
    baseline, drift = run_pipeline(warehouse, root, model)
    return {
        "wh": warehouse,
        "model": model,
        "baseline": baseline,
        "reference": reference[reference["status"] == "ok"],
        "current": current,
        "hourly": drift["hourly"],
        "daily": drift["daily"],
    }


def row_of(frame, column, hour=None):
    if hour is not None:
        frame = frame[pd.to_datetime(frame["hour_start"]) == DAY + dt.timedelta(hours=hour)]
    rows = frame[frame["column_name"] == column]
    assert len(rows) == 1, (column, hour)
    return rows.iloc[0]


def test_baseline_bins_each_column_by_its_nature(ran):
    baseline = ran["baseline"]
    assert baseline.for_column("cnt").binning == "distinct"
    assert baseline.for_column("num").binning == "quantile"
    zinf = baseline.for_column("zinf")
    assert zinf.binning == "quantile"
    assert [0.0, np.nextafter(0.0, 1.0)] == [e for e in zinf.edges if e <= 1e-300]  # the zeros
    assert baseline.for_column("cat").binning == "categories"
    # A 7-day reference gives every column its day-to-day variation (adaptive floors).
    assert all(cb.floor is not None for cb in baseline.columns if cb.column.role != "label")
    assert all(cb.null_floor.chunks == REFERENCE_DAYS for cb in baseline.columns)


def test_histogram_bin_sums_and_ok_null_counts_equal_numpy(ran):
    wh, baseline = ran["wh"], ran["baseline"]
    hist = wh.query_df("SELECT * FROM hourly_feature_histograms")
    stats = wh.query_df("SELECT * FROM hourly_feature_stats")
    for h, frame in ran["current"].items():
        hour = DAY + dt.timedelta(hours=h)
        ok = frame[frame["status"] == "ok"]
        for name in ("num", "heavy", "cnt", "zinf", "score"):
            cb = baseline.for_column(name)
            x = frame[name].dropna().astype(float).to_numpy()
            idx = np.searchsorted(np.array(cb.edges), x, side="right")
            expected = np.bincount(idx, weights=x - cb.center, minlength=cb.n_bins)
            got = hist[(hist["column_name"] == name) & (hist["hour_start"] == hour)]
            actual = np.zeros(cb.n_bins)
            actual[got["bin_index"].to_numpy(dtype=int)] = got["sum_shifted"].to_numpy(float)
            np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9)
        cat = hist[(hist["column_name"] == "cat") & (hist["hour_start"] == hour)]
        assert cat["sum_shifted"].isna().all()
        for name in ("num", "opt", "prediction", "score"):
            row = stats[(stats["column_name"] == name) & (stats["hour_start"] == hour)].iloc[0]
            assert row["n_ok"] == len(ok)
            assert row["n_null_ok"] == ok[name].isna().sum()
    daily = wh.query_df(
        "SELECT bin_index, sum_shifted FROM daily_feature_histograms WHERE column_name = 'heavy'"
    ).set_index("bin_index")["sum_shifted"]
    hourly = hist[hist["column_name"] == "heavy"].groupby("bin_index")["sum_shifted"].sum()
    pd.testing.assert_series_equal(daily.sort_index(), hourly.sort_index(), check_names=False)


def exact_w1(ran, column, hour=None):
    """W1 / baseline std on the raw rows the drift row compared."""
    cb = ran["baseline"].for_column(column)
    ref = ran["reference"]
    if hour is None:
        cur = pd.concat(ran["current"].values())
    else:
        cur = ran["current"][hour]
        ref = ref[ref["hour"] == hour]
    return (
        sps.wasserstein_distance(
            ref[column].dropna().astype(float), cur[column].dropna().astype(float)
        )
        / cb.std
    )


@pytest.mark.parametrize("column", ["num", "heavy", "cnt", "zinf", "wander", "score"])
def test_numeric_effects_equal_the_exact_value_on_raw_rows(ran, column):
    for hour in (None, *HOURS):
        frame = ran["daily"] if hour is None else ran["hourly"]
        row = row_of(frame, column, hour)
        exact = exact_w1(ran, column, hour)
        assert row["effect_measure"] == "wasserstein/std"
        assert row["effect_method"] == ("point_masses" if column == "cnt" else "bin_means")
        assert abs(row["effect_size"] - exact) <= 0.003 + 0.02 * exact, (hour, exact)
        assert abs(row["effect_size"] - exact) <= row["effect_size_max_error"] + 1e-9


def test_categorical_effect_is_the_js_distance_of_the_raw_categories(ran):
    cb = ran["baseline"].for_column("cat")
    ref = ran["reference"]["cat"].where(ran["reference"]["cat"].isin(cb.categories), "__other__")
    for hour in HOURS:
        cur = ran["current"][hour]["cat"]
        cur = cur.where(cur.isin(cb.categories), "__other__")
        order = [*cb.categories, "__other__"]
        same_hour = ref[ran["reference"]["hour"] == hour]
        expected = jensenshannon(
            same_hour.value_counts().reindex(order, fill_value=0),
            cur.value_counts().reindex(order, fill_value=0),
            base=2,
        )
        row = row_of(ran["hourly"], "cat", hour)
        assert row["effect_measure"] == "js_distance"
        assert row["effect_size"] == pytest.approx(expected, rel=1e-9)


def test_each_kind_of_change_is_flagged_in_its_hour_and_the_day(ran):
    hourly, daily = ran["hourly"], ran["daily"]
    drifted = {
        h: set(
            hourly.loc[
                (pd.to_datetime(hourly["hour_start"]).dt.hour == h)
                & hourly["drifted"].astype(bool),
                "column_name",
            ]
        )
        for h in HOURS
    }
    assert drifted[3] == set()
    assert drifted[4] == {"num", "heavy", "cnt", "cat"}
    assert drifted[5] == {"zinf", "cat"}
    assert set(daily.loc[daily["drifted"].astype(bool), "column_name"]) == {
        "num",
        "heavy",
        "cnt",
        "zinf",
        "cat",
    }
    nulls = {
        h: set(
            hourly.loc[
                (pd.to_datetime(hourly["hour_start"]).dt.hour == h)
                & hourly["null_changed"].astype("boolean").fillna(False),
                "column_name",
            ]
        )
        for h in HOURS
    }
    # 20 % errors in hour 4 are not missing predictions: nulls are counted among ok rows.
    assert nulls == {3: set(), 4: {"opt"}, 5: {"num"}}
    assert row_of(hourly, "opt", 4)["null_severity"] == "ERROR"  # 2 % -> 12 %
    assert row_of(hourly, "num", 5)["null_severity"] == "WARN"  # 0 % -> 3 %
    assert row_of(hourly, "opt", 4)["null_rate_cur"] == pytest.approx(
        ran["current"][4].query("status == 'ok'")["opt"].isna().mean()
    )
    assert set(daily.loc[daily["null_changed"].astype("boolean").fillna(False), "column_name"]) == {
        "opt"
    }  # num's 3 % in one hour of three is 1 % of the day: at the floor
    assert abs(row_of(daily, "num")["null_rate_cur"] - 0.01) < 0.004


def test_null_rate_check_verdicts(ran):
    hourly = ran["hourly"]
    at = pd.to_datetime(hourly["hour_start"]).dt.hour
    clean = null_rate_outcome(hourly[at == 3])
    assert clean.passed is True and clean.metadata["columns_measured"] == 9
    broken = null_rate_outcome(hourly[at == 4])
    assert broken.passed is False and broken.severity == "ERROR"
    assert broken.metadata["changed_columns"] == ["opt"]
    opt = row_of(hourly, "opt", 4)
    assert broken.description == (
        f"null rate changed in 1 column(s): opt {opt['null_rate_ref']:.1%} -> "
        f"{opt['null_rate_cur']:.1%}"
    )
    listed = {c["column"]: c for c in broken.metadata["columns"]}
    assert listed["opt"]["severity"] == "ERROR" and listed["num"]["severity"] is None
    warn = null_rate_outcome(hourly[at == 5])
    assert warn.passed is False and warn.severity == "WARN"
    nothing = null_rate_outcome(hourly.iloc[0:0])
    assert nothing.passed is None and nothing.description.startswith("not judged")


def test_adaptive_floor_holds_back_a_column_whose_reference_moves_between_days(world, warehouse):
    # The wandering feature's day sits inside its reference's day-to-day range: with 7500 rows
    # it is significant and above drift_effect_warn, and only the adaptive floor keeps it quiet.
    root, _, _ = world
    _, drift = run_pipeline(warehouse, root, model_config())
    row = row_of(drift["daily"], "wander")
    assert row["adjusted_p"] < 1e-6 and row["effect_size"] > 0.05
    assert row["floor_source"] == "adaptive" and row["effect_floor"] > row["effect_size"]
    assert not row["drifted"]
    stable = row_of(drift["daily"], "num")
    assert stable["floor_source"] == "config" and stable["effect_floor"] == 0.05
    # The config turns it off: the same day is then flagged (the fixed floor alone).
    _, fixed = run_pipeline(warehouse, root, model_config(adaptive_floor_sigmas=0))
    row = row_of(fixed["daily"], "wander")
    assert row["floor_source"] == "config" and row["drifted"]
    assert drift_outcome(fixed["daily"], "feature_drift", ("feature",)).metadata[
        "drifted_columns"
    ] == ["cat", "cnt", "heavy", "num", "wander", "zinf"]


# In hour 4, opt's null rate goes from 2 % to 12 % and num moves by 0.2 sd (W1/std ~0.19).
THRESHOLD_CASES = [
    ("opt", "null", {}, "ERROR"),  # 10 points: from null_rate_error (5)
    ("opt", "null", {"null_rate_error": 0.2}, "WARN"),
    ("opt", "null", {"null_rate_warn": 0.15, "null_rate_error": 0.2}, None),
    ("num", "drift", {}, "WARN"),  # below drift_effect_error (0.2)
    ("num", "drift", {"drift_effect_error": 0.15}, "ERROR"),
    ("num", "drift", {"drift_effect_warn": 0.3, "drift_effect_error": 0.4}, None),
]


@pytest.mark.parametrize("column,what,thresholds,expected", THRESHOLD_CASES)
def test_thresholds_decide(world, warehouse, column, what, thresholds, expected):
    root, _, _ = world
    _, drift = run_pipeline(warehouse, root, model_config(**thresholds))
    row = row_of(drift["hourly"], column, 4)
    flagged, severity = {
        "null": ("null_changed", "null_severity"),
        "drift": ("drifted", "severity"),
    }[what]
    assert (row[severity] if row[flagged] else None) == expected


def test_missing_tables_are_no_data_not_a_crash(warehouse):
    model = model_config()
    frame = compute_drift(warehouse, model, "daily", DAY, DAY + dt.timedelta(days=1))
    assert frame.empty
    assert null_rate_outcome(frame).passed is None


def test_hourly_alpha_spends_a_day_budget():
    t = model_config(fdr_alpha=0.05).thresholds
    assert period_alpha(t, "daily") == 0.05
    assert period_alpha(t, "hourly") == pytest.approx(0.05 / 24)


def count_alarms(rng, hours: int, draw) -> dict:
    """Hours with any rejection at the hourly and at the daily level, over clean hours."""
    t = model_config().thresholds
    counts = {"hourly": 0, "daily": 0}
    for _ in range(hours):
        p_values = draw(rng)
        for grain in counts:
            counts[grain] += any(benjamini_hochberg(p_values, period_alpha(t, grain)).rejected)
    return counts


def test_hourly_false_alarm_budget_holds_on_clean_data():
    # Clean hours of 20 numeric and 5 categorical columns (reference and hour drawn from the
    # same law each time), judged on significance alone (every effect counts): an hour raises
    # a false alarm at most at fdr_alpha / 24 per check, so a day at most about fdr_alpha. The
    # same hours judged at the daily level show that the budget is not met by accident.
    n_ref, n_cur, fdr_alpha = 4_000, 2_000, model_config().thresholds.fdr_alpha
    numeric_p = np.full(100, 0.01)
    cat_p = np.array([0.4, 0.25, 0.15, 0.12, 0.05, 0.03])

    def drift(rng):
        out = []
        for j in range(25):
            p = numeric_p if j < 20 else cat_p
            ref, cur = rng.multinomial(n_ref, p), rng.multinomial(n_cur, p)
            out.append((ks_2samp_binned if j < 20 else chi2_contingency_test)(ref, cur).p_value)
        return out

    @functools.cache
    def null_p(ref_nulls: int, cur_nulls: int) -> float:  # counts repeat: test each pair once
        return null_rate_test(ref_nulls, n_ref, cur_nulls, n_cur).p_value

    def nulls(rng):
        return [null_p(rng.binomial(n_ref, 0.05), rng.binomial(n_cur, 0.05)) for _ in range(25)]

    for draw, hours in ((drift, 3_000), (nulls, 4_000)):
        counts = count_alarms(np.random.default_rng(2026), hours, draw)
        budget = hours * fdr_alpha / 24
        assert counts["hourly"] <= 2 * budget, (draw.__name__, counts, budget)
        assert counts["daily"] >= 5 * max(counts["hourly"], 1), (draw.__name__, counts)


def test_drift_on_two_processes_equals_drift_on_one(ran):
    # A long backfill range shares its periods with a spawned process: the same rows, in the
    # same order, value for value (each period is its own Benjamini-Hochberg family).
    end = DAY + dt.timedelta(days=1)
    for grain in ("hourly", "daily"):
        parallel = compute_drift(ran["wh"], ran["model"], grain, DAY, end, workers=2)
        pd.testing.assert_frame_equal(parallel, ran[grain], check_exact=True)
    assert ran["hourly"]["hour_start"].nunique() == len(HOURS) > 1


def test_only_a_long_range_on_two_cores_gets_a_second_process(monkeypatch):
    from modelmon_dagster.defs.drift import assets

    monkeypatch.setattr(assets.os, "sched_getaffinity", lambda pid: {0, 1})
    # 20 columns: 30 days of hours stay in one process, 90 days get a second one
    assert [assets.drift_workers(n, 20) for n in (1, 24, 720, 1999, 2000, 2160)] == [
        1,
        1,
        1,
        1,
        2,
        2,
    ]
    assert assets.drift_workers(720, 100) == 2  # a wide model sooner
    monkeypatch.setattr(assets.os, "sched_getaffinity", lambda pid: {0})
    assert assets.drift_workers(2160, 20) == 1
