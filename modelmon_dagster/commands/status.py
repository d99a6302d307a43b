"""``modelmon status``: per model, the latest partitions, open failed checks, label coverage.

Partitions come from the Dagster instance (what the UI shows); checks and coverage from the
warehouse (``check_results`` holds the latest evaluation of every check and partition, so a
failure is open until a rerun of its partition passes).
"""

import datetime as dt

import dagster as dg
import pandas as pd

from modelmon_dagster.check_results import latest_results
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.performance import ALL
from modelmon_dagster.warehouse import Warehouse

# The last asset of each step: when it is materialised, the step ran through.
STEP_ASSETS = {
    "hours": "hourly_drift",
    "days": "daily_drift",
    "performance": "daily_performance",
}


def latest_partitions(instance: dg.DagsterInstance, model: ModelConfig) -> dict[str, tuple]:
    """``step -> (latest partition key or None, number of partitions materialised)``."""
    out = {}
    for step, asset in STEP_ASSETS.items():
        keys = instance.get_materialized_partitions(dg.AssetKey([model.name, asset]))
        out[step] = (max(keys) if keys else None, len(keys))
    return out


def open_failures(warehouse: Warehouse, model: ModelConfig, since: dt.datetime) -> pd.DataFrame:
    """Failed checks (latest evaluation per partition) of partitions starting from ``since``."""
    return latest_results(warehouse, model.name, since=since, statuses=("failed",))


def label_coverage(warehouse: Warehouse, model: ModelConfig, since: dt.datetime) -> pd.DataFrame:
    """Per prediction day from ``since``: predictions, labelled, coverage (latest measurement).

    From the join's counts, so a day whose labels have not started to arrive shows 0 %
    (``daily_performance`` has no realised row for it).
    """
    if not warehouse.table_exists("daily_performance_counts"):
        return pd.DataFrame(columns=["day_start", "n_predictions", "n_labelled", "coverage"])
    return warehouse.query_df(
        "SELECT day_start, n_predictions, n_labelled, "
        "CASE WHEN n_predictions > 0 THEN CAST(n_labelled AS DOUBLE PRECISION) / n_predictions "
        "END AS coverage "
        "FROM daily_performance_counts WHERE model_name = :m AND segment_column = :all "
        "AND segment_value = :all AND day_start >= :s ORDER BY day_start",
        {"m": model.name, "all": ALL, "s": since},
    )


def model_status(
    instance: dg.DagsterInstance,
    warehouse: Warehouse,
    model: ModelConfig,
    since: dt.datetime,
    examples: int = 5,
) -> list[str]:
    """The lines ``modelmon status`` prints for one model."""
    lines = [f"{model.name} ({model.task.value})"]
    for step, (latest, n) in latest_partitions(instance, model).items():
        lines.append(f"  {step:<12} latest {latest or '-':<17} ({n} partition(s) materialised)")
    failures = open_failures(warehouse, model, since)
    if failures.empty:
        lines.append(f"  open failed checks since {since:%Y-%m-%d}: none")
    else:
        counts = failures.groupby(["check_name", "severity"]).size()
        listed = ", ".join(f"{c} {s} x{n}" for (c, s), n in counts.items())
        lines.append(f"  open failed checks since {since:%Y-%m-%d}: {len(failures)} ({listed})")
        for r in failures.sort_values("period_start").tail(examples).itertuples():
            lines.append(
                f"    {r.partition_key:<17} {r.asset_name}.{r.check_name} {r.severity}: "
                f"{r.description[:100]}"
            )
    coverage = label_coverage(warehouse, model, since)
    if coverage.empty:
        lines.append("  label coverage: no performance measured yet")
    else:
        lines.append("  label coverage (prediction day: labelled / predictions):")
        for r in coverage.itertuples():
            share = "-" if pd.isna(r.coverage) else f"{r.coverage:.0%}"
            lines.append(
                f"    {pd.Timestamp(r.day_start):%Y-%m-%d}  {r.n_labelled} / {r.n_predictions}"
                f"  ({share})"
            )
    return lines
