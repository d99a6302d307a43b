"""``modelmon validate``: a reference with corrected labels, logs the schema check would block.

A required feature that is sometimes null counts as missing (the schema check blocks an hour
above 5 %): validate says so and how to declare it nullable.

A prediction labelled twice is one labelled prediction: the share printed is of distinct
prediction ids, never above 100 % (it printed 106 % for a walkthrough's multiclass reference
with 6 % corrected labels). Sampled logs of which more than the schema check allows would be
quarantined or miss a required feature are warned about. A small multiclass model of its own,
through the real CLI.
"""

import datetime as dt
import json

import yaml
from ticket_router import CLASSES, TICKET_ROUTER

from modelmon_dagster.cli import main


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def prediction(pid: str, ts: dt.datetime, msg_length, score: float = 0.5) -> dict:
    return {
        "prediction_id": pid,
        "model_name": "ticket_router",
        "model_version": "r1",
        "timestamp": f"{ts:%Y-%m-%dT%H:%M:%S}Z",
        "status": "ok",
        "features": {"msg_length": msg_length},
        "prediction": "tech",
        "score": score,
        "probabilities": {"billing": 0.2, "tech": 0.5, "sales": 0.3},
    }


def validate(tmp_path, capsys) -> str:
    """``modelmon validate`` on the folder (a reference as below, the logs the test wrote)."""
    start = dt.datetime(2026, 11, 10)
    predictions, labels = [], []
    for i in range(48):  # every hour of two days; the last 8 never labelled
        ts = start + dt.timedelta(hours=i, minutes=5)
        pid = f"ref-{i:03d}"
        predictions.append(prediction(pid, ts, None if i % 12 == 5 else 100.0 + i))
        arrivals = [] if i >= 40 else [CLASSES[i % 3]] + ([CLASSES[(i + 1) % 3]] if i < 12 else [])
        for k, label in enumerate(arrivals):  # the first 12 corrected a day later
            at = ts + dt.timedelta(days=1 + k)
            labels.append(
                {
                    "prediction_id": pid,
                    "model_name": "ticket_router",
                    "label": label,
                    "label_timestamp": f"{at:%Y-%m-%dT%H:%M:%S}Z",
                }
            )
    data = tmp_path / "data"
    write_jsonl(data / "reference/ticket_router/predictions.jsonl", predictions)
    write_jsonl(data / "reference/ticket_router/labels.jsonl", labels)
    config = {
        "partitions": {"start_date": "2026-11-18"},
        "models": [TICKET_ROUTER],
    }
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(config))
    main(["validate", "--config", str(tmp_path / "models.yaml"), "--data-dir", str(data)])
    return capsys.readouterr().out


def test_corrected_reference_labels_count_each_prediction_once(tmp_path, capsys):
    out = validate(tmp_path, capsys)
    assert "52 line(s), 52 accepted" in out  # 40 labels and 12 corrections
    assert "40 reference predictions labelled (83%)" in out
    # a null required feature is missing: say so, and how to declare a nullable one
    assert (
        "feature msg_length missing or null (required) in 4 record(s) (8.3%): stored NULL and "
        "counted by the schema checks; if it may be null, declare it `required: false`"
    ) in out


def test_logs_the_schema_check_would_block_are_warned_about(tmp_path, capsys):
    # before: "ready to backfill" and nothing else, whatever share would be quarantined
    hour = dt.datetime(2026, 11, 27, 23, 5)
    records = [prediction(f"p-{i}", hour, 50.0 + i) for i in range(20)]
    records += [prediction("p-bad-1", hour, 1.0, score=1.3), prediction("p-bad-2", hour, None)]
    write_jsonl(tmp_path / "data/logs/predictions/ticket_router/2026-11-27/23/s.jsonl", records)
    out = validate(tmp_path, capsys)
    assert "22 line(s), 21 accepted, 1 would be quarantined" in out
    assert "the schema check fails" not in out  # 4.5 % quarantined, 4.8 % with a null feature
    assert out.rstrip().endswith("ready to backfill (1 warning(s) above)")  # no label logs
    records.append(prediction("p-bad-3", hour, 1.0, score=-0.1))
    records.append(prediction("p-bad-4", hour, None))
    write_jsonl(tmp_path / "data/logs/predictions/ticket_router/2026-11-27/23/s.jsonl", records)
    out = validate(tmp_path, capsys)
    assert (
        "WARNING 8.3% of these lines would be quarantined: the schema check fails an hour above "
        "5.0% (quarantine_rate_error) and blocks its statistics"
    ) in out
    assert (
        "WARNING 9.1% of these records have a missing, null or mistyped required feature: the "
        "schema check fails an hour above 5.0% (schema_error_rate_error)"
    ) in out
    assert out.rstrip().endswith("ready to backfill (3 warning(s) above)")
