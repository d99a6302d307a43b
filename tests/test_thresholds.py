"""Every threshold in the config is read by code, and the README lists exactly the config's.

A knob that is validated and documented but read by nothing looks like protection and is none
(psi_warn / psi_error were such knobs until issue 11). Behavioural tests of the keys live with
their checks; this file makes sure none is left behind.
"""

import re
from dataclasses import fields

import pytest

from modelmon_dagster.config import ConfigError, Thresholds, parse_config
from modelmon_dagster.defs.resources import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "modelmon_dagster"
# Validated but not read yet (the README row says so). When one is read, this test fails until
# it leaves the list and the README says what it decides. Empty since the system-health checks
# of issue #8 read error_rate_* and latency_p99_ms_*.
NOT_READ_YET: set[str] = set()


def code_outside_config() -> str:
    return "\n".join(
        path.read_text() for path in sorted(PACKAGE.rglob("*.py")) if path.name != "config.py"
    )


def readme_rows() -> dict[str, str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text[text.index("### Thresholds") :]
    section = section[: section.index("\n\n", section.index("| key |"))]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `(\w+)` \| ([^|]+) \| (.+) \|$", line)
        if match:
            rows[match.group(1)] = (match.group(2).strip(), match.group(3))
    return rows


@pytest.mark.parametrize("key", [f.name for f in fields(Thresholds)])
def test_every_threshold_is_read_by_code(key):
    read = re.search(rf"\.{key}\b", code_outside_config()) is not None
    if key in NOT_READ_YET:
        assert not read, f"{key} is read now: take it off NOT_READ_YET and update the README"
    else:
        assert read, f"{key} is validated but read by no code: make it decide or remove it"


def test_readme_lists_exactly_the_thresholds_with_their_defaults():
    rows = readme_rows()
    defaults = {f.name: f.default for f in fields(Thresholds)}
    assert set(rows) == set(defaults)
    for key, (default, decides) in rows.items():
        assert float(default) == pytest.approx(float(defaults[key])), key
        assert decides.startswith("not read yet") == (key in NOT_READ_YET), key


def config_with(thresholds: dict) -> dict:
    return {
        "partitions": {"start_date": "2026-11-16"},
        "models": [
            {
                "name": "m",
                "task": "regression",
                "features": [{"name": "x", "type": "numeric"}],
                "label_delay": {"expected_hours": 1, "max_hours": 2},
                "baseline": {"model_version": "v1", "reference_predictions": "r.jsonl"},
                "thresholds": thresholds,
            }
        ],
    }


@pytest.mark.parametrize("key", ["psi_warn", "psi_error"])
def test_removed_psi_thresholds_are_rejected_with_the_reason(key):
    with pytest.raises(ConfigError, match=rf"{key}: removed \(PSI is reported"):
        parse_config(config_with({key: 0.2}))


def test_threshold_values_are_validated():
    assert parse_config(config_with({"adaptive_floor_sigmas": 0})).models[0].thresholds == (
        Thresholds(adaptive_floor_sigmas=0.0)
    )
    for bad, message in [
        ({"adaptive_floor_sigmas": -1}, "expected a finite number >= 0"),
        ({"null_rate_warn": 0}, "expected a finite positive number"),
        ({"null_rate_warn": 0.1, "null_rate_error": 0.05}, "null_rate_warn must not exceed"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config(config_with(bad))
