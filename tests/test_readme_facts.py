"""The README's facts about the asset graph are the code's: checks, counts, jobs and sensors.

They are read from the definitions snapshot, which ``test_definitions.py`` holds equal to the
definitions the code builds; so a check added, removed or renamed fails here until the README
says so.
"""

import json
import re
from collections import defaultdict
from pathlib import Path

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text()
INVENTORY = json.loads((Path(__file__).parent / "snapshots" / "inventory.json").read_text())


def _section(heading: str) -> str:
    start = README.index(heading)
    rest = README[start + len(heading) :]
    end = re.search(r"^#{2,3} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def _checks_per_model() -> dict[str, dict[str, set[str]]]:
    """``model -> asset -> check names`` from the snapshot."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for key in INVENTORY["checks"]:
        asset_key, check = key.split(":")
        model, asset = asset_key.split("/")
        found[model][asset].add(check)
    return found


def test_the_check_table_lists_exactly_the_checks_that_exist():
    table = _section("### Asset checks")
    listed: dict[str, set[str]] = defaultdict(set)
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        names, assets = (cell.strip() for cell in line.split("|")[1:3])
        for name in re.findall(r"`([a-z_]+)`", names):
            for asset in re.findall(r"`([a-z_]+)`", assets):
                listed[name].add(asset)
    existing: dict[str, set[str]] = defaultdict(set)
    for assets in _checks_per_model().values():
        for asset, checks in assets.items():
            for check in checks:
                existing[check].add(asset)
    assert dict(listed) == dict(existing)


def test_the_counts_per_hour_and_day_are_the_definitions():
    text = " ".join(_section("### Asset checks").split())
    match = re.search(
        r"(\d+) asset checks per hour and, per day, (\d+) for a binary classifier .*? and "
        r"(\d+) for other tasks",
        text,
    )
    assert match, "the README no longer states the check counts"
    per_hour, per_day_binary, per_day_other = map(int, match.groups())
    config = load_config(Settings.from_env({}).config_path)
    tasks = {model.name: model.task for model in config.models}
    assert "binary_classification" in tasks.values() and len(set(tasks.values())) > 1
    for model, assets in _checks_per_model().items():
        hourly = sum(
            len(c) for a, c in assets.items() if a.startswith("hourly_") or a == "raw_predictions"
        )
        daily = sum(len(c) for a, c in assets.items() if a.startswith("daily_"))
        assert hourly + daily == sum(len(c) for c in assets.values()), model
        assert hourly == per_hour, model
        expected_daily = (
            per_day_binary if tasks[model] == "binary_classification" else per_day_other
        )
        assert daily == expected_daily, model


def test_every_job_and_sensor_is_named_in_the_readme():
    models = sorted({key.split("/")[0] for key in INVENTORY["assets"]})
    for job in INVENTORY["jobs"]:
        generic = job
        for model in models:
            generic = generic.replace(f"{model}__", "{model}__")
        assert f"`{generic}`" in README, job
    for sensor in INVENTORY["sensors"]:
        assert f"`{sensor}`" in README, sensor
