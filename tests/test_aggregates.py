"""Aggregates against pandas/numpy on the same rows, on DuckDB and PostgreSQL."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from factories import write_hour, write_reference
from pipeline import Pipeline, only

from modelmon_dagster.baseline import load_baseline
from modelmon_dagster.monitored import monitored_columns
from modelmon_dagster.stats.binning import bin_index
from modelmon_dagster.stats.latency import MAX_RELATIVE_ERROR, latency_bin
from modelmon_dagster.stats.moments import mean_and_variance
from modelmon_dagster.warehouse import Warehouse

DAY = dt.datetime(2026, 11, 16)
HOURS = [DAY + dt.timedelta(hours=h) for h in (0, 1, 5)]
SIZES = [400, 250, 330]


def flatten(records):
    rows = []
    for r in records:
        row = {k: v for k, v in r.items() if k not in ("features", "host")}
        row.update({f"f_{k}": v for k, v in r["features"].items()})
        row["hour"] = dt.datetime.fromisoformat(r["timestamp"].rstrip("Z")).replace(
            minute=0, second=0, microsecond=0
        )
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def ran(settings, demo_config, fraud):
    config = only(demo_config, "fraud_detector")
    write_reference(
        settings.data_dir / fraud.baseline.reference_predictions,
        fraud,
        3000,
        labels_path=settings.data_dir / fraud.baseline.reference_labels,
    )
    written = []
    for hour, n in zip(HOURS, SIZES, strict=True):
        written += write_hour(settings.logs_root, fraud, hour, n, seed=7)
    pipeline = Pipeline(config, settings)
    pipeline.baseline()
    hourly_results = [pipeline.hour(h) for h in HOURS]
    daily_result = pipeline.day(DAY)
    wh = Warehouse(settings.warehouse_url)
    yield {
        "frame": flatten(written),
        "wh": wh,
        "model": fraud,
        "hourly": hourly_results,
        "daily": daily_result,
        "pipeline": pipeline,
    }
    wh.dispose()


def test_hourly_prediction_stats_equal_pandas(ran):
    frame, wh = ran["frame"], ran["wh"]
    stats = wh.query_df("SELECT * FROM hourly_prediction_stats ORDER BY hour_start").set_index(
        "hour_start"
    )
    for hour, group in frame.groupby("hour"):
        row = stats.loc[hour]
        assert row["n_predictions"] == len(group)
        assert row["n_ok"] == (group["status"] == "ok").sum()
        assert row["n_error"] == (group["status"] == "error").sum()
        assert row["latency_sum_ms"] == pytest.approx(group["latency_ms"].sum())
        for q in (0.5, 0.95, 0.99):
            # percentile_cont is linear interpolation, pandas' default
            assert row[f"latency_p{round(q * 100)}_ms"] == pytest.approx(
                group["latency_ms"].quantile(q)
            )
    assert len(stats) == 3


def test_hourly_feature_stats_equal_pandas(ran):
    frame, wh, model = ran["frame"], ran["wh"], ran["model"]
    stats = wh.query_df("SELECT * FROM hourly_feature_stats")
    assert set(stats["column_name"]) == {c.name for c in monitored_columns(model)}
    for (hour, name), row in stats.set_index(["hour_start", "column_name"]).iterrows():
        values = frame.loc[
            frame["hour"] == hour,
            "score" if name == "score" else f"f_{name}" if name != "prediction" else "prediction",
        ]
        assert row["n"] == values.notna().sum()
        assert row["n_null"] == values.isna().sum()
        if (
            row["column_role"] == "feature"
            and name in ("amount", "txn_count_24h")
            or name == "score"
        ):
            numeric = values.astype(float)
            mean, var = mean_and_variance(
                row["n"], row["sum_shifted"], row["sumsq_shifted"], row["shift"]
            )
            assert mean == pytest.approx(numeric.mean(), rel=1e-12)
            assert var == pytest.approx(numeric.var(ddof=1), rel=1e-9)
            assert row["min_value"] == numeric.min() and row["max_value"] == numeric.max()


def test_hourly_histograms_equal_numpy_on_baseline_edges(ran):
    frame, wh, model = ran["frame"], ran["wh"], ran["model"]
    baseline = load_baseline(wh, model)
    hist = wh.query_df(
        "SELECT hour_start, column_name, bin_index, n FROM hourly_feature_histograms"
    )
    assert sorted(baseline.for_column("label").categories) == ["0", "1"]
    for cb in baseline.columns:
        if cb.column.role == "label":
            continue  # labels are not in the prediction log
        name = cb.column.name
        source = {"prediction": "prediction", "score": "score"}.get(name, f"f_{name}")
        for hour, group in frame.groupby("hour"):
            values = group[source].dropna()
            if cb.column.is_numeric:
                expected = np.bincount(
                    bin_index(values.astype(float), np.array(cb.edges)), minlength=cb.n_bins
                )
            else:
                index = {c: i for i, c in enumerate(cb.categories)}
                expected = np.bincount(
                    [index.get(str(v), len(cb.categories)) for v in values], minlength=cb.n_bins
                )
            got = hist[(hist["column_name"] == name) & (hist["hour_start"] == hour)]
            actual = np.zeros(cb.n_bins, dtype=int)
            actual[got["bin_index"].to_numpy(dtype=int)] = got["n"].to_numpy(dtype=int)
            assert actual.tolist() == expected.tolist(), name


def test_daily_rollup_equals_direct_daily_computation(ran):
    frame, wh, model = ran["frame"], ran["wh"], ran["model"]
    daily = wh.query_df("SELECT * FROM daily_prediction_stats").iloc[0]
    assert daily["hours_present"] == 3
    assert daily["n_predictions"] == len(frame) == sum(SIZES)
    assert daily["n_error"] == (frame["status"] == "error").sum()
    assert daily["latency_max_ms"] == frame["latency_ms"].max()
    feats = wh.query_df("SELECT * FROM daily_feature_stats").set_index("column_name")
    amount = frame["f_amount"].astype(float)
    mean, var = mean_and_variance(
        *feats.loc["amount", ["n", "sum_shifted", "sumsq_shifted", "shift"]]
    )
    assert mean == pytest.approx(amount.mean(), rel=1e-12)
    assert var == pytest.approx(amount.var(ddof=1), rel=1e-9)
    # histogram of the whole day == binning all of the day's rows at once
    baseline = load_baseline(wh, model)
    edges = np.array(baseline.for_column("amount").edges)
    expected = np.bincount(bin_index(amount, edges), minlength=len(edges) + 1)
    got = wh.query_df(
        "SELECT bin_index, n FROM daily_feature_histograms WHERE column_name = 'amount'"
    )
    actual = np.zeros(len(edges) + 1, dtype=int)
    actual[got["bin_index"].to_numpy(dtype=int)] = got["n"].to_numpy(dtype=int)
    assert actual.tolist() == expected.tolist()
    lat = wh.query_df("SELECT bin_index, n FROM daily_latency_histogram ORDER BY bin_index")
    expected_lat = pd.Series(latency_bin(frame["latency_ms"])).value_counts().sort_index()
    assert lat["bin_index"].tolist() == expected_lat.index.tolist()
    assert lat["n"].tolist() == expected_lat.tolist()


def test_daily_latency_percentiles_within_stated_bound(ran):
    frame = ran["frame"]
    meta = ran["pipeline"].metadata(ran["daily"], "fraud_detector", "daily_prediction_stats")
    for q in (0.5, 0.95, 0.99):
        exact = np.quantile(frame["latency_ms"], q, method="inverted_cdf")
        estimate = meta[f"latency_p{round(q * 100)}_ms"]
        assert abs(estimate / exact - 1) <= MAX_RELATIVE_ERROR
    assert meta["n_predictions"] == sum(SIZES)


def test_rerunning_an_hour_leaves_the_same_tables(ran):
    wh, pipeline = ran["wh"], ran["pipeline"]
    tables = [
        "hourly_prediction_stats",
        "hourly_feature_stats",
        "hourly_feature_histograms",
        "hourly_latency_histogram",
        "hourly_status_counts",
    ]
    before = {t: wh.query_df(f"SELECT * FROM {t}") for t in tables}
    result = pipeline.hour(HOURS[1])
    # The hour's clean logs went straight into DuckDB (ingest.direct), and the UI says so;
    # PostgreSQL always parses in chunks.
    ingested = pipeline.metadata(result, "fraud_detector", "raw_predictions")
    assert ingested["quarantined_lines"] == 0
    assert ingested["hours_loaded_directly"] == (1 if wh.dialect == "duckdb" else 0)
    assert ingested["direct_load_declined"] == {}
    for t in tables:
        after = wh.query_df(f"SELECT * FROM {t}")
        keys = [c for c in after.columns if c not in ("n", "sum_shifted", "sumsq_shifted")]
        pd.testing.assert_frame_equal(
            after.sort_values(keys).reset_index(drop=True),
            before[t].sort_values(keys).reset_index(drop=True),
        )


def test_an_hour_without_logs_is_recorded_as_zero_volume(ran):
    pipeline, wh = ran["pipeline"], ran["wh"]
    empty_hour = DAY + dt.timedelta(hours=9)
    result = pipeline.hour(empty_hour)
    assert pipeline.metadata(result, "fraud_detector", "raw_predictions")["empty_hour"] is True
    row = wh.query_df(
        "SELECT n_predictions FROM hourly_prediction_stats WHERE hour_start = :h", {"h": empty_hour}
    )
    assert row["n_predictions"].tolist() == [0]
