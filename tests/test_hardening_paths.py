"""Regression tests for escapes through log folders and config (issue 9, items 11 and 12).

Before the fix, ``x.jsonl -> /etc/passwd`` in a log folder was read and its lines copied into
the quarantine, a directory named ``x.jsonl`` failed the hour, config paths such as
``../../../../etc/passwd`` were read, and NaN thresholds (which never fire) were accepted.
"""

import copy
import datetime as dt
import json
import math

import pytest
import yaml
from factories import write_hour

from modelmon_dagster.config import ConfigError, parse_config
from modelmon_dagster.defs.resources import PROJECT_ROOT, LogStoreResource
from modelmon_dagster.ingest.load import load_label_hour, load_prediction_hour
from modelmon_dagster.logformat import LABELS, PREDICTIONS, hour_folder

HOUR = dt.datetime(2026, 11, 16, 10)
DEMO = yaml.safe_load((PROJECT_ROOT / "config" / "models.yaml").read_text())


def test_only_regular_files_inside_the_logs_root_are_ingested(warehouse, tmp_path, fraud):
    root = tmp_path / "logs"
    write_hour(root, fraud, HOUR, 25)
    folder = hour_folder(root, PREDICTIONS, fraud.name, HOUR)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n" * 3)
    (folder / "x.jsonl").symlink_to(secret)
    (folder / "y.jsonl").mkdir()
    result = load_prediction_hour(warehouse, fraud, root, HOUR)
    assert (result.files, result.rows, result.quarantined) == (1, 25, 0)
    assert result.skipped_files == (
        f"{folder / 'x.jsonl'}: resolves outside the logs root",
        f"{folder / 'y.jsonl'}: not a regular file",
    )
    assert warehouse.scalar("SELECT count(*) FROM quarantined_lines") == 0


def test_label_folder_symlinks_out_of_the_root_are_skipped(warehouse, tmp_path, fraud):
    root = tmp_path / "logs"
    folder = hour_folder(root, LABELS, fraud.name, HOUR)
    folder.mkdir(parents=True)
    outside = tmp_path / "labels.jsonl"
    outside.write_text(
        json.dumps({"prediction_id": "p", "model_name": fraud.name, "label": "1"}) + "\n"
    )
    (folder / "l.jsonl").symlink_to(outside)
    result = load_label_hour(warehouse, fraud, root, HOUR)
    assert (result.files, result.lines, len(result.skipped_files)) == (0, 0, 1)


def with_model_change(change):
    raw = copy.deepcopy(DEMO)
    change(raw["models"][0])
    return raw


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc/passwd", "ref/../../x"])
@pytest.mark.parametrize("key", ["reference_predictions", "reference_labels"])
def test_config_paths_outside_the_data_folder_are_rejected(path, key):
    raw = with_model_change(lambda m: m["baseline"].update({key: path}))
    with pytest.raises(ConfigError, match=rf"model 'fraud_detector'\.baseline\.{key}: .* inside"):
        parse_config(raw)


def test_a_symlink_out_of_the_data_folder_is_refused_on_use(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "reference").symlink_to("/etc")
    store = LogStoreResource(data_dir=str(data))
    assert store.resolve("reference2/p.jsonl") == data.resolve() / "reference2" / "p.jsonl"
    with pytest.raises(
        ValueError, match="fraud_detector baseline.reference_predictions: .*outside"
    ):
        store.resolve("reference/passwd", "fraud_detector baseline.reference_predictions")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_thresholds_are_rejected(value):
    raw = with_model_change(
        lambda m: m.setdefault("thresholds", {}).update(drift_effect_warn=value)
    )
    with pytest.raises(ConfigError, match="drift_effect_warn: expected a finite"):
        parse_config(raw)
    rule = with_model_change(lambda m: m["business_rules"][0].update(max=value))
    with pytest.raises(ConfigError, match=r"business_rules\[0\]\.max: expected a finite"):
        parse_config(rule)


def test_yaml_nan_in_control_chart_settings_is_rejected():
    raw = with_model_change(lambda m: m["control_charts"].update(k=math.nan))
    with pytest.raises(ConfigError, match="fraud_detector"):
        parse_config(raw)


def test_duplicate_segments_are_rejected():
    raw = with_model_change(lambda m: m.update(segments=[m["segments"][0]] * 2))
    with pytest.raises(ConfigError, match=r"model 'fraud_detector'\.segments: duplicate"):
        parse_config(raw)
