"""Tier status from stored check verdicts: green, amber, red, or grey when nothing was judged.

Every check belongs to one of three tiers:

- **system**: is the model serving requests? (volume, latency, error and timeout rates, hosts)
- **data**: are the inputs within expected ranges? (schema, quality, drift, null rates, segments)
- **model**: are the predictions reasonable? (performance, calibration, control charts, CUSUM)

A check's colour comes from one stored evaluation (``check_results``): failed at ERROR is red,
failed at WARN amber, passed green, not judged grey. A tier takes the worst colour among its
checks; grey is the lowest rank, so a tier is grey only when none of its checks judged. A check
that could not judge is never red.
"""

from dataclasses import dataclass

import pandas as pd

from modelmon_dagster.checks import FAILED, NOT_JUDGED, PASSED
from modelmon_dagster.dashboard.guidance import guidance

GREEN, AMBER, RED, GREY = "green", "amber", "red", "grey"
RANK = {GREY: 0, GREEN: 1, AMBER: 2, RED: 3}
TIERS = ("system", "data", "model")
HEADLINE_CHARS = 160  # the full message is on the check timeline and in the alerts
TIER_QUESTIONS = {
    "system": "Is the model serving requests?",
    "data": "Are the inputs within expected ranges?",
    "model": "Are the predictions reasonable?",
}
# (asset, check) -> tier; a check not listed goes by its asset.
_CHECK_TIERS = {
    ("hourly_prediction_stats", "volume"): "system",
    ("hourly_prediction_stats", "latency"): "system",
    ("hourly_prediction_stats", "error_rate"): "system",
    ("hourly_prediction_stats", "host_resources"): "system",
    ("hourly_metrics", "control_charts"): "model",
    ("hourly_metrics", "cusum"): "model",
}
_ASSET_TIERS = {
    "raw_predictions": "data",
    "raw_labels": "data",
    "hourly_drift": "data",
    "daily_drift": "data",
    "daily_performance": "model",
    "hourly_prediction_stats": "system",
}


def tier_of(asset_name: str, check_name: str) -> str:
    """The tier a check reports on (``model`` for anything unknown judging predictions)."""
    return _CHECK_TIERS.get((asset_name, check_name)) or _ASSET_TIERS.get(asset_name, "model")


def colour_of(status: str, severity: str | None) -> str:
    """The colour of one stored evaluation (``status`` from ``check_results``)."""
    if status == FAILED:
        return RED if severity == "ERROR" else AMBER
    if status == PASSED:
        return GREEN
    if status == NOT_JUDGED:
        return GREY
    raise ValueError(f"unknown check status {status!r}")


def worst(colours) -> str:
    """The worst of some colours (grey when there are none)."""
    return max(colours, key=RANK.__getitem__, default=GREY)


@dataclass(frozen=True)
class Finding:
    """One check's latest evaluation, as a tier's status line lists it."""

    tier: str
    check: str  # asset.check
    colour: str
    partition_key: str
    description: str
    run_id: str | None


@dataclass(frozen=True)
class TierStatus:
    """A tier's colour and the findings behind it, worst first."""

    tier: str
    colour: str
    findings: tuple[Finding, ...]

    @property
    def judged(self) -> int:
        """How many of the tier's checks reached a verdict."""
        return sum(f.colour != GREY for f in self.findings)

    @property
    def advice(self) -> str | None:
        """What the worst failed finding means and what to do first."""
        bad = [f for f in self.findings if f.colour in (RED, AMBER)]
        known = guidance(bad[0].check.split(".")[-1]) if bad else None
        return f"{known[0].capitalize()}: {known[1]}." if known else None

    @property
    def headline(self) -> str:
        """One line: what is wrong, or how many checks passed."""
        bad = [f for f in self.findings if f.colour in (RED, AMBER)]
        if bad:
            first = bad[0]
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            text = first.description
            text = text if len(text) <= HEADLINE_CHARS else text[: HEADLINE_CHARS - 1] + "…"
            return f"{first.check} on {first.partition_key}: {text}{more}"
        if self.colour == GREY:
            return "not judged yet (no data, no labels or no history)"
        waiting = len(self.findings) - self.judged
        return f"{self.judged} checks passed" + (f", {waiting} not judged" if waiting else "")


def with_colour(results: pd.DataFrame) -> pd.DataFrame:
    """``check_results`` rows with their ``tier`` and ``colour``."""
    frame = results.copy()
    pairs = zip(frame["asset_name"], frame["check_name"], strict=True)
    frame["tier"] = [tier_of(a, c) for a, c in pairs]
    verdicts = zip(frame["status"], frame["severity"], strict=True)
    frame["colour"] = [colour_of(s, v) for s, v in verdicts]
    return frame


def tier_statuses(results: pd.DataFrame) -> dict[str, TierStatus]:
    """Each tier's status from the latest evaluation of each of its checks in ``results``.

    ``results`` are rows of ``check_results`` (already limited to the period of interest).
    "Latest" is per check and grain: the evaluation of the last partition.
    """
    out = {}
    frame = with_colour(results) if len(results) else pd.DataFrame()
    latest = (
        frame.sort_values("period_start").groupby(["asset_name", "check_name", "grain"]).tail(1)
        if len(frame)
        else frame
    )
    for tier in TIERS:
        rows = latest[latest["tier"] == tier] if len(latest) else latest
        findings = sorted(
            (
                Finding(
                    tier,
                    f"{r.asset_name}.{r.check_name}",
                    r.colour,
                    r.partition_key,
                    r.description or "",
                    r.run_id,
                )
                for r in rows.itertuples()
            ),
            key=lambda f: (-RANK[f.colour], f.check),
        )
        out[tier] = TierStatus(tier, worst(f.colour for f in findings), tuple(findings))
    return out


def daily_grid(results: pd.DataFrame, days: list[pd.Timestamp]) -> pd.DataFrame:
    """Worst colour per tier and day over every partition of the day (days x tiers).

    The status line shows the latest verdicts; this grid keeps the incidents of earlier hours
    and days in view, each on its day and in its tier.
    """
    grid = pd.DataFrame(GREY, index=pd.DatetimeIndex(days), columns=list(TIERS))
    if not len(results):
        return grid
    frame = with_colour(results)
    frame["day"] = pd.to_datetime(frame["period_start"]).dt.normalize()
    for (day, tier), rows in frame.groupby(["day", "tier"]):
        if day in grid.index:
            grid.loc[day, tier] = worst(rows["colour"])
    return grid
