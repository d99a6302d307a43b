import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelmon_dagster.config import load_config
from modelmon_dagster.ingest import parse_label_files, parse_prediction_files
from modelmon_dagster.logformat import (
    LABELS,
    PREDICTIONS,
    closed_files,
    format_timestamp,
    hour_folder,
)
from modelmon_dagster.registry import EmbeddedRegistry, Trigger
from modelmon_dagster.registry.serving import ServedSpan, ServingPlan, publish_serving_plan
from modelmon_dagster.sim import (
    HOTFIX,
    AbruptDrift,
    ConceptDrift,
    ErrorBurst,
    GradualDrift,
    LabelDrift,
    LatencySpike,
    MalformedLines,
    SchemaBreak,
    SimulationSummary,
    VolumeDrop,
    clean_scenarios,
    demo_deploys,
    demo_scenarios,
    simulate,
)
from modelmon_dagster.sim.__main__ import main
from modelmon_dagster.sim.generator import format_us
from modelmon_dagster.sim.scenarios import to_us
from modelmon_dagster.training.artifacts import builtin_uri, load_model, save_model
from modelmon_dagster.training.contract import TrainingSet
from modelmon_dagster.training.data import feature_frame
from modelmon_dagster.training.trainers import default_classifier
from modelmon_dagster.warehouse import Warehouse

CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "models.yaml"
START = dt.datetime(2026, 11, 16)
FRAUD = "fraud_detector"
DEMAND = "demand_forecaster"


def day(d: int, hour: int = 0) -> dt.datetime:
    return START + dt.timedelta(days=d, hours=hour)


@pytest.fixture(scope="module")
def config():
    return load_config(CONFIG_PATH, today=dt.date(2026, 11, 25))


def only(config, name):
    return dataclasses.replace(config, models=(config.model(name),))


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def read_records(paths) -> list[dict]:
    out = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                record["_file"] = str(path)
                out.append(record)
    return out


def stream_frame(root: Path, stream: str, model: str) -> pd.DataFrame:
    files = sorted((root / "logs" / stream / model).rglob("*.jsonl"))
    frame = pd.DataFrame(read_records(files))
    if stream == PREDICTIONS:
        frame["ts"] = pd.to_datetime(frame["timestamp"]).dt.tz_localize(None)
        frame = pd.concat([frame, pd.json_normalize(frame["features"].tolist())], axis=1)
    else:
        frame["label_ts"] = pd.to_datetime(frame["label_timestamp"]).dt.tz_localize(None)
    return frame


def parse_hour(root: Path, model, hour: dt.datetime):
    files = closed_files(hour_folder(root / "logs", PREDICTIONS, model.name, hour))
    assert files, f"no prediction file for {hour}"
    return parse_prediction_files(files, model, hour)


def line_count(root: Path, model: str, hour: dt.datetime) -> int:
    path = hour_folder(root / "logs", PREDICTIONS, model, hour) / "sim.jsonl"
    return len(path.read_text().splitlines())


# -- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path, config):
    scenarios = demo_scenarios(START)
    runs = {}
    for name, seed in [("a", 7), ("b", 7), ("c", 8)]:
        runs[name] = simulate(
            config, tmp_path / name, day(4), 1, seed=seed, scenarios=scenarios, reference_size=500
        )
    a, b, c = (tree(tmp_path / n) for n in "abc")
    assert len(a) > 48  # 24 prediction files per model, label files, 4 reference files
    assert a == b
    assert runs["a"] == dataclasses.replace(runs["b"], data_dir=runs["a"].data_dir)
    prediction_files = [k for k in a if k.startswith(f"logs/{PREDICTIONS}/")]
    assert prediction_files and all(a[k] != c.get(k) for k in prediction_files)
    assert runs["c"].model(FRAUD).predictions != runs["a"].model(FRAUD).predictions


def test_rerun_overwrites_the_hours_it_writes(tmp_path, config):
    fraud = only(config, FRAUD)
    simulate(fraud, tmp_path, day(0), 1, seed=3, reference_size=200)
    first = tree(tmp_path)
    hour = day(0, 5)
    pred_folder = hour_folder(tmp_path / "logs", PREDICTIONS, FRAUD, hour)
    (pred_folder / "sim.jsonl").write_text("garbage\n")
    (pred_folder / "other-writer.jsonl").write_text("{}\n")
    (pred_folder / ".other-writer.jsonl.open").write_text("{}\n")
    label_folder = hour_folder(tmp_path / "logs", LABELS, FRAUD, day(0, 1))
    label_folder.mkdir(parents=True, exist_ok=True)
    (label_folder / "stale.jsonl").write_text("{}\n")
    simulate(fraud, tmp_path, day(0), 1, seed=3, reference_size=200)
    assert tree(tmp_path) == first


def test_an_hour_does_not_depend_on_the_simulated_window(tmp_path, config):
    fraud = only(config, FRAUD)
    scenarios = demo_scenarios(START)
    simulate(fraud, tmp_path / "long", day(2), 2, scenarios=scenarios, reference_size=0)
    simulate(fraud, tmp_path / "short", day(3), 1, scenarios=scenarios, reference_size=0)
    short = {k: v for k, v in tree(tmp_path / "short").items() if "/predictions/" in f"/{k}"}
    long_ = tree(tmp_path / "long")
    assert len(short) == 24
    assert all(long_[k] == v for k, v in short.items())


def test_resimulating_from_a_plan_change_rewrites_exactly_what_a_new_run_would(tmp_path, config):
    fraud = only(config, FRAUD)
    scenarios = demo_scenarios(START)
    change = day(1, 13)
    plan = {FRAUD: ServingPlan(FRAUD, (ServedSpan(change, "v2", builtin_uri("v2")),))}
    simulate(fraud, tmp_path / "new", day(0), 3, scenarios=scenarios, serving=plan)
    simulate(fraud, tmp_path / "again", day(0), 3, scenarios=scenarios, serving={})
    before = tree(tmp_path / "again")
    summary = simulate(
        fraud, tmp_path / "again", day(0), 3, scenarios=scenarios, serving=plan, since=change
    )
    after = tree(tmp_path / "again")
    assert after == tree(tmp_path / "new")
    assert summary.model(FRAUD).served_versions == ("v1", "v2")
    changed = {k for k in after if before.get(k) != after[k]}
    # here only prediction files from the change on differ (v2 answers; no scenario names v2)
    assert changed and all("/predictions/" in f"/{k}" for k in changed)
    assert min(changed) >= f"logs/predictions/{FRAUD}/{change:%Y-%m-%d}/{change:%H}"


def test_timestamp_formatting_matches_logformat():
    stamps = [dt.datetime(2026, 11, 16, 0, 0), dt.datetime(2026, 11, 18, 23, 59, 59, 999999)]
    stamps.append(dt.datetime(2027, 1, 1, 7, 3, 9, 120))
    us = np.array([to_us(s) for s in stamps], dtype=np.int64)
    assert format_us(us) == [format_timestamp(s) for s in stamps]


# -- a clean simulation parses cleanly ----------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("clean")
    summary = simulate(
        config, root, START, 1, seed=11, scenarios=clean_scenarios, reference_size=4000
    )
    return root, summary


def test_clean_simulation_parses_without_quarantine(clean, config):
    root, summary = clean
    assert isinstance(summary, SimulationSummary)
    for model in config.models:
        counts = summary.model(model.name)
        assert counts.hours == 24 and counts.malformed_lines == 0 and counts.schema_broken == 0
        frames = []
        for h in range(24):
            hour = START + dt.timedelta(hours=h)
            batch = parse_hour(root, model, hour)
            assert batch.quarantine.num_rows == 0, batch.quarantine.to_pylist()[:3]
            assert batch.rows.num_rows == line_count(root, model.name, hour)
            frames.append(batch.rows.to_pandas())
        rows = pd.concat(frames)
        assert len(rows) == counts.predictions
        assert rows["schema_errors"].isna().all()
        assert set(rows["model_version"]) == {"v1"}
        assert rows["ts"].is_monotonic_increasing
        ok = rows["status"] == "ok"
        assert 0.001 < (~ok).mean() < 0.01
        assert rows.loc[~ok, ["prediction_label", "prediction_value", "score"]].isna().all().all()
        assert rows.loc[~ok, "error_type"].notna().all()
        assert rows["host_gpu_pct"].isna().all() and rows["host_cpu_pct"].notna().all()
        expected_volume = 600 if model.name == FRAUD else 150
        assert 0.85 * expected_volume < len(rows) / 24 < 1.15 * expected_volume
        if model.name == FRAUD:
            scores = rows.loc[ok, "score"]
            assert scores.between(0, 1).all()
            predicted = np.where(scores >= 0.5, "1", "0")
            assert (rows.loc[ok, "prediction_label"] == predicted).all()
            assert 0.05 < rows["f_device_type"].isna().mean() < 0.2  # optional, sometimes absent
            assert np.median(rows.loc[ok, "latency_ms"]) == pytest.approx(15, rel=0.15)
        else:
            assert rows.loc[ok, "prediction_value"].notna().all() and rows["score"].isna().all()
            assert np.median(rows.loc[ok, "latency_ms"]) == pytest.approx(60, rel=0.15)

        label_files = sorted((root / "logs" / LABELS / model.name).rglob("*.jsonl"))
        labels = parse_label_files(label_files, model)
        assert labels.quarantine.num_rows == 0
        assert labels.rows.num_rows == counts.labels > 0
        assert counts.files == 24 + len(label_files)

        ref = parse_prediction_files([root / model.baseline.reference_predictions], model)
        ref_labels = parse_label_files([root / model.baseline.reference_labels], model)
        assert ref.quarantine.num_rows == 0 and ref_labels.quarantine.num_rows == 0
        assert ref.rows.num_rows == counts.reference_predictions == 4000
        assert ref_labels.rows.num_rows == counts.reference_labels
        ref_ts = ref.rows.to_pandas()["ts"].dt.tz_localize(None)
        assert ref_ts.min() >= START - dt.timedelta(days=7) and ref_ts.max() < START


def test_reference_labels_have_the_configured_delay(clean, config):
    root, _ = clean
    for model in config.models:
        preds = pd.DataFrame(read_records([root / model.baseline.reference_predictions]))
        labels = pd.DataFrame(read_records([root / model.baseline.reference_labels]))
        joined = preds.merge(labels, on="prediction_id", how="left", validate="1:1")
        assert joined.loc[joined["status"] != "ok", "label"].isna().all()
        ok = joined[joined["status"] == "ok"]
        missing = ok["label"].isna().mean()
        delay = (
            pd.to_datetime(ok["label_timestamp"]) - pd.to_datetime(ok["timestamp"])
        ).dt.total_seconds() / 3600
        assert delay.max() <= model.label_delay.max_hours
        assert delay.median() == pytest.approx(model.label_delay.expected_hours, rel=0.08)
        if model.name == FRAUD:
            assert 0.03 < missing < 0.07
            assert set(labels["label"]) == {"0", "1"}
            base_rate = (ok["label"] == "1").sum() / ok["label"].notna().sum()
            assert 0.025 < base_rate < 0.06
            # v1 is calibrated: its mean score matches the base rate.
            assert ok["score"].mean() == pytest.approx(base_rate, abs=0.01)
        else:
            assert missing < 0.03
            assert delay.std() == pytest.approx(3, rel=0.25)
            assert all(isinstance(v, float) for v in labels["label"])
            bias = (ok["prediction"] - ok["label"]).mean() / ok["label"].mean()
            assert abs(bias) < 0.05


# -- injected faults -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fraud_day4(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("day4")
    summary = simulate(
        only(config, FRAUD), root, day(4), 1, scenarios=demo_scenarios(START), reference_size=0
    )
    return root, summary


def test_malformed_lines_are_quarantined_one_for_one(fraud_day4, config):
    root, summary = fraud_day4
    counts = summary.model(FRAUD)
    model = config.model(FRAUD)
    assert counts.malformed_by_hour and {h for h, _ in counts.malformed_by_hour} == {day(4, 9)}
    for hour in (day(4, 8), day(4, 9), day(4, 10)):
        batch = parse_hour(root, model, hour)
        injected = counts.malformed_in(hour)
        assert batch.quarantine.num_rows == injected
        assert batch.rows.num_rows + injected == line_count(root, FRAUD, hour)
        if hour == day(4, 9):
            assert 0.01 < injected / line_count(root, FRAUD, hour) < 0.06
            reasons = set(batch.quarantine.column("reason").to_pylist())
            assert reasons == {"invalid JSON", "not a JSON object"}
        else:
            assert injected == 0
    assert counts.malformed_lines == counts.malformed_in(day(4, 9))


def test_schema_breakage_shows_in_schema_errors(fraud_day4, config):
    root, summary = fraud_day4
    counts = summary.model(FRAUD)
    model = config.model(FRAUD)
    for hour in (day(4, 11), day(4, 12), day(4, 13), day(4, 14)):
        rows = parse_hour(root, model, hour).rows.to_pandas()
        errors = rows["schema_errors"].fillna("")
        age_type = errors.str.contains("account_age_days:type")
        merchant_missing = errors.str.contains("merchant_category:missing")
        assert (errors != "").sum() == counts.schema_broken_in(hour)
        if hour in (day(4, 12), day(4, 13)):
            assert age_type.mean() == pytest.approx(0.3, abs=0.06)
            assert merchant_missing.mean() == pytest.approx(0.2, abs=0.06)
            assert rows.loc[age_type, "f_account_age_days"].isna().all()
            assert rows.loc[~age_type, "f_account_age_days"].notna().all()
            assert set(errors.str.split(",").explode()) <= {
                "",
                "account_age_days:type",
                "merchant_category:missing",
            }
        else:
            assert (errors == "").all()


@pytest.fixture(scope="module")
def fraud_days23(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("days23")
    simulate(
        only(config, FRAUD), root, day(2), 2, scenarios=demo_scenarios(START), reference_size=0
    )
    return root, stream_frame(root, PREDICTIONS, FRAUD)


def test_abrupt_drift_scales_amount_and_shifts_country_mix(fraud_days23, config):
    root, preds = fraud_days23
    model = config.model(FRAUD)
    clean_hour = parse_hour(root, model, day(2, 10)).rows.to_pandas()
    drifted_hour = parse_hour(root, model, day(3, 10)).rows.to_pandas()
    ratio = drifted_hour["f_amount"].mean() / clean_hour["f_amount"].mean()
    assert 1.4 < ratio < 2.3
    by_day = preds.groupby(preds["ts"].dt.day)
    day_ratio = by_day["amount"].mean().iloc[1] / by_day["amount"].mean().iloc[0]
    assert day_ratio == pytest.approx(1.8, rel=0.08)
    median_ratio = by_day["amount"].median().iloc[1] / by_day["amount"].median().iloc[0]
    assert median_ratio == pytest.approx(1.8, rel=0.08)
    ng = by_day["country"].apply(lambda s: (s == "NG").mean())
    us = by_day["country"].apply(lambda s: (s == "US").mean())
    assert ng.iloc[1] > 2.5 * ng.iloc[0] and us.iloc[1] < 0.75 * us.iloc[0]
    # other inputs do not move
    distance = by_day["distance_from_home_km"].median()
    assert distance.iloc[1] == pytest.approx(distance.iloc[0], rel=0.1)


def test_latency_spike_multiplies_latency(fraud_days23):
    _, preds = fraud_days23
    ok = preds[preds["status"] == "ok"]
    hour = ok["ts"].dt.floor("h")
    spiked = ok.loc[(hour >= day(2, 14)) & (hour < day(2, 17)), "latency_ms"].median()
    before = ok.loc[(hour >= day(2, 10)) & (hour < day(2, 14)), "latency_ms"].median()
    after = ok.loc[(hour >= day(2, 17)) & (hour < day(2, 20)), "latency_ms"].median()
    assert spiked / before == pytest.approx(6, rel=0.15)
    assert after / before == pytest.approx(1, rel=0.15)


def test_demand_error_burst_volume_drop_and_gradual_drift(tmp_path, config):
    demand = only(config, DEMAND)
    simulate(demand, tmp_path, day(1), 4, scenarios=demo_scenarios(START), reference_size=0)
    preds = stream_frame(tmp_path, PREDICTIONS, DEMAND)
    hour = preds["ts"].dt.floor("h")
    burst = preds[hour == day(1, 20)]
    failed = burst["status"] != "ok"
    assert 0.1 < failed.mean() < 0.32
    assert set(burst.loc[failed, "status"]) == {"error", "timeout"}
    assert burst.loc[failed, "prediction"].isna().all()
    assert (preds.loc[hour == day(1, 19), "status"] != "ok").mean() < 0.05
    dropped = ((hour >= day(4, 6)) & (hour < day(4, 12))).sum()
    normal = ((hour >= day(3, 6)) & (hour < day(3, 12))).sum()
    assert dropped / normal == pytest.approx(0.2, abs=0.06)
    temperature = preds.groupby(preds["ts"].dt.day)["temperature_c"].mean()
    # +4 degC over days 2-10: on average +0.25 on day 2, +1.25 on day 4
    assert temperature.iloc[1] - temperature.iloc[0] == pytest.approx(0.25, abs=0.6)  # day 2
    assert temperature.iloc[3] - temperature.iloc[0] == pytest.approx(1.25, abs=0.6)  # day 4


# -- outcome drift -------------------------------------------------------------------------------


def accuracy_table(root: Path) -> pd.DataFrame:
    preds = stream_frame(root, PREDICTIONS, FRAUD)
    labels = stream_frame(root, LABELS, FRAUD)
    joined = preds.merge(labels, on="prediction_id", validate="1:1")
    joined["after"] = joined["ts"] >= day(5)
    joined["correct"] = joined["prediction"] == joined["label"]
    positives = joined[joined["label"] == "1"]
    return pd.DataFrame(
        {
            "accuracy": joined.groupby("after")["correct"].mean(),
            "recall": positives.groupby("after")["correct"].mean(),
            "score": joined.groupby("after")["score"].mean(),
            "n": joined.groupby("after").size(),
        }
    )


@pytest.fixture(scope="module")
def concept_runs(tmp_path_factory, config):
    fraud = only(config, FRAUD)
    scenarios = demo_scenarios(START)
    without = [s for s in scenarios if not isinstance(s, ConceptDrift)]
    roots = {}
    for name, scen in [("drift", scenarios), ("no_drift", without)]:
        roots[name] = tmp_path_factory.mktemp(name)
        simulate(fraud, roots[name], day(4), 3, scenarios=scen, reference_size=0)
    return roots


def test_concept_drift_changes_labels_not_predictions(concept_runs):
    drift, no_drift = tree(concept_runs["drift"]), tree(concept_runs["no_drift"])
    preds = [k for k in drift if k.startswith(f"logs/{PREDICTIONS}/")]
    assert len(preds) == 72 and all(drift[k] == no_drift[k] for k in preds)
    assert any(v != no_drift.get(k) for k, v in drift.items() if k.startswith(f"logs/{LABELS}/"))

    table = accuracy_table(concept_runs["drift"])
    assert table["n"].min() > 3000
    before, after = table.loc[False], table.loc[True]
    assert before["accuracy"] - after["accuracy"] > 0.01
    assert before["recall"] > 0.25 and after["recall"] < 0.12
    control = accuracy_table(concept_runs["no_drift"])
    assert abs(control.loc[False, "accuracy"] - control.loc[True, "accuracy"]) < 0.01
    assert control.loc[True, "recall"] > 0.25


def test_label_files_follow_their_predictions(concept_runs, config):
    root = concept_runs["drift"]
    end = day(7)
    preds = stream_frame(root, PREDICTIONS, FRAUD)
    labels = stream_frame(root, LABELS, FRAUD)
    preds = preds.drop(columns="_file")
    joined = labels.merge(preds, on="prediction_id", how="left", validate="1:1")
    # labels of predictions lost to malformed lines (day 4 09:00) arrive as orphans
    orphans = joined["ts"].isna()
    assert orphans.sum() < 30
    joined = joined[~orphans]
    assert (joined["status"] == "ok").all()
    assert (joined["label_ts"] > joined["ts"]).all()
    assert (joined["label_ts"] < end).all()
    delay_h = (joined["label_ts"] - joined["ts"]).dt.total_seconds() / 3600
    assert delay_h.max() <= config.model(FRAUD).label_delay.max_hours
    # each file sits in the folder of its arrival hour, never before its prediction's hour
    folder_hour = pd.to_datetime(
        joined["_file"].str.extract(r"/(\d{4}-\d{2}-\d{2})/(\d{2})/").agg(" ".join, axis=1) + ":00"
    )
    assert (folder_hour == joined["label_ts"].dt.floor("h")).all()
    assert (folder_hour >= joined["ts"].dt.floor("h")).all()
    # delays of day-4 predictions are censored at the window end (>= 48 h away)
    early = delay_h[joined["ts"] < day(4, 1)]
    assert early.median() == pytest.approx(42, rel=0.08)
    assert not list((root / "logs" / LABELS / FRAUD).glob(f"{end:%Y-%m-%d}"))


def test_label_drift_biases_the_demand_model(tmp_path, config):
    demand = only(config, DEMAND)
    scenarios = [LabelDrift(model_name=DEMAND, start=day(0, 12), outcome_scale=1.3)]
    simulate(demand, tmp_path, day(0), 2, scenarios=scenarios, reference_size=0)
    preds = stream_frame(tmp_path, PREDICTIONS, DEMAND)
    labels = stream_frame(tmp_path, LABELS, DEMAND)
    joined = preds.merge(labels, on="prediction_id", validate="1:1")
    joined["after"] = joined["ts"] >= day(0, 12)
    bias = joined.groupby("after").apply(
        lambda g: g["prediction"].mean() / g["label"].mean() - 1, include_groups=False
    )
    assert abs(bias.loc[False]) < 0.05
    assert bias.loc[True] == pytest.approx(1 / 1.3 - 1, abs=0.05)


# -- served version and config ------------------------------------------------------------------


def _registry_with(tmp_path, *activations):
    """An embedded registry (DuckDB) whose champion changes at the given times."""
    wh = Warehouse(f"duckdb:///{tmp_path / 'registry.duckdb'}")
    registry = EmbeddedRegistry(wh)
    for at, version, uri in activations:
        registry.register(FRAUD, uri, Trigger("test"), at, version=version)
        registry.promote(FRAUD, version, Trigger("test"), at)
    return registry, wh


def test_served_version_comes_from_the_registry(tmp_path, config):
    fraud = only(config, FRAUD)
    simulate(fraud, tmp_path / "v1", day(0), 1, reference_size=300)
    registry, wh = _registry_with(
        tmp_path, (day(0), "v1", builtin_uri("v1")), (day(0, 12), "v2", builtin_uri("v2"))
    )
    publish_serving_plan(registry, FRAUD, tmp_path / "v2")
    wh.dispose()
    summary = simulate(fraud, tmp_path / "v2", day(0), 1, reference_size=300)
    assert summary.model(FRAUD).served_versions == ("v1", "v2")
    assert summary.model(FRAUD).model_version == "v2"
    v1 = stream_frame(tmp_path / "v1", PREDICTIONS, FRAUD)
    v2 = stream_frame(tmp_path / "v2", PREDICTIONS, FRAUD)
    after = v2["ts"] >= day(0, 12)
    assert set(v2.loc[after, "model_version"]) == {"v2"}
    assert set(v2.loc[~after, "model_version"]) == {"v1"} == set(v1["model_version"])
    assert v1["prediction_id"].tolist() == v2["prediction_id"].tolist()
    assert v1["features"].tolist() == v2["features"].tolist()
    ok = v1["status"] == "ok"
    assert (v1.loc[ok & after, "score"] != v2.loc[ok & after, "score"]).mean() > 0.9
    assert v1.loc[~after, "score"].equals(v2.loc[~after, "score"])
    reference = read_records([tmp_path / "v2" / fraud.model(FRAUD).baseline.reference_predictions])
    assert {r["model_version"] for r in reference} == {"v1"}

    unknown = ServingPlan(FRAUD, (ServedSpan(day(0), "v9", builtin_uri("v9")),))
    with pytest.raises(ValueError, match="v9"):
        simulate(fraud, tmp_path / "v2", day(0), 1, serving={FRAUD: unknown})


def test_simulator_serves_a_trained_artifact(tmp_path, config):
    fraud = only(config, FRAUD)
    model = fraud.model(FRAUD)
    simulate(fraud, tmp_path / "train", day(0), 1, reference_size=0)
    logged = stream_frame(tmp_path / "train", PREDICTIONS, FRAUD)
    labels = stream_frame(tmp_path / "train", LABELS, FRAUD)
    rows = logged.merge(labels[["prediction_id", "label"]], on="prediction_id")
    training = TrainingSet(
        model, feature_frame(model.features, rows), rows["label"].astype(str).to_numpy(), None
    )
    uri = save_model(
        tmp_path / "models" / "v3", default_classifier(training), model, "default_classifier"
    )
    plan = ServingPlan(FRAUD, (ServedSpan(day(1, 6), "v3", uri),))
    summary = simulate(
        fraud, tmp_path / "serve", day(1), 1, reference_size=0, serving={FRAUD: plan}
    )
    assert summary.model(FRAUD).served_versions == ("v1", "v3")
    served = stream_frame(tmp_path / "serve", PREDICTIONS, FRAUD)
    mine = served[(served["model_version"] == "v3") & (served["status"] == "ok")]
    assert (
        len(mine) > 1000 and (served.loc[served["ts"] < day(1, 6), "model_version"] == "v1").all()
    )
    expected = load_model(uri).predict(mine)
    np.testing.assert_allclose(mine["score"].to_numpy(), expected.score, atol=1e-6)
    assert (mine["prediction"].to_numpy() == expected.prediction).all()


def test_invalid_scenarios_are_rejected(tmp_path, config):
    bad = [
        AbruptDrift(model_name=FRAUD, start=START, feature="no_such_feature", scale=2.0),
        AbruptDrift(model_name=FRAUD, start=START, feature="country", category_weights={"XX": 2}),
        AbruptDrift(model_name=FRAUD, start=START, feature="country", scale=2.0),
        SchemaBreak(model_name=FRAUD, start=START, feature="country", fraction=0.1, mode="string"),
    ]
    for scenario in bad:
        with pytest.raises(ValueError):
            simulate(config, tmp_path, START, 1, scenarios=[scenario])
    with pytest.raises(ValueError):
        GradualDrift(model_name=DEMAND, start=START, feature="price", scale=2.0)
    with pytest.raises(ValueError):
        LatencySpike(model_name=FRAUD, start=day(1), end=day(0), factor=2.0)
    with pytest.raises(ValueError):
        simulate(config, tmp_path, day(0, 0) + dt.timedelta(minutes=30), 1)
    assert not (tmp_path / "logs").exists()


def test_demo_preset_matches_its_documented_table():
    scenarios = demo_scenarios(START)
    by_kind = {}
    for s in scenarios:
        by_kind.setdefault((s.model_name, type(s)), []).append(s)
    assert [s.start for s in by_kind[(FRAUD, LatencySpike)]] == [day(2, 14)]
    assert by_kind[(FRAUD, LatencySpike)][0].factor == 6.0
    assert {s.feature for s in by_kind[(FRAUD, AbruptDrift)]} == {"amount", "country"}
    assert all(s.start == day(3) and s.end is None for s in by_kind[(FRAUD, AbruptDrift)])
    assert {(s.feature, s.fraction) for s in by_kind[(FRAUD, SchemaBreak)]} == {
        ("account_age_days", 0.3),
        ("merchant_category", 0.2),
    }
    assert by_kind[(FRAUD, MalformedLines)][0].start == day(4, 9)
    assert by_kind[(FRAUD, ConceptDrift)][0].start == day(5)
    assert by_kind[(FRAUD, ErrorBurst)][0].rate == 0.15
    assert by_kind[(DEMAND, ErrorBurst)][0].start == day(1, 20)
    # the bad deploy: errors and latency only on requests its version serves
    hotfix = [s for s in scenarios if getattr(s, "version", None) == HOTFIX]
    assert {type(s) for s in hotfix} == {ErrorBurst, LatencySpike}
    assert all(s.start == day(8) and s.model_name == DEMAND for s in hotfix)
    assert [(d.model_name, d.version, d.at) for d in demo_deploys(START)] == [
        (DEMAND, HOTFIX, day(8))
    ]
    assert by_kind[(DEMAND, GradualDrift)][0].end == day(10)
    assert by_kind[(DEMAND, VolumeDrop)][0].factor == 0.2
    assert by_kind[(DEMAND, LabelDrift)][0].outcome_scale == 1.3
    # days 0-1 of fraud and day 0 of demand are clean
    assert min(s.start for s in scenarios if s.model_name == FRAUD) >= day(2)
    assert min(s.start for s in scenarios if s.model_name == DEMAND) >= day(1)
    doc = demo_scenarios.__doc__
    assert all(type(s).__name__ in doc for s in scenarios)
    assert clean_scenarios == []


def test_cli_prints_the_summary(tmp_path, capsys):
    code = main(
        [
            "--config",
            str(CONFIG_PATH),
            "--data-dir",
            str(tmp_path),
            "--start",
            "2026-11-16",
            "--days",
            "1",
            "--seed",
            "5",
            "--preset",
            "clean",
            "--reference-size",
            "100",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert FRAUD in out and DEMAND in out and "2026-11-16 00:00" in out
    assert (tmp_path / "reference" / FRAUD / "predictions.jsonl").exists()
    assert len(list((tmp_path / "logs" / PREDICTIONS / DEMAND).rglob("sim.jsonl"))) == 24
