"""The drift checks read a period's rows as dicts (pandas' cost per call dwarfed these few
rows): their order must be pandas' own, ties and missing values included."""

import numpy as np
import pandas as pd
import pytest

from modelmon_dagster.drift import _largest_first, drift_outcome, null_rate_outcome, period_records


@pytest.mark.parametrize("n", [0, 1, 5, 16, 17, 40, 200])
def test_largest_first_is_pandas_descending_order(n):
    rng = np.random.default_rng(n)
    values = rng.choice([0.1, 0.2, 0.3, np.nan, 0.5], size=n)  # ties and NaN everywhere
    frame = pd.DataFrame({"effect_size": values, "position": range(n)})
    expected = frame.sort_values("effect_size", ascending=False)["position"].tolist()
    got = [r["position"] for r in _largest_first(frame.to_dict("records"), "effect_size")]
    assert got == expected


def _period(n=20):
    rng = np.random.default_rng(7)
    effect = rng.choice([0.05, 0.2, np.nan], size=n)
    return pd.DataFrame(
        {
            "column_name": [f"c{i}" for i in range(n)],
            "column_role": ["feature"] * (n - 2) + ["prediction", "score"],
            "severity": rng.choice(["WARN", "ERROR", "NO_DATA", "OK"], size=n),
            "drifted": rng.choice([True, False], size=n),
            "effect_size": effect,
            "effect_measure": "wasserstein_std",
            "adjusted_p": rng.random(n),
            "effect_floor": 0.1,
            "floor_source": "config",
            "psi": rng.random(n),
            "null_rate_ref": rng.random(n) / 10,
            "null_rate_cur": rng.random(n) / 10,
            "null_p_value": rng.choice([0.01, np.nan], size=n),
            "null_changed": rng.choice([True, False], size=n),
            "null_effect_floor": 0.02,
            "null_floor_source": "config",
            "null_adjusted_p": rng.random(n),
            "n_rows_cur": 100,
            "null_reference_scope": "all",
            "null_severity": rng.choice(["WARN", "ERROR"], size=n),
        }
    )


def test_a_frame_and_its_records_give_the_same_outcome():
    frame = _period()
    for outcome in (
        lambda f: drift_outcome(f, "feature_drift", ("feature",), {"c3": "type"}),
        null_rate_outcome,
    ):
        from_frame, from_records = outcome(frame), outcome(period_records(frame))
        assert from_frame == from_records
        assert from_frame.passed is False
