"""Hourly and daily partitions shared by every monitored model (UTC)."""

import datetime as dt

import dagster as dg


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
