"""The README's "Monitor your own model" walkthrough, from an empty folder, through the CLI.

A small batch-scored churn classifier of its own (no latency, its own features and classes,
a decision threshold of 0.65), written in the documented record formats: ``modelmon init``,
``validate``, ``backfill`` over two days and then three (resuming, and re-measuring the day
whose labels arrived later), ``status``, and a last backfill with nothing left to do.
"""

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

import modelmon_dagster
from modelmon_dagster.config import parse_config
from modelmon_dagster.ingest.parser import parse_label_files, parse_prediction_files
from modelmon_dagster.warehouse import Warehouse

PROJECT = Path(modelmon_dagster.__file__).resolve().parents[1]
MODEL = "churn_scorer"
THRESHOLD = 0.65  # the README config's decision_threshold
README = (PROJECT / "README.md").read_text()
SECTION = README.split("\n## Monitor your own model\n")[1].split("\n## ")[0]


def blocks(language: str) -> list[str]:
    return [b.split("```")[0] for b in SECTION.split(f"```{language}\n")[1:]]


# The walkthrough's own config, with a start date a few days back (the logs are recent).
CONFIG = re.sub(r'start_date: "[^"]+"', 'start_date: "-5d"', blocks("yaml")[0])
PLANS = ["basic", "plus", "pro"]
REGIONS = ["north", "south", "east", "west"]


def customer(rng: np.random.Generator, pid: str, ts: dt.datetime) -> tuple[dict, dict | None]:
    """One prediction record of the batch scorer, and the label it will get."""
    tenure = float(rng.gamma(2.0, 12.0))
    spend = float(rng.lognormal(3.5, 0.4))
    calls = int(rng.poisson(1.2))
    plan = PLANS[int(rng.integers(3))]
    logit = -1.0 - 0.04 * tenure + 0.6 * calls + 0.01 * spend + (0.5 if plan == "basic" else 0)
    p = 1 / (1 + np.exp(-logit))  # a calibrated score
    features = {"tenure_months": round(tenure, 2), "monthly_spend": round(spend, 2)}
    features |= {"support_calls": calls, "plan": plan}
    if rng.random() > 0.1:  # optional feature, sometimes absent
        features["region"] = REGIONS[int(rng.integers(4))]
    record = {
        "prediction_id": pid,
        "model_name": MODEL,
        "model_version": "2026.1",
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "features": features,
        "prediction": "churn" if p >= THRESHOLD else "stay",
        "score": round(float(p), 6),
        "status": "ok",
    }
    label = {
        "prediction_id": pid,
        "model_name": MODEL,
        "label": "churn" if rng.random() < p else "stay",
    }
    return record, label


def write_jsonl(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def write_data(data: Path, today: dt.date, rng: np.random.Generator) -> list[dt.date]:
    """Reference (3 days, every hour of the day) and three days of logs with late labels."""
    ref_start = dt.datetime.combine(today - dt.timedelta(days=30), dt.time())
    preds, labels = [], []
    for i in range(3000):
        ts = ref_start + dt.timedelta(seconds=float(rng.uniform(0, 3 * 86400)))
        record, label = customer(rng, f"ref-{i}", ts)
        preds.append(record)
        labels.append(label | {"label_timestamp": record["timestamp"]})
    write_jsonl(data / "reference" / MODEL / "predictions.jsonl", preds)
    write_jsonl(data / "reference" / MODEL / "labels.jsonl", labels)

    days = [today - dt.timedelta(days=d) for d in (3, 2, 1)]
    arrivals: dict[dt.datetime, list] = {}
    for day in days:
        for hour in range(24):
            start = dt.datetime.combine(day, dt.time(hour))
            records = []
            for i in range(40):
                ts = start + dt.timedelta(seconds=float(rng.uniform(0, 3600)))
                record, label = customer(rng, f"{start:%Y%m%d%H}-{i}", ts)
                records.append(record)
                arrived = ts + dt.timedelta(hours=float(rng.uniform(2, 20)))
                label["label_timestamp"] = arrived.strftime("%Y-%m-%dT%H:%M:%SZ")
                arrivals.setdefault(arrived.replace(minute=0, second=0, microsecond=0), [])
                arrivals[arrived.replace(minute=0, second=0, microsecond=0)].append(label)
            folder = data / "logs" / "predictions" / MODEL / f"{day}" / f"{hour:02d}"
            write_jsonl(folder / "scorer-1.jsonl", records)
    for hour, batch in arrivals.items():
        folder = data / "logs" / "labels" / MODEL / f"{hour:%Y-%m-%d}" / f"{hour:%H}"
        write_jsonl(folder / "crm-export.jsonl", batch)
    # One malformed line: validate must say it would be quarantined, and why.
    last = data / "logs" / "predictions" / MODEL / f"{days[-1]}" / "23" / "scorer-1.jsonl"
    with last.open("a") as f:
        f.write('{"prediction_id": "x", "model_name": "churn_scorer"}\n')
    return days


def modelmon(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("MODELMON_WAREHOUSE_URL", None)
    env |= {  # as the README's walkthrough exports them
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "MODELMON_CONFIG": str(folder / "models.yaml"),
        "MODELMON_DATA_DIR": str(folder / "data"),
        "PYTHONPATH": str(PROJECT),
    }
    return subprocess.run(
        [sys.executable, "-m", "modelmon_dagster.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own_model")
    (folder / "models.yaml").write_text(CONFIG)
    today = dt.datetime.now(dt.UTC).date()
    days = write_data(folder / "data", today, np.random.default_rng(7))
    steps = {"init": modelmon(folder, "init")}
    steps["validate"] = modelmon(folder, "validate")
    first, last = str(days[0]), str(days[-1])
    # Two days, then all three: the second resumes, and re-measures the second day, whose
    # last labels arrive on the third.
    steps["part"] = modelmon(folder, "backfill", MODEL, "--from", first, "--to", str(days[1]))
    steps["backfill"] = modelmon(folder, "backfill", MODEL, "--from", first, "--to", last)
    steps["status"] = modelmon(folder, "status")
    steps["again"] = modelmon(folder, "backfill", MODEL, "--from", first, "--to", last)
    return folder, days, steps


def test_init_writes_the_instance_file(walkthrough):
    folder, _, steps = walkthrough
    assert steps["init"].returncode == 0, steps["init"].stderr
    assert "pools" in (folder / "dagster_home" / "dagster.yaml").read_text()


def test_validate_reports_the_quarantined_line_and_why(walkthrough):
    _, _, steps = walkthrough
    out = steps["validate"]
    assert out.returncode == 0, out.stdout + out.stderr
    assert "would be quarantined" in out.stdout
    assert "quarantined (1): missing model_version" in out.stdout
    assert "reference 2026.1" in out.stdout and "ready to backfill" in out.stdout


def test_backfill_records_every_hours_and_days_checks(walkthrough):
    folder, days, steps = walkthrough
    assert steps["part"].returncode == 0, steps["part"].stdout + steps["part"].stderr
    out = steps["backfill"]
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ETA" in out.stdout
    assert "skipped partitions already materialised: 48 hourly, 2 daily" in out.stdout
    refreshed = f"running {MODEL} performance {days[1]} (labels arrived since)"
    assert refreshed in out.stdout, out.stdout
    wh = Warehouse(f"duckdb:///{folder / 'data' / 'warehouse.duckdb'}")
    try:
        results = wh.query_df(
            "SELECT grain, check_name, status, count(*) AS n, "
            "count(DISTINCT partition_key) AS partitions FROM check_results "
            "GROUP BY grain, check_name, status"
        )
        raw = wh.scalar(f"SELECT count(*) FROM {MODEL}__raw_predictions")
        null_latency = wh.scalar(
            f"SELECT count(*) FROM {MODEL}__raw_predictions WHERE latency_ms IS NULL"
        )
    finally:
        wh.dispose()
    assert raw == null_latency == 3 * 24 * 40  # batch scorer: no latency, nothing quarantined
    hourly = results[results.grain == "hourly"].groupby("check_name")["partitions"].sum()
    daily = results[results.grain == "daily"].groupby("check_name")["partitions"].sum()
    for check in ("schema", "data_quality", "feature_drift", "latency"):
        assert hourly[check] == 72, check  # every hour judged or stated not judged
    for check in ("feature_drift", "performance", "estimated_performance"):
        assert daily[check] == 3, check
    latency = results[(results.check_name == "latency")]
    assert set(latency.status) == {"not_judged"}  # no latency: not judged, never failed
    judged = results[(results.grain == "daily") & (results.check_name == "performance")]
    assert set(judged.status) <= {"passed", "failed"}  # 960 predictions a day, labelled


def test_the_pre_label_estimate_uses_the_models_decision_threshold(walkthrough):
    folder, _, _ = walkthrough
    wh = Warehouse(f"duckdb:///{folder / 'data' / 'warehouse.duckdb'}")
    try:
        ref = wh.query_df(
            "SELECT metric, value FROM baseline_performance WHERE segment_column = '__all__'"
        ).set_index("metric")["value"]
        day = wh.query_df(
            "SELECT day_start, kind, metric, value FROM daily_performance "
            "WHERE segment_column = '__all__' AND coverage = 1 "
            "AND metric IN ('accuracy', 'roc_auc')"
        ).pivot_table(index="day_start", columns=["kind", "metric"], values="value")
    finally:
        wh.dispose()
    assert ref["decision_threshold"] == THRESHOLD
    # on the reference, the estimate describes the deployed rule (score >= 0.65)
    assert abs(ref["estimated_accuracy"] - ref["accuracy"]) < 0.015
    assert abs(ref["estimated_roc_auc"] - ref["roc_auc"]) < 0.015
    # fully labelled days: estimate and realised agree within sampling error (960 a day)
    for metric in ("accuracy", "roc_auc"):
        gap = (day[("estimated", metric)] - day[("realised", metric)]).abs()
        assert len(gap) >= 1 and (gap < 0.05).all(), metric


def test_status_shows_partitions_and_label_coverage(walkthrough):
    _, days, steps = walkthrough
    out = steps["status"]
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"latest {days[-1]}-23:00" in out.stdout
    assert f"latest {days[-1]}" in out.stdout
    assert "label coverage" in out.stdout
    for day in days[:2]:  # the second day re-measured with the labels of the third
        assert f"{day}  960 / 960  (100%)" in out.stdout, out.stdout


def test_a_second_backfill_resumes_with_nothing_left(walkthrough):
    _, _, steps = walkthrough
    out = steps["again"]
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 run(s)" in out.stdout
    assert "skipped partitions already materialised: 72 hourly, 3 daily" in out.stdout


def test_an_invalid_config_exits_2_with_the_reason(tmp_path):
    (tmp_path / "bad.yaml").write_text(CONFIG.replace("task: binary", "task: binaryy"))
    out = modelmon(tmp_path, "validate", "--config", "bad.yaml", "--data-dir", "data")
    assert out.returncode == 2
    assert "unknown task 'binaryy_classification'" in out.stderr


def test_the_console_script_resolves_to_the_cli():
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["modelmon"].split(":")
    assert getattr(__import__(module, fromlist=[function]), function).__module__ == module


def test_the_readme_examples_are_valid_records_of_its_config(tmp_path):
    config = parse_config(yaml.safe_load(CONFIG))
    model = config.model(MODEL)
    assert model.decision_threshold == THRESHOLD
    prediction, label = (json.loads(b) for b in blocks("json"))
    hour = dt.datetime.fromisoformat(prediction["timestamp"][:13])
    write_jsonl(tmp_path / "p.jsonl", [prediction])
    write_jsonl(tmp_path / "l.jsonl", [label])
    parsed = parse_prediction_files([tmp_path / "p.jsonl"], model, hour)
    assert (parsed.rows.num_rows, parsed.quarantine.num_rows) == (1, 0)
    assert parsed.rows.column("schema_errors").to_pylist() == [None]
    labels = parse_label_files([tmp_path / "l.jsonl"], model)
    assert (labels.rows.num_rows, labels.quarantine.num_rows) == (1, 0)


def test_the_readme_explains_every_check_and_the_commands_the_test_runs():
    inventory = json.loads((PROJECT / "tests" / "snapshots" / "inventory.json").read_text())
    checks = {c.split(":")[1] for c in inventory["checks"]}
    table = SECTION.split("| check | fails when | what to do |")[1]
    explained = {
        name
        for line in table.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`(\w+)`", line.split("|")[1])
    }
    assert explained == checks
    commands = blocks("bash")
    for command in ("modelmon init", "modelmon validate", "modelmon backfill", "modelmon status"):
        assert any(command in b for b in commands), command
