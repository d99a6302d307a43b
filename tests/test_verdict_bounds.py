"""Severity boundaries of every decision: just below, at and just above each threshold.

Thresholds are set to dyadic fractions (1/32, 1/16, ...) where a test sits *at* a threshold,
so that the comparison, not floating-point rounding, decides. Issue #10: with the drift
check reporting every column at WARN, or its ERROR/WARN comparison flipped, the suite passed.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelmon_dagster.config import BusinessRule, Thresholds
from modelmon_dagster.drift import _decide, drift_outcome, segment_drift_outcome
from modelmon_dagster.performance import (
    ALL,
    _worse_than_rest,
    business_outcome,
    calibration_outcome,
    compare_metric,
    performance_outcome,
    segment_outcome,
)
from modelmon_dagster.stats.drift import ColumnDrift

# -- drift: drifted from the column's floor (WARN), ERROR from drift_effect_error ----------------

WARN_AT, ERROR_AT = 0.0625, 0.25
T = Thresholds(drift_effect_warn=WARN_AT, drift_effect_error=ERROR_AT)
NEXT = 1e-9


def decided(effects, p_value=1e-12, floors=None):
    """Drift rows of columns ``c0, c1, ...`` with these effects, marked by the real rule."""
    results = [
        ColumnDrift("numeric", 5000, 5000, p_value, e, "wasserstein/std", 0.0, 0.0, 0.1, 0.0)
        for e in effects
    ]
    rows = [
        {
            "column_name": f"c{i}",
            "column_role": "feature",
            "effect_size": e,
            "effect_measure": "wasserstein/std",
            "psi": 0.0,
            "drifted": False,
            "severity": None,
            "adjusted_p": None,
        }
        | ({"effect_floor": floors[i]} if floors else {})
        for i, e in enumerate(effects)
    ]
    _decide(results, rows, T, alpha=0.05)
    return rows


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        (WARN_AT - NEXT, None),
        (WARN_AT, "WARN"),
        (WARN_AT + NEXT, "WARN"),
        (ERROR_AT - NEXT, "WARN"),
        (ERROR_AT, "ERROR"),
        (ERROR_AT + NEXT, "ERROR"),
    ],
)
def test_drift_severity_boundaries(effect, expected):
    (row,) = decided([effect])
    assert (row["severity"] if row["drifted"] else None) == expected
    outcome = drift_outcome(pd.DataFrame([row]), "feature_drift", ("feature",))
    assert outcome.passed is (expected is None)
    if expected:
        assert outcome.severity == expected


def test_drift_needs_significance_as_well_as_effect():
    (row,) = decided([ERROR_AT * 2], p_value=0.5)
    assert not row["drifted"]


def test_a_raised_floor_holds_back_an_effect_the_configured_one_would_flag():
    rows = decided([0.1, 0.1], floors=[0.125, WARN_AT])
    assert [r["drifted"] for r in rows] == [False, True]


def test_one_error_column_among_warnings_makes_the_check_an_error():
    frame = pd.DataFrame(decided([0.1, ERROR_AT, 0.01]))
    outcome = drift_outcome(frame, "feature_drift", ("feature",))
    assert outcome.passed is False and outcome.severity == "ERROR"
    assert outcome.metadata["drifted_columns"] == ["c0", "c1"]
    warn_only = drift_outcome(pd.DataFrame(decided([0.1, 0.2])), "feature_drift", ("feature",))
    assert warn_only.severity == "WARN" and warn_only.passed is False


@pytest.mark.parametrize(
    ("effects", "expected"),
    [((0.01, 0.05), True), ((0.1, 0.01), "WARN"), ((0.1, ERROR_AT), "ERROR")],
)
def test_segment_drift_severity(fraud, effects, expected):
    rows = decided(list(effects))
    frame = pd.DataFrame(
        [r | {"segment_column": "country", "segment_value": f"v{i}"} for i, r in enumerate(rows)]
    )
    outcome = segment_drift_outcome(frame, fraud)
    if expected is True:
        assert outcome.passed is True
    else:
        assert outcome.passed is False and outcome.severity == expected


# -- performance: significance and drop thresholds --------------------------------------------

PERF = Thresholds(performance_drop_warn=0.03125, performance_drop_error=0.0625)
BIG = 1e7  # labels: every drop here is significant


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5 - 0.03125 + 1e-6, None),
        (0.5 - 0.03125, "WARN"),
        (0.5 - 0.0625 + 1e-6, "WARN"),
        (0.5 - 0.0625, "ERROR"),
        (0.5 - 0.0625 - 1e-6, "ERROR"),
    ],
)
def test_accuracy_drop_boundaries(value, expected):
    day = {"accuracy": value, "n_labelled": BIG}
    ref = {"accuracy": 0.5, "n_labelled": BIG}
    assert compare_metric("accuracy", day, ref, PERF)[0] == expected


@pytest.mark.parametrize(
    ("mae", "expected"),
    [(8.25 - 1e-6, None), (8.25, "WARN"), (8.5 - 1e-6, "WARN"), (8.5, "ERROR")],
)
def test_mae_rise_boundaries(mae, expected):
    # MAE is judged by its relative rise: 8 -> 8.25 is +1/32, 8 -> 8.5 is +1/16
    day = {"mae": mae, "mae_se": 1e-6}
    ref = {"mae": 8.0, "mae_se": 1e-6}
    assert compare_metric("mae", day, ref, PERF)[0] == expected


def test_a_large_drop_on_few_labels_is_not_significant():
    day = {"accuracy": 0.4, "n_labelled": 20}
    ref = {"accuracy": 0.5, "n_labelled": 20}
    severity, details = compare_metric("accuracy", day, ref, PERF)
    assert severity is None and details["p_value"] > PERF.performance_significance


def test_a_better_day_is_never_a_drop():
    day = {"accuracy": 0.9, "n_labelled": BIG}
    assert compare_metric("accuracy", day, {"accuracy": 0.5, "n_labelled": BIG}, PERF)[0] is None


# -- segment performance: gap to the rest of the day ------------------------------------------

GAP = Thresholds(segment_gap_warn=0.125, segment_gap_error=0.25)


def segment_rows(seg_acc, seg_n=4096, rest_acc=0.875, rest_n=16384):
    n = seg_n + rest_n
    overall = (seg_acc * seg_n + rest_acc * rest_n) / n
    rows = [(ALL, ALL, overall, n), ("country", "XX", seg_acc, seg_n)]
    rows.append(("country", "YY", rest_acc, rest_n))
    return pd.DataFrame(
        [
            {
                "segment_column": c,
                "segment_value": v,
                "kind": "realised",
                "metric": "accuracy",
                "value": a,
                "n_labelled": k,
            }
            for c, v, a, k in rows
        ]
    )


@pytest.mark.parametrize(
    ("seg_acc", "expected"),
    [
        (0.875 - 0.125 + 0.001, None),
        (0.875 - 0.125 - 0.001, "WARN"),
        (0.875 - 0.25 + 0.001, "WARN"),
        (0.875 - 0.25 - 0.001, "ERROR"),
    ],
)
def test_segment_gap_boundaries(fraud, seg_acc, expected):
    model = dataclasses.replace(fraud, thresholds=GAP)
    outcome = segment_outcome(segment_rows(seg_acc), model, {})
    assert outcome.passed is (expected is None)
    if expected:
        assert outcome.severity == expected
        assert outcome.metadata["worst_segments"][0]["segment"] == "country=XX"


def test_segment_worse_than_its_own_reference_takes_that_severity(fraud):
    model = dataclasses.replace(fraud, thresholds=GAP)
    frame = segment_rows(0.875)  # no gap to the rest of the day
    own = {("country", "XX"): {"accuracy": 0.95, "n_labelled": 4096}}
    outcome = segment_outcome(frame, model, own)
    assert outcome.passed is False and outcome.severity == "ERROR"  # 7.5 points >= 5
    assert outcome.metadata["worse_than_own_reference"][0]["segment"] == "country=XX"


# -- calibration: ECE rise ----------------------------------------------------------------------


def ece_frame(ece, n=5000):
    return pd.DataFrame(
        [
            {
                "segment_column": ALL,
                "segment_value": ALL,
                "kind": "realised",
                "metric": "ece",
                "value": ece,
                "n_labelled": n,
            }
        ]
    )


@pytest.mark.parametrize(
    ("ece", "passed"), [(0.1875 - 1e-6, True), (0.1875, True), (0.1875 + 1e-6, False)]
)
def test_calibration_rise_boundary(fraud, ece, passed):
    model = dataclasses.replace(fraud, thresholds=Thresholds(calibration_ece_rise_warn=0.0625))
    outcome = calibration_outcome(ece_frame(ece), model, {(ALL, ALL): {"ece": 0.125}})
    assert outcome.passed is passed
    if not passed:
        assert outcome.severity == "WARN"


def test_calibration_without_enough_labels_is_not_judged(fraud):
    outcome = calibration_outcome(ece_frame(0.9, n=10), fraud, {(ALL, ALL): {"ece": 0.1}})
    assert outcome.passed is None


# -- business rules: every operator, and the rule's severity ---------------------------------


def rules_frame(values: dict):
    return pd.DataFrame(
        [
            {
                "segment_column": ALL,
                "segment_value": ALL,
                "kind": "realised",
                "metric": m,
                "value": v,
                "n_labelled": 5000,
            }
            for m, v in values.items()
        ]
    )


@pytest.mark.parametrize(
    ("value", "broken"),
    [(0.0999, True), (0.1, False), (0.2, False), (0.3, False), (0.3001, True)],
)
def test_a_range_rule_holds_inside_and_on_both_bounds(fraud, value, broken):
    model = dataclasses.replace(fraud, business_rules=(BusinessRule("fpr", min=0.1, max=0.3),))
    assert business_outcome(rules_frame({"fpr": value}), model).passed is (not broken)


@pytest.mark.parametrize(
    ("fpr", "recall", "expected"),
    [
        (0.01, 0.5, True),
        (0.01, 0.1, "WARN"),  # only the WARN rule broken
        (0.09, 0.5, "ERROR"),
        (0.09, 0.1, "ERROR"),  # an ERROR rule among broken ones makes the check an ERROR
    ],
)
def test_business_rule_severity(fraud, fpr, recall, expected):
    rules = (BusinessRule("fpr", max=0.05), BusinessRule("recall", min=0.2, severity="WARN"))
    model = dataclasses.replace(fraud, business_rules=rules)
    outcome = business_outcome(rules_frame({"fpr": fpr, "recall": recall}), model)
    if expected is True:
        assert outcome.passed is True
    else:
        assert outcome.passed is False and outcome.severity == expected


# -- surviving mutants of `make mutation`, the ones that change what a check says -------------


@pytest.mark.parametrize(("n", "judged"), [(99, False), (100, True)])
def test_calibration_is_judged_from_exactly_min_labels(fraud, n, judged):
    outcome = calibration_outcome(ece_frame(0.125, n=n), fraud, {(ALL, ALL): {"ece": 0.125}})
    assert outcome.name == "calibration" and outcome.judged is judged


@pytest.mark.parametrize(
    ("day", "ref", "side"),
    [(0.1, None, "the baseline"), (None, 0.1, "the day"), (None, None, "the day")],
)
def test_calibration_without_an_ece_on_either_side_is_not_judged(fraud, day, ref, side):
    frame = ece_frame(day) if day is not None else rules_frame({"accuracy": 0.9})
    baseline = {(ALL, ALL): {"ece": ref} if ref is not None else {"accuracy": 0.9}}
    outcome = calibration_outcome(frame, fraud, baseline)
    assert outcome.name == "calibration" and outcome.passed is None
    assert outcome.description == f"not judged: no calibration error for {side}"


def test_drift_outcome_names_the_worst_column_first():
    rows = decided([0.1, ERROR_AT * 2, 0.01, 0.15])
    outcome = drift_outcome(pd.DataFrame(rows), "prediction_drift", ("feature",))
    assert outcome.name == "prediction_drift"
    assert outcome.description.startswith("drift in 3 column(s): c1 (shift 0.50 std)")
    assert [c["column"] for c in outcome.metadata["columns"]] == ["c1", "c3", "c0", "c2"]
    assert outcome.metadata["share_drifted"] == 0.75


def no_data_rows(columns):
    names = ["column_name", "column_role", "severity", "drifted", "effect_size"]
    return pd.DataFrame(
        [
            {
                "column_name": c,
                "column_role": "feature",
                "severity": "NO_DATA",
                "drifted": False,
                "effect_size": float("nan"),
            }
            for c in columns
        ],
        columns=names,
    )


def test_drift_without_data_is_not_judged_and_says_which_columns():
    outcome = drift_outcome(no_data_rows(["a", "b"]), "feature_drift", ("feature",))
    assert outcome.name == "feature_drift" and outcome.passed is None
    assert outcome.description == "not judged: no data to compare with the baseline (a, b)"
    assert outcome.metadata["columns_without_data"] == ["a", "b"]


def test_drift_of_blocked_columns_is_not_judged_and_names_the_schema_check():
    blocked = {"a": "missing in 40 %"}
    outcome = drift_outcome(no_data_rows(["a"]), "feature_drift", ("feature",), blocked)
    assert outcome.passed is None
    assert outcome.description == (
        "not judged: columns blocked by the schema check: a: missing in 40 %"
    )
    assert outcome.metadata["columns_without_data"] == []
    # one column blocked among measured ones: the others are judged, the blocked one listed
    frame = pd.concat([pd.DataFrame(decided([0.1])), no_data_rows(["a"])], ignore_index=True)
    judged = drift_outcome(frame, "feature_drift", ("feature",), blocked)
    assert judged.passed is False and judged.metadata["blocked_columns"] == blocked
    everything = drift_outcome(no_data_rows([]), "feature_drift", ("feature",), {"*": "no file"})
    assert everything.description == "not judged: columns blocked by the schema check: *: no file"


def segment_rows_of(effects, drifted=None):
    rows = decided(list(effects))
    out = [r | {"segment_column": "country", "segment_value": f"v{i}"} for i, r in enumerate(rows)]
    if drifted is not None:
        for r, d in zip(out, drifted, strict=True):
            r["drifted"] = d
    return pd.DataFrame(out)


def test_undecided_segment_pairs_are_not_drift(fraud):
    frame = segment_rows_of([0.01, 0.02], drifted=[pd.NA, False])
    frame["drifted"] = frame["drifted"].astype("boolean")
    outcome = segment_drift_outcome(frame, fraud)
    assert outcome.name == "segment_drift" and outcome.passed is True


def test_segment_drift_not_judged_says_why(fraud):
    small = segment_rows_of([0.3]).assign(severity="TOO_FEW_ROWS")
    outcome = segment_drift_outcome(small, fraud)
    assert outcome.name == "segment_drift" and outcome.passed is None
    assert outcome.description == (
        "not judged: no segment value had 200 rows on both sides (1 pairs)"
    )
    assert outcome.metadata == {"pairs_tested": 0, "pairs_skipped_small": 1}
    unsegmented = dataclasses.replace(fraud, segments=())
    none = segment_drift_outcome(small.iloc[0:0], unsegmented)
    assert none.description == "not judged: no segments configured"
    empty = segment_drift_outcome(small.iloc[0:0], fraud)
    assert empty.description == "not judged: no predictions in the segments this day"
    mixed = pd.concat([segment_rows_of([0.3, 0.01]), small], ignore_index=True)
    judged = segment_drift_outcome(mixed, fraud)
    assert judged.metadata["pairs_tested"] == 2 and judged.metadata["pairs_skipped_small"] == 1
    assert judged.severity == "ERROR" and judged.metadata["worst"][0]["segment"] == "country=v0"


@pytest.mark.parametrize(("seg", "rest"), [((430, 500), (9100, 10_000)), ((96, 120), (700, 800))])
def test_segment_vs_rest_p_value_is_the_two_proportion_test(fraud, seg, rest):
    # oracle: the pooled two-proportion z-test is the chi-square test of the 2 x 2 table
    # without continuity correction (z^2 = chi^2); one-sided: half its p-value
    table = [[seg[0], seg[1] - seg[0]], [rest[0], rest[1] - rest[0]]]
    chi2 = stats.chi2_contingency(table, correction=False)
    p, gap = _worse_than_rest(
        fraud, {"n": seg[1], "correct": seg[0]}, {"n": rest[1], "correct": rest[0]}
    )
    assert p == pytest.approx(chi2.pvalue / 2, rel=1e-9)
    assert gap == pytest.approx(rest[0] / rest[1] - seg[0] / seg[1], abs=1e-12)


def test_regression_segment_vs_rest_is_welchs_test_of_absolute_errors(demand):
    rng = np.random.default_rng(8)
    seg, rest = np.abs(rng.normal(0, 9.2, 3000)), np.abs(rng.normal(0, 9.0, 9000))
    sums = lambda e: {"n": len(e), "sum_abs": e.sum(), "sum_sq": (e**2).sum()}  # noqa: E731
    p, gap = _worse_than_rest(demand, sums(seg), sums(rest))
    welch = stats.ttest_ind(seg, rest, equal_var=False, alternative="greater")
    assert 1e-4 < welch.pvalue < 0.2
    assert p == pytest.approx(welch.pvalue, rel=0.02)  # z vs t, n vs n - 1: 12,000 rows
    assert gap == pytest.approx(seg.mean() / rest.mean() - 1, rel=1e-12)


def test_a_regression_segment_is_compared_through_its_pooled_sums(demand):
    # 'moon' has 3x the MAE of the rest: the rest's sums are the overall ones minus its own
    rng = np.random.default_rng(9)
    errors = {"north": rng.normal(0, 8, 4000), "moon": rng.normal(0, 24, 400)}
    rows = []
    for scope, e in [(ALL, np.concatenate(list(errors.values())))] + [
        (v, e) for v, e in errors.items()
    ]:
        seg = (ALL, ALL) if scope == ALL else ("store_region", scope)
        mae, rmse = np.abs(e).mean(), np.sqrt((e**2).mean())
        for metric, value in (("mae", mae), ("rmse", rmse)):
            rows.append(
                {
                    "segment_column": seg[0],
                    "segment_value": seg[1],
                    "kind": "realised",
                    "metric": metric,
                    "value": value,
                    "n_labelled": len(e),
                }
            )
    baseline = {("store_region", "north"): {"mae": 6.4, "mae_se": 0.1, "n_labelled": 4000}}
    outcome = segment_outcome(pd.DataFrame(rows), demand, baseline)
    assert outcome.passed is False and outcome.severity == "ERROR"
    worst = outcome.metadata["worst_segments"][0]
    assert worst["segment"] == "store_region=moon"
    north, moon = np.abs(errors["north"]).mean(), np.abs(errors["moon"]).mean()
    assert worst["gap"] == pytest.approx(moon / north - 1, abs=1e-4)


def test_a_perfect_reference_and_a_useless_day_is_an_error_without_standard_errors():
    # 100 % on the reference, 0 % on the day: both standard errors are 0, the drop is certain
    day, ref = {"accuracy": 0.0, "n_labelled": 500}, {"accuracy": 1.0, "n_labelled": 500}
    severity, details = compare_metric("accuracy", day, ref, PERF)
    assert severity == "ERROR" and details["p_value"] == 0.0
    same = compare_metric("accuracy", ref, ref, PERF)
    assert same[0] is None and same[1]["p_value"] == 1.0


def test_both_sides_sampling_error_counts():
    # the day has 1e7 labels; the reference only 200: a 5-point drop is within its noise
    day, ref = {"accuracy": 0.85, "n_labelled": BIG}, {"accuracy": 0.9, "n_labelled": 200}
    severity, details = compare_metric("accuracy", day, ref, PERF)
    # the day's error under the null hypothesis (its n at the reference's accuracy)
    z = 0.05 / np.hypot(np.sqrt(0.9 * 0.1 / BIG), np.sqrt(0.9 * 0.1 / 200))
    assert severity is None and details["p_value"] == pytest.approx(stats.norm.sf(z), rel=1e-9)


def test_every_business_rule_is_judged_after_an_unmeasurable_one(fraud):
    rules = (BusinessRule("precision", min=0.5), BusinessRule("fpr", max=0.05))
    model = dataclasses.replace(fraud, business_rules=rules)
    outcome = business_outcome(rules_frame({"fpr": 0.09}), model)
    assert outcome.name == "business_rules" and outcome.passed is False
    assert (
        outcome.description == "fpr = 0.0900 breaks fpr <= 0.05 (not measurable: precision >= 0.5)"
    )
    assert outcome.metadata["not_measurable"] == ["precision >= 0.5"]


@pytest.mark.parametrize(("n", "judged"), [(99, False), (100, True)])
def test_business_rules_are_judged_from_exactly_min_labels(fraud, n, judged):
    model = dataclasses.replace(fraud, business_rules=(BusinessRule("fpr", max=0.05),))
    frame = rules_frame({"fpr": 0.01}).assign(n_labelled=n)
    outcome = business_outcome(frame, model)
    assert outcome.name == "business_rules" and outcome.judged is judged


def key_metrics_frame(values: dict, n=5000, kind="realised"):
    return rules_frame(values).assign(n_labelled=n, kind=kind, coverage=1.0)


@pytest.mark.parametrize(("n", "judged"), [(99, False), (100, True)])
def test_performance_is_judged_from_exactly_min_labels(fraud, n, judged):
    frame = key_metrics_frame({"accuracy": 0.9}, n=n)
    outcome = performance_outcome(frame, fraud, {(ALL, ALL): {"accuracy": 0.9}}, "realised")
    assert outcome.name == "performance" and outcome.judged is judged


def test_every_key_metric_is_compared_not_only_the_first(fraud):
    # accuracy in line, recall down by 30 points on 2000 positives: an ERROR
    frame = key_metrics_frame({"accuracy": 0.97, "recall": 0.5, "n_positive": 2000}, n=50_000)
    ref = {"accuracy": 0.97, "recall": 0.8, "n_positive": 2000, "n_labelled": 50_000}
    outcome = performance_outcome(frame, fraud, {(ALL, ALL): ref}, "realised")
    assert outcome.passed is False and outcome.severity == "ERROR"
    assert outcome.description.startswith("recall 0.500 vs 0.800 on the reference")


@pytest.mark.parametrize(
    ("estimate", "expected"),
    [(0.75 - 0.03125 + 1e-6, True), (0.75 - 0.03125, "WARN"), (0.5, "WARN")],
)
def test_the_estimate_warns_from_the_drop_threshold_and_never_errors(fraud, estimate, expected):
    model = dataclasses.replace(fraud, thresholds=PERF)
    frame = key_metrics_frame({"accuracy": estimate}, n=0, kind="estimated")
    ref = {(ALL, ALL): {"estimated_accuracy": 0.75}}
    outcome = performance_outcome(frame, model, ref, "estimated")
    assert outcome.name == "estimated_performance"
    if expected is True:
        assert outcome.passed is True
    else:
        assert outcome.passed is False and outcome.severity == expected
        assert outcome.metadata["estimated_accuracy"] == {
            "value": round(estimate, 4),
            "baseline": 0.75,
        }
