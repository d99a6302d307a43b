"""On a DuckDB warehouse, load clean hours straight from their files in one statement.

The general path parses files in an in-memory DuckDB, hands the rows over as Arrow, and the
warehouse scans them again to write them: a 1M-line day took 3.8-4.1 s, the writer thread
(appending Arrow chunks, compressing at each commit) being the slower of the two. When the
warehouse is DuckDB itself, ``INSERT INTO raw SELECT ... FROM read_json(...)`` reads, types,
validates and writes in one parallel pipeline that writes whole row groups as it goes.

That statement cannot quarantine: it fails on the first line that is not JSON or is mistyped,
and on the first rejected record (``error()`` in the query). Nor can it know repeated ids
before writing them. So it is tried first, and a group of hours that needs more (a failure, an
id twice in an hour, an id stored in another hour nearby) is rolled back whole and declined:
the caller loads those hours the general way, which quarantines by line. When it commits, the
group stores what the general path stores for those hours: the same query (``parser``), the
same rows, nothing quarantined.
"""

import datetime as dt
from pathlib import Path

import duckdb

from modelmon_dagster.config import ModelConfig
from modelmon_dagster.ingest.chunks import as_parts
from modelmon_dagster.ingest.parser import clean_hours_query
from modelmon_dagster.logformat import PREDICTIONS
from modelmon_dagster.warehouse import Replacement, TableSchema, Warehouse, quote


class Declined(Exception):
    """The group needs the general path; nothing of it was written."""


def load_hours_directly(
    warehouse: Warehouse,
    model: ModelConfig,
    stream: str,
    schema: TableSchema,
    hours: list[tuple[dt.datetime, list[Path]]],
    partitions: list[Replacement],
) -> list[int] | str:
    """Replace ``partitions`` with the hours' records in one transaction: rows per hour.

    When the group is declined (see the module's notes), why, in a line (``decline_reason``):
    then nothing changed.
    ``hours`` are ``(hour, its files in order)``; ``partitions`` are every window the hours
    replace (raw rows and quarantined lines), as the general path replaces them.
    """
    if warehouse.dialect != "duckdb":
        raise ValueError("a direct load needs a DuckDB warehouse")
    read = [(hour, as_parts(files)) for hour, files in hours if files]
    table = quote(schema.name)
    where, params = _hours_condition([hour for hour, _ in hours])
    try:
        with warehouse.replacing(partitions, clear=False, staged=False, analyze=False) as writer:
            driver = writer.connection.connection.driver_connection
            if stream == PREDICTIONS:
                driver.execute(
                    f"CREATE TEMP TABLE {OLD_IDS} AS "
                    f"SELECT partition_hour, prediction_id FROM {table} WHERE {where}",
                    params,
                )
            for rep in partitions:
                writer.clear(rep)
            if read:
                _insert(driver, model, stream, schema, read)
                _decline_repeats(driver, model, stream, table, where, params)
            counts = dict(
                driver.execute(
                    f"SELECT partition_hour, count(*) FROM {table} WHERE {where} "
                    "GROUP BY partition_hour",
                    params,
                ).fetchall()
            )
            driver.execute(f"DROP TABLE IF EXISTS {OLD_IDS}")
    except (Declined, duckdb.Error) as error:
        # The transaction was rolled back: the temporary objects went with it.
        return decline_reason(error)
    return [counts.get(hour, 0) for hour, _ in hours]


# Characters of an error's first line kept in a decline reason (it may quote a log line).
REASON_CHARS = 400


def decline_reason(error: Exception) -> str:
    """One line saying why a group was declined: ours, or DuckDB's error class and message.

    DuckDB's message may quote the offending line: only its start is kept (the line itself is
    quarantined with its reason by the general path).
    """
    if isinstance(error, Declined):
        return str(error)
    first = (str(error).strip().splitlines() or [""])[0]
    if len(first) > REASON_CHARS:
        first = first[: REASON_CHARS - 1] + "…"
    return f"{type(error).__name__}: {first}"


# The ids the group's hours held before this load (a general load of hour h still sees the old
# rows of the group's later hours when it looks for repeats).
OLD_IDS = "__modelmon_old_ids"

HOUR = dt.timedelta(hours=1)


def _hours_condition(hours: list[dt.datetime]) -> tuple[str, dict]:
    """SQL selecting the rows of ``hours`` (the range lets DuckDB skip row groups)."""
    where = (
        "partition_hour >= $first AND partition_hour <= $last "
        "AND list_contains($hours, partition_hour)"
    )
    return where, {"first": min(hours), "last": max(hours), "hours": sorted(hours)}


def _insert(
    driver,
    model: ModelConfig,
    stream: str,
    schema: TableSchema,
    read: list[tuple[dt.datetime, list]],
) -> None:
    """Insert every record of ``read``'s files; fail (``duckdb.Error``) on any rejected one."""
    select, params = clean_hours_query(driver, stream, model, read)
    if stream != PREDICTIONS:
        # Labels are stored under the hour they arrived in.
        params["arrival_hours"] = [hour for hour, _ in read]
        select = (
            "SELECT *, CAST($arrival_hours[__hour_index + 1] AS TIMESTAMP) AS partition_hour "
            f"FROM ({select})"
        )
    names = ", ".join(quote(c) for c in schema.column_names)
    driver.execute(
        f"INSERT INTO {quote(schema.name)} ({names}) SELECT {names} FROM ({select}) "
        "WHERE CASE WHEN __reason IS NULL THEN true "
        "ELSE error('rejected record: ' || __reason) END",
        params,
    )
    driver.execute("DROP VIEW file_all")


def _decline_repeats(
    driver, model: ModelConfig, stream: str, table: str, where: str, params: dict
) -> None:
    """Raise ``Declined`` if an id is twice in an hour or, for predictions, in another hour.

    Another hour: stored within ``label_delay.max_hours`` (as the general path's repeat lookup
    sees it), or held by one of the group's hours before this load. Either would make the
    general path quarantine a record, so the group goes that way.
    """
    twice = driver.execute(
        f"SELECT 1 FROM {table} WHERE {where} "
        "GROUP BY partition_hour, prediction_id HAVING count(*) > 1 LIMIT 1",
        params,
    ).fetchall()
    if twice:
        raise Declined("an id twice in an hour")
    if stream != PREDICTIONS:
        return
    span = dt.timedelta(hours=model.label_delay.max_hours)
    near = (
        "o.prediction_id = h.prediction_id AND o.partition_hour <> h.partition_hour "
        "AND o.partition_hour >= h.partition_hour - $span "
        "AND o.partition_hour < h.partition_hour + $span + INTERVAL 1 HOUR"
    )
    new = f"(SELECT partition_hour, prediction_id FROM {table} WHERE {where}) AS h"
    span_params = params | {"span": span}
    stored = driver.execute(
        f"SELECT 1 FROM {new} JOIN {table} AS o ON {near} "
        "WHERE o.partition_hour >= $since AND o.partition_hour < $until LIMIT 1",
        span_params | {"since": params["first"] - span, "until": params["last"] + span + HOUR},
    ).fetchall()
    # The old ids are looked at only when nothing stored repeats (usually there are none).
    if (
        stored
        or driver.execute(
            f"SELECT 1 FROM {new} JOIN {OLD_IDS} AS o ON {near} LIMIT 1", span_params
        ).fetchall()
    ):
        raise Declined("an id stored in another hour")
