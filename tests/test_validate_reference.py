"""``modelmon validate`` on a reference whose labels were corrected (latest label wins).

A required feature that is sometimes null counts as missing (the schema check blocks an hour
above 5 %): validate says so and how to declare it nullable.

A prediction labelled twice is one labelled prediction: the share printed is of distinct
prediction ids, never above 100 % (it printed 106 % for a walkthrough's multiclass reference
with 6 % corrected labels). A small multiclass model of its own, through the real CLI.
"""

import datetime as dt
import json

import yaml
from ticket_router import CLASSES, TICKET_ROUTER

from modelmon_dagster.cli import main


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_corrected_reference_labels_count_each_prediction_once(tmp_path, capsys):
    start = dt.datetime(2026, 11, 10)
    predictions, labels = [], []
    for i in range(48):  # every hour of two days; the last 8 never labelled
        ts = start + dt.timedelta(hours=i, minutes=5)
        pid = f"ref-{i:03d}"
        probs = {"billing": 0.2, "tech": 0.5, "sales": 0.3}
        predictions.append(
            {
                "prediction_id": pid,
                "model_name": "ticket_router",
                "model_version": "r1",
                "timestamp": f"{ts:%Y-%m-%dT%H:%M:%S}Z",
                "status": "ok",
                "features": {"msg_length": None if i % 12 == 5 else 100.0 + i},
                "prediction": "tech",
                "score": 0.5,
                "probabilities": probs,
            }
        )
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
    out = capsys.readouterr().out
    assert "52 line(s), 52 accepted" in out  # 40 labels and 12 corrections
    assert "40 reference predictions labelled (83%)" in out
    # a null required feature is missing: say so, and how to declare a nullable one
    assert (
        "feature msg_length missing or null (required) in 4 record(s) (8.3%): stored NULL and "
        "counted by the schema checks; if it may be null, declare it `required: false`"
    ) in out
