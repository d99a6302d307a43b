"""Hourly and daily partitions shared by every monitored model (UTC)."""

import datetime as dt
import warnings
from dataclasses import dataclass

import dagster as dg

# Partitioned asset checks (AssetCheckSpec(partitions_def=...)) are a preview feature in Dagster
# 1.13; they are what makes per-partition check history work (docs/DESIGN.md).
warnings.filterwarnings(
    "ignore",
    message="Specifying a partitions_def on an AssetCheckSpec",
    category=dg.PreviewWarning,
)


def hourly_partitions(start: dt.datetime) -> dg.HourlyPartitionsDefinition:
    """One partition per UTC hour from ``start``."""
    return dg.HourlyPartitionsDefinition(
        start_date=start.strftime("%Y-%m-%d-%H:%M"), timezone="UTC"
    )


def daily_partitions(start: dt.datetime) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from ``start``."""
    return dg.DailyPartitionsDefinition(start_date=start.strftime("%Y-%m-%d"), timezone="UTC")


def monthly_partitions(start: dt.datetime) -> dg.MonthlyPartitionsDefinition:
    """One partition per UTC calendar month, from the month of ``start``.

    The month in progress is a partition too (``end_offset=1``), so a review can be requested
    before the month ends; the schedule asks for the month that just ended.
    """
    return dg.MonthlyPartitionsDefinition(
        start_date=start.strftime("%Y-%m-01"), timezone="UTC", end_offset=1
    )


def window_of(context: dg.AssetExecutionContext) -> tuple[dt.datetime, dt.datetime]:
    """The run's partition time window as naive UTC datetimes (warehouse convention)."""
    window = context.partition_time_window
    return (
        window.start.astimezone(dt.UTC).replace(tzinfo=None),
        window.end.astimezone(dt.UTC).replace(tzinfo=None),
    )


@dataclass(frozen=True)
class Period:
    """One partition of a run: its key and time window (naive UTC)."""

    key: str
    start: dt.datetime
    end: dt.datetime


def _naive(ts: dt.datetime) -> dt.datetime:
    return ts.astimezone(dt.UTC).replace(tzinfo=None)


def run_periods(context: dg.AssetExecutionContext) -> list[Period]:
    """Every partition the run covers, in time order (one for a normal run, many for a range).

    Ranged runs (``BackfillPolicy.single_run()``) are how a backfill avoids Dagster's per-run
    overhead: the step processes each partition of the range in turn.
    """
    partitions_def = context.assets_def.partitions_def
    periods = []
    for key in context.partition_keys:
        window = partitions_def.time_window_for_partition_key(key)
        periods.append(Period(key, _naive(window.start), _naive(window.end)))
    return sorted(periods, key=lambda p: p.start)
