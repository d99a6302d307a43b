"""What a backfill has to run: the missing partitions of a window, as ranged runs (no runs).

A backfill is resumable because it asks the instance which partitions are already
materialised and plans runs for the rest only. A partition counts as done when every asset of
the step has a materialisation for it (a run that failed half-way leaves it to be redone).
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from modelmon_dagster.defs.performance.sensors import days_to_refresh

HOUR_KEY = "%Y-%m-%d-%H:%M"
DAY_KEY = "%Y-%m-%d"
STEPS = ("hourly", "daily", "performance")


@dataclass(frozen=True)
class PlannedRun:
    """One ranged run: a step of one model over ``keys`` (consecutive partitions)."""

    model_name: str
    step: str  # hourly, daily or performance
    keys: tuple[str, ...]

    @property
    def first(self) -> str:
        """The first partition key of the range."""
        return self.keys[0]

    @property
    def last(self) -> str:
        """The last partition key of the range."""
        return self.keys[-1]

    def describe(self) -> str:
        """E.g. ``fraud_detector hourly 2026-11-01-00:00..2026-11-01-23:00``."""
        span = self.first if len(self.keys) == 1 else f"{self.first}..{self.last}"
        return f"{self.model_name} {self.step} {span}"


def hour_keys(start: dt.datetime, end: dt.datetime) -> list[str]:
    """Keys of the hours in ``[start, end)``."""
    hours = int((end - start) / dt.timedelta(hours=1))
    return [(start + dt.timedelta(hours=h)).strftime(HOUR_KEY) for h in range(hours)]


def day_keys(start: dt.datetime, end: dt.datetime) -> list[str]:
    """Keys of the whole days in ``[start, end)`` (a day still in progress is left out)."""
    days = int((end - start) / dt.timedelta(days=1))
    return [(start + dt.timedelta(days=d)).strftime(DAY_KEY) for d in range(days)]


def window(
    first_day: dt.date, last_day: dt.date, partitions_start: dt.datetime, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of a backfill over whole days, cut at the last closed hour.

    Raises ``ValueError`` when the days are reversed, lie before the first partition, or in
    the future.
    """
    if last_day < first_day:
        raise ValueError(f"--to {last_day} is before --from {first_day}")
    start = dt.datetime.combine(first_day, dt.time())
    if start < partitions_start:
        raise ValueError(
            f"--from {first_day} is before partitions.start_date "
            f"{partitions_start:%Y-%m-%d}: move the start date in the config back"
        )
    closed = now.replace(minute=0, second=0, microsecond=0)
    end = min(dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time()), closed)
    if end <= start:
        raise ValueError(f"nothing to do: {first_day} has no closed hour yet")
    return start, end


def missing_runs(
    model_name: str, step: str, keys: list[str], done: Iterable[str], per_run: int
) -> list[PlannedRun]:
    """Ranged runs over the keys not in ``done``, consecutive, at most ``per_run`` each."""
    done = set(done)
    runs, current = [], []
    for key in keys:
        if key in done:
            if current:
                runs.append(current)
            current = []
            continue
        current.append(key)
        if len(current) == per_run:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [PlannedRun(model_name, step, tuple(r)) for r in runs]


def refresh_days(
    arrivals: Iterable[tuple[str, dt.datetime]],
    max_delay_hours: float,
    done: Iterable[str],
    rerun: Iterable[str],
) -> list[str]:
    """Prediction days whose performance new labels change, and that this backfill left alone.

    ``arrivals`` are ``(prediction day, arrival hour)`` pairs of the labels ingested; a day
    counts within the model's label-delay window (as the late-label sensor counts it), if its
    performance was materialised before (``done``) and not recomputed in this backfill
    (``rerun``: those already saw every label).
    """
    done, rerun = set(done), set(rerun)
    days: set[str] = set()
    for day, arrival in arrivals:
        days.update(days_to_refresh([day], arrival, max_delay_hours))
    return sorted(d for d in days if d in done and d not in rerun)
