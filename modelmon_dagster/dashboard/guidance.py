"""What a failed check means and what to look at first, in words for the person on call.

The dashboard shows it next to a tier's worst finding; every asset check's description in the
Dagster UI ends with it (:func:`check_description`).
"""

# check name -> (what is wrong, what to do first)
GUIDANCE = {
    "volume": (
        "fewer (or more) predictions than the same hour usually has",
        "check the callers and the log shipping; a drop right after a deploy is a rollback "
        "candidate",
    ),
    "latency": (
        "more than 1 % of requests slower than the latency threshold",
        "look for a slow dependency or host saturation; after a deploy, roll back",
    ),
    "error_rate": (
        "requests failing or timing out above the threshold",
        "read error_type in the raw predictions; a spike after a deploy is a rollback candidate",
    ),
    "host_resources": (
        "serving hosts running hot",
        "scale out or look for a runaway process on the hosts",
    ),
    "schema": (
        "records missing features or carrying the wrong types",
        "find the upstream change in the feature pipeline, fix the producer and rerun the hour "
        "(meanwhile the broken columns' statistics are left out of the hour's aggregates)",
    ),
    "data_quality": (
        "values outside the baseline's ranges or categories, or quarantined lines",
        "compare the offending columns (the failing rows are in the metadata) with their "
        "source; fix the producer, not the check",
    ),
    "feature_drift": (
        "input features distributed differently from the baseline",
        "see the drift heat map on the dashboard page for the columns and days; if performance "
        "follows, retrain",
    ),
    "prediction_drift": (
        "predictions or scores distributed differently from the baseline",
        "usually follows input drift; check the dashboard's model tier for a performance drop",
    ),
    "label_drift": (
        "the arriving labels differ from the baseline",
        "the world changed (concept drift): expect performance to follow, plan a retrain",
    ),
    "null_rate": (
        "more (or fewer) missing values than the reference had",
        "look for an upstream join or feature source that stopped filling the column",
    ),
    "segment_drift": (
        "drift inside a segment against that segment's own reference",
        "see the segment drift heat map on the dashboard page; one segment's traffic or "
        "population changed",
    ),
    "performance": (
        "realised performance worse than the reference",
        "check label coverage first; with enough labels, retrain or roll back",
    ),
    "estimated_performance": (
        "the confidence-based estimate fell before labels arrived",
        "an early warning: watch the realised metric as labels mature",
    ),
    "segment_performance": (
        "a segment clearly worse than the rest of the day",
        "see the segment chart on the dashboard page; consider a segment-specific fix or retrain",
    ),
    "calibration": (
        "scores stopped meaning the probabilities they meant",
        "recalibrate or retrain; thresholds set on scores are off meanwhile",
    ),
    "business_rules": (
        "a business rule on the realised metrics is broken",
        "the rule's owner decides: retrain, roll back or accept",
    ),
    "control_charts": (
        "a monitored series beyond its control limits",
        "the check's message names the series; see the control charts on the dashboard page",
    ),
    "cusum": (
        "a small persistent shift or slow ramp in a series",
        "the check's message names the series and direction; see the CUSUM chart on the "
        "dashboard page",
    ),
}


def check_description(check_name: str, measures: str) -> str:
    """A check's description: what it ``measures``, what a failure means and what to do.

    Raises ``KeyError`` for a check without guidance: every check must say what to do.
    """
    wrong, action = GUIDANCE[check_name]
    return f"{measures.rstrip()} A failure means {wrong}. What to do: {action}."


def guidance(check_name: str) -> tuple[str, str] | None:
    """``(what is wrong, what to do)`` for a check, or ``None`` for an unknown check."""
    return GUIDANCE.get(check_name)
