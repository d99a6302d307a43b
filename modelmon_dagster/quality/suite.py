"""Great Expectations suites built from a model's config and baseline, run on an hour's rows.

Every outcome is graded. ERROR: schema problems that make an hour's aggregates untrustworthy
(required features missing or mistyped in more than ``schema_error_rate_error`` of the
records). WARN: softer problems: a few schema problems, values outside the baseline's range,
unseen categories, implausible latencies.

Great Expectations takes ~3 s to import, so it is imported on first use, and one ephemeral
context per process is reused.
"""

import functools
from dataclasses import dataclass, field

import pandas as pd

from modelmon_dagster.baseline import Baseline
from modelmon_dagster.config import ModelConfig

ERROR, WARN = "ERROR", "WARN"
MAX_LATENCY_MS = 60_000.0
SAMPLE_SIZE = 5


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result on one batch."""

    severity: str
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    unexpected_fraction: float
    allowed_fraction: float
    sample: tuple = ()
    failing_rows: tuple = ()  # ({"prediction_id": ..., column: value}, ...) for failures

    def as_metadata(self) -> dict:
        """A JSON-friendly summary."""
        return {
            "expectation": self.expectation,
            "column": self.column,
            "unexpected_count": self.unexpected_count,
            "unexpected_fraction": round(self.unexpected_fraction, 6),
            "allowed_fraction": self.allowed_fraction,
            "sample": [str(v) for v in self.sample],
            "failing_rows": list(self.failing_rows),
        }


@dataclass(frozen=True)
class QualityReport:
    """All outcomes for one batch."""

    rows: int
    outcomes: tuple[ExpectationOutcome, ...] = field(default_factory=tuple)

    def failed(self, severity: str) -> list[ExpectationOutcome]:
        """Failed expectations graded at ``severity``."""
        return [o for o in self.outcomes if o.severity == severity and not o.success]

    @property
    def evaluated(self) -> int:
        """How many expectations ran."""
        return len(self.outcomes)


@functools.cache
def _context():
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    batch_definition = (
        context.data_sources.add_pandas("modelmon")
        .add_dataframe_asset("hourly_batch")
        .add_batch_definition_whole_dataframe("whole_batch")
    )
    return context, batch_definition


def _expectations(model: ModelConfig, baseline: Baseline, categories_complete: dict[str, bool]):
    """``(allowed WARN fraction, ERROR fraction or None, expectation)`` for the model's suite.

    Each expectation runs once with the WARN tolerance; its measured unexpected fraction then
    decides the severity (above the ERROR fraction: ERROR).
    """
    import great_expectations.expectations as gxe

    t = model.thresholds
    warn, error = t.schema_error_rate_warn, t.schema_error_rate_error
    out = [
        (warn, error, gxe.ExpectColumnValuesToNotBeNull(column=f.column, mostly=1 - warn))
        for f in model.features
        if f.required
    ]
    out.append(
        (warn, error, gxe.ExpectColumnValuesToBeNull(column="schema_errors", mostly=1 - warn))
    )
    for cb in baseline.columns:
        col = cb.column
        if col.role != "feature":
            continue
        if col.is_numeric and cb.range is not None:
            low, high = cb.range
            out.append(
                (
                    t.out_of_range_rate_warn,
                    None,
                    gxe.ExpectColumnValuesToBeBetween(
                        column=col.sql_column,
                        min_value=low,
                        max_value=high,
                        mostly=1 - t.out_of_range_rate_warn,
                    ),
                )
            )
        elif not col.is_numeric and categories_complete.get(col.name):
            out.append(
                (
                    t.unseen_category_rate_warn,
                    None,
                    gxe.ExpectColumnValuesToBeInSet(
                        column=col.sql_column,
                        value_set=list(cb.categories),
                        mostly=1 - t.unseen_category_rate_warn,
                    ),
                )
            )
    out.append(
        (
            0.001,
            None,
            gxe.ExpectColumnValuesToBeBetween(
                column="latency_ms", min_value=0.0, max_value=MAX_LATENCY_MS, mostly=0.999
            ),
        )
    )
    return out


@functools.lru_cache(maxsize=64)
def _suite(model: ModelConfig, baseline: Baseline, categories_complete: tuple):
    """Build a suite once per model, baseline and process.

    Not registered with the context: registering assigns expectation ids but costs seconds
    (measured 4.5 s a suite on the loaded 2-core machine). Results are matched to the suite by
    (expectation type, column) instead, which is unique in these suites (checked here).
    """
    import great_expectations as gx

    _context()  # suites need an active context
    planned = _expectations(model, baseline, dict(categories_complete))
    keys = [_key(e.expectation_type, e.column) for _, _, e in planned]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"{model.name}: two expectations share a type and column")
    suite = gx.ExpectationSuite(name=f"{model.name}_{baseline.baseline_id}_hourly")
    for _, _, expectation in planned:
        suite.add_expectation(expectation)
    return planned, suite


def _key(expectation_type: str, column: str) -> tuple[str, str]:
    return (expectation_type, column)


def _failing_rows(rows: pd.DataFrame, expectation) -> tuple:
    """Up to ``SAMPLE_SIZE`` rows that break ``expectation`` (prediction id and value)."""
    column = expectation.column
    values = rows[column]
    kind = expectation.expectation_type
    if kind == "expect_column_values_to_not_be_null":
        mask = values.isna()
    elif kind == "expect_column_values_to_be_null":
        mask = values.notna()
    elif kind == "expect_column_values_to_be_in_set":
        mask = values.notna() & ~values.isin(expectation.value_set)
    elif kind == "expect_column_values_to_be_between":
        mask = values.notna() & (
            (values < expectation.min_value) | (values > expectation.max_value)
        )
    else:
        return ()
    picked = rows.loc[mask.fillna(False).astype(bool), ["prediction_id", column]].head(SAMPLE_SIZE)
    return tuple(
        {"prediction_id": str(r[0]), column: None if pd.isna(r[1]) else str(r[1])}
        for r in picked.itertuples(index=False)
    )


def validate_batch(
    rows: pd.DataFrame,
    model: ModelConfig,
    baseline: Baseline,
    categories_complete: dict[str, bool] | None = None,
) -> QualityReport:
    """Run the model's suite on one batch of raw prediction rows (e.g. an hour's).

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows as stored in the raw predictions table.
    model, baseline : ModelConfig, Baseline
        Define the expectations (required features, ranges, category sets, thresholds).
    categories_complete : dict, optional
        Per categorical feature, whether the baseline's top-k list holds every reference
        category (only then are other values "unseen").

    Notes
    -----
    An empty batch returns a report with no outcomes: the caller must report "no data", not a
    pass.
    """
    if rows.empty:
        return QualityReport(rows=0)
    groups = pd.Series(0, index=rows.index)
    return validate_groups(rows, groups, model, baseline, categories_complete)[0]


# Expectations whose unexpected share is taken over every row (the rest: over non-null rows,
# as Great Expectations' ``mostly`` does).
_OVER_ALL_ROWS = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"}


def validate_groups(
    rows: pd.DataFrame,
    groups: pd.Series,
    model: ModelConfig,
    baseline: Baseline,
    categories_complete: dict[str, bool] | None = None,
) -> dict:
    """Run the suite once over ``rows`` and grade it separately for each group (e.g. hour).

    Returns
    -------
    dict
        Group key -> :class:`QualityReport`.
    """
    validation = GroupedValidation(model, baseline, categories_complete)
    validation.add(rows, groups)
    return validation.reports()


# Great Expectations' ``COMPLETE`` format, less what the grading does not read: it would also
# list every unexpected value, count the most common ones and spell out a query naming every
# unexpected index, per expectation and batch (on a batch where a feature is wholly out of range:
# as many values and a string of as many indices as rows). Only the unexpected rows' index list
# is kept; the failing rows shown are taken from the batch itself (``_failing_rows``).
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
    "include_unexpected_rows": False,
}


def validate_suite(rows: pd.DataFrame, suite, model_name: str, expected: int) -> dict:
    """Great Expectations' result of ``suite`` on ``rows``, per (expectation type, column)."""
    _, batch_definition = _context()
    batch = batch_definition.get_batch(batch_parameters={"dataframe": rows})
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    # Results do not come back in suite order: match them by (type, column).
    by_key = {
        _key(res.expectation_config.type, res.expectation_config.kwargs.get("column")): res
        for res in result.results
    }
    if len(by_key) != expected:
        raise RuntimeError(f"{model_name}: could not match Great Expectations results to the suite")
    return by_key


@dataclass
class _Tally:
    """One expectation in one group, summed over batches."""

    unexpected: int = 0
    denominator: int = 0
    failing: list = field(default_factory=list)  # the first SAMPLE_SIZE failing rows


class GroupedValidation:
    """The suite run on batches of rows, graded per group (e.g. hour) over all its batches.

    One Great Expectations validation serves every group of a batch (its cost is mostly fixed:
    about 0.35 s of CPU for the 25-feature benchmark's suite whether on 1k or 100k rows): it
    returns the index of each unexpected row (``RESULT_FORMAT``), which is counted per group.
    Counts add up over batches, so a group's grade is that of a validation of all its rows at
    once with the same tolerance (``mostly``), while only one batch is in memory; the failing
    rows shown are the group's first, in batch order.
    """

    def __init__(
        self, model: ModelConfig, baseline: Baseline, categories_complete: dict | None = None
    ):
        self.model = model
        complete = tuple(sorted((categories_complete or {}).items()))
        self.planned, self.suite = _suite(model, baseline, complete)
        self.sizes: dict = {}
        self.tallies: dict = {}  # group -> [_Tally per planned expectation]

    def add(self, rows: pd.DataFrame, groups: pd.Series) -> None:
        """Validate one batch; ``groups`` gives each row's group."""
        if rows.empty:
            return
        rows = rows.reset_index(drop=True)
        groups = pd.Series(groups.to_numpy(), index=rows.index)
        by_key = validate_suite(rows, self.suite, self.model.name, len(self.planned))
        sizes = groups.value_counts()
        for group, n in sizes.items():
            self.sizes[group] = self.sizes.get(group, 0) + int(n)
            self.tallies.setdefault(group, [_Tally() for _ in self.planned])
        for i, (_, _, expectation) in enumerate(self.planned):
            res = by_key[_key(expectation.expectation_type, expectation.column)]
            if res.exception_info and res.exception_info.get("raised_exception"):
                raise RuntimeError(
                    f"{self.model.name}: expectation {expectation.expectation_type} on "
                    f"{expectation.column} raised: {res.exception_info.get('exception_message')}"
                )
            unexpected_index = list((res.result or {}).get("unexpected_index_list") or ())
            unexpected = groups.loc[unexpected_index].value_counts()
            if expectation.expectation_type in _OVER_ALL_ROWS:
                denominators = sizes
            else:
                denominators = groups[rows[expectation.column].notna()].value_counts()
            for group in sizes.index:
                tally = self.tallies[group][i]
                count = int(unexpected.get(group, 0))
                tally.unexpected += count
                tally.denominator += int(denominators.get(group, 0))
                if count and len(tally.failing) < SAMPLE_SIZE:
                    failing = _failing_rows(rows.loc[groups == group], expectation)
                    tally.failing.extend(failing[: SAMPLE_SIZE - len(tally.failing)])

    def reports(self) -> dict:
        """Group key -> :class:`QualityReport` over every batch added."""
        out = {}
        for group, tallies in self.tallies.items():
            outcomes = []
            for (allowed, error_above, expectation), tally in zip(
                self.planned, tallies, strict=True
            ):
                total = tally.denominator
                fraction = tally.unexpected / total if total else 0.0
                success = fraction <= allowed + 1e-12
                severity = ERROR if error_above is not None and fraction > error_above else WARN
                failing = () if success else tuple(tally.failing)
                outcomes.append(
                    ExpectationOutcome(
                        severity=severity,
                        expectation=expectation.expectation_type,
                        column=expectation.column,
                        success=success,
                        unexpected_count=tally.unexpected,
                        unexpected_fraction=fraction,
                        allowed_fraction=allowed,
                        sample=tuple(r[expectation.column] for r in failing),
                        failing_rows=failing,
                    )
                )
            out[group] = QualityReport(rows=self.sizes[group], outcomes=tuple(outcomes))
        return out
