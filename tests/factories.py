"""Small, explicit record builders for tests (the simulator is tested separately)."""

import datetime as dt
import json
from pathlib import Path

import numpy as np

from modelmon_dagster.config import FeatureType, ModelConfig, Task
from modelmon_dagster.logformat import LABELS, PREDICTIONS, format_timestamp, hour_folder

CATEGORIES = ["a", "b", "c", "d"]


def prediction_record(
    model: ModelConfig, ts: dt.datetime, i: int, rng: np.random.Generator
) -> dict:
    features = {}
    for f in model.features:
        if f.type is FeatureType.NUMERIC:
            features[f.name] = round(float(rng.normal(100.0, 15.0)), 4)
        else:
            features[f.name] = CATEGORIES[int(rng.integers(0, len(CATEGORIES)))]
    status = "ok" if rng.random() > 0.05 else "error"
    record = {
        "prediction_id": f"{model.name}-{ts:%Y%m%d%H}-{i}",
        "model_name": model.name,
        "model_version": "v1",
        "timestamp": format_timestamp(ts),
        "features": features,
        "latency_ms": round(float(rng.lognormal(3.0, 0.5)), 3),
        "status": status,
        "error_type": None if status == "ok" else "ValueError",
        "host": {"cpu_pct": 10.0, "memory_mb": 500.0, "gpu_pct": None},
        "prediction": None,
        "score": None,
        "probabilities": None,
    }
    if status == "ok":
        if model.task is Task.REGRESSION:
            record["prediction"] = round(float(rng.normal(50, 10)), 4)
        else:
            score = float(rng.random())
            record["score"] = round(score, 6)
            record["prediction"] = model.classes[1] if score >= 0.5 else model.classes[0]
    return record


def write_hour(
    logs_root: Path,
    model: ModelConfig,
    hour: dt.datetime,
    n: int,
    seed: int = 0,
    extra_lines: list[str] | None = None,
) -> list[dict]:
    """Write ``n`` valid records (plus raw ``extra_lines``) into the hour's folder."""
    rng = np.random.default_rng([seed, hour.day, hour.hour])
    records = [
        prediction_record(model, hour + dt.timedelta(seconds=int(s)), i, rng)
        for i, s in enumerate(sorted(rng.integers(0, 3600, n)))
    ]
    folder = hour_folder(logs_root, PREDICTIONS, model.name, hour)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records] + list(extra_lines or [])
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n")
    return records


def write_labels(
    logs_root: Path, model: ModelConfig, arrival_hour: dt.datetime, labels: dict
) -> None:
    folder = hour_folder(logs_root, LABELS, model.name, arrival_hour)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "prediction_id": pid,
                "model_name": model.name,
                "label": label,
                "label_timestamp": format_timestamp(arrival_hour + dt.timedelta(minutes=5)),
            }
        )
        for pid, label in labels.items()
    ]
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n")


def write_reference(
    path: Path, model: ModelConfig, n: int, seed: int = 99, labels_path: Path | None = None
) -> list[dict]:
    """Reference predictions (all ok) and, if ``labels_path``, a label for each."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2026, 1, 1)
    records = [prediction_record(model, start + dt.timedelta(seconds=i), i, rng) for i in range(n)]
    for r in records:
        r["status"], r["error_type"] = "ok", None
        if r["prediction"] is None:
            if model.task is Task.REGRESSION:
                r["prediction"] = 50.0
            else:
                r["score"], r["prediction"] = 0.25, model.classes[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    if labels_path is not None:
        labels = []
        for r in records:
            if model.task is Task.REGRESSION:
                label = round(r["prediction"] + float(rng.normal(0, 5)), 4)
            else:  # the score is calibrated: P(label = positive) = score
                label = model.classes[1] if rng.random() < r["score"] else model.classes[0]
            labels.append(
                {
                    "prediction_id": r["prediction_id"],
                    "model_name": model.name,
                    "label": label,
                    "label_timestamp": r["timestamp"],
                }
            )
        labels_path.write_text("\n".join(json.dumps(x) for x in labels) + "\n")
    return records


def store_baseline(
    warehouse,
    model: ModelConfig,
    predictions: Path,
    labels: Path | None = None,
    spec=None,
    digest: str = "test",
):
    """Build ``spec``'s baseline (the model's default) from reference files into the warehouse.

    Only that baseline's rows are replaced, so versions can be stored side by side. Returns
    the baseline id and the reference frame (labels joined when given).
    """
    from modelmon_dagster.baseline import baseline_id_for, baseline_rows, with_labels
    from modelmon_dagster.ingest.parser import parse_label_files, parse_prediction_files

    spec = spec or model.baseline
    frame = with_labels(
        parse_prediction_files([predictions], model).rows.to_pandas(),
        parse_label_files([labels], model).rows.to_pandas() if labels else None,
    )
    baseline_id = baseline_id_for(model, spec, [digest])
    rows = baseline_rows(model, frame, baseline_id, spec)
    where = "model_name = :m AND baseline_id = :b"
    warehouse.replace_many(rows.replacements(where, {"m": model.name, "b": baseline_id}))
    return baseline_id, frame


def labels_then_corrections(
    records: list[dict],
    rng: np.random.Generator,
    draw,
    labelled: float = 0.8,
    corrected: float = 0.4,
) -> tuple[dict, dict]:
    """Labels for about ``labelled`` of ``records``, then corrections of ``corrected`` of them.

    ``draw(record, previous)`` gives a label: a first one when ``previous`` is None, otherwise
    a correction of ``previous``. Returns ``(first, corrections)``, both ``{prediction_id:
    label}``; written to two arrival hours, the corrections must win.
    """
    first = {r["prediction_id"]: draw(r, None) for r in records if rng.random() < labelled}
    by_id = {r["prediction_id"]: r for r in records}
    corrections = {
        pid: draw(by_id[pid], label) for pid, label in first.items() if rng.random() < corrected
    }
    return first, corrections
