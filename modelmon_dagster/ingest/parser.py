"""Turn a set of JSONL log files into typed rows and quarantined lines, in DuckDB.

DuckDB (in memory, separate from the warehouse) is the parsing engine whatever the warehouse is:
its JSON reader is far faster than per-line Python.

* Fast path: ``read_json`` with an explicit schema. It fails on the first malformed or mistyped
  line of a file, and cannot report line numbers.
* Line path: the file is split into numbered lines, each cast to JSON and transformed; invalid
  JSON, wrong types and every other problem are attributed to a line.

Each file is tried on the fast path first. Any file that fails it, or that yields a rejected
record, is parsed again on the line path, so every quarantined line carries its file, line
number, raw text and reason. Both paths produce the same normalised columns, so a file's rows
do not depend on the path that parsed it.
"""

import datetime as dt
import itertools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from modelmon_dagster.config import ModelConfig, Task
from modelmon_dagster.ingest.chunks import Part, as_parts, line_blocks
from modelmon_dagster.ingest.streams import StreamSpec, duck_type, label_stream, prediction_stream

QUARANTINE_COLUMNS = ("source_file", "line_no", "raw_line", "reason")


@dataclass(frozen=True)
class ParsedBatch:
    """Result of parsing one batch of files.

    Attributes
    ----------
    rows : pyarrow.Table
        Accepted records, typed, in the raw table's column order.
    quarantine : pyarrow.Table
        One row per rejected line: ``source_file``, ``line_no``, ``raw_line``, ``reason``.
    files : int
        Number of files read.
    lines : int
        Non-empty lines read (accepted + quarantined).
    line_path_files : int
        Files that needed the slower line-by-line path.
    """

    rows: pa.Table
    quarantine: pa.Table
    files: int
    lines: int
    line_path_files: int


_DATABASE: duckdb.DuckDBPyConnection | None = None
_OPENING = threading.Lock()


def _connect() -> duckdb.DuckDBPyConnection:
    """A private connection to this process's in-memory parsing database.

    Opening a database costs ~13 ms; a cursor on a shared one is nearly free, and its temp
    tables and views are its own.
    """
    global _DATABASE
    with _OPENING:  # chunks may be parsed in a thread while others are parsed in another
        if _DATABASE is None:
            # Memory freed after each chunk goes back to the system sooner (DuckDB's allocator
            # keeps up to 128 MB a thread by default): measured 430 MB instead of 500 at the
            # peak of a 13 MB chunk parsed line by line.
            _DATABASE = duckdb.connect(":memory:", config={"allocator_flush_threshold": "4MB"})
        con = _DATABASE.cursor()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _type_error_columns(spec: StreamSpec, line_path: bool) -> str:
    """One boolean per feature and optional number: a value was present but of another type.

    On the fast path every value read has its type (a mistyped one fails the read).
    """
    fields = [(f"features.{n}", f's.features."{n}"', f"te_{n}") for n in spec.feature_types]
    fields += [(n, f"s.{n}", f"tn_{n}") for n in spec.optional_numbers]
    cols = []
    for path, value, name in fields:
        if line_path:
            cols.append(
                f"(coalesce(json_type(j, '$.{path}'), 'NULL') <> 'NULL' "
                f'AND {value} IS NULL) AS "{name}"'
            )
        else:
            cols.append(f'false AS "{name}"')
    # NaN and infinities are stored as NULL and listed as the feature's schema error.
    for name, type_ in spec.feature_types.items():
        nonfinite = f'NOT isfinite(s.features."{name}")' if type_ == "DOUBLE" else "false"
        cols.append(f'coalesce({nonfinite}, false) AS "nf_{name}"')
    return "".join(f", {c}" for c in cols)


def _part_params(part: Part) -> dict:
    return {
        "path": str(part.read_path),
        "source": str(part.source_file),
        "first_line": part.first_line,
    }


def _read_fast(con, table: str, part: Part, spec: StreamSpec) -> bool:
    sql = f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT {part.file_index} AS file_index, $source AS source_file,
               CAST(NULL AS BIGINT) AS line_no, CAST($first_line AS BIGINT) AS first_line,
               CAST(NULL AS VARCHAR) AS raw_line,
               {spec.select_columns} {_type_error_columns(spec, line_path=False)}
        FROM (
            SELECT r AS s FROM read_json($path, format = 'newline_delimited',
                columns = {spec.read_json_columns()}) AS r
        )
    """
    try:
        con.execute(sql, _part_params(part))
        return True
    except duckdb.Error:
        return False


# Bytes of a part split into lines at a time on the line-by-line path.
LINE_PATH_BYTES = 1 << 20


def _numbered_lines(part: Part) -> Iterator[pa.Table]:
    r"""The part's lines, numbered in their file, about ``LINE_PATH_BYTES`` at a time.

    A line that is not valid UTF-8 keeps its bytes, escaped (as ``\xff``), and is flagged so
    that it is quarantined rather than failing the file.
    """
    number = part.first_line
    blocks = line_blocks(part.read_path, LINE_PATH_BYTES)
    for data in itertools.chain(blocks, [b""] if part.read_path.stat().st_size == 0 else []):
        raws = data.split(b"\n")
        if data.endswith(b"\n"):
            raws.pop()
        lines, valid = [], []
        for raw in raws:
            raw = raw.rstrip(b"\r")
            try:
                line, ok = raw.decode("utf-8"), True
            except UnicodeDecodeError:
                line, ok = raw.decode("utf-8", errors="backslashreplace"), False
            lines.append(line)
            valid.append(ok)
        yield pa.table(
            {
                "line_no": pa.array(range(number + 1, number + 1 + len(raws)), pa.int64()),
                "line": pa.array(lines, pa.string()),
                "utf8": pa.array(valid, pa.bool_()),
            }
        )
        number += len(raws)


def _read_lines(con, table: str, part: Part, spec: StreamSpec) -> None:
    """``{table}`` (records) and ``{table}_bad`` (lines that are no JSON object) of a part.

    A megabyte of lines at a time: parsing JSON line by line takes many times the text's size
    in memory, so the part's text is never handled whole.
    """
    piece = f"{table}_piece"
    lines = f"""
        SELECT line_no, line, utf8, CASE WHEN utf8 THEN try_cast(line AS JSON) END AS j
        FROM {piece} WHERE trim(line) <> ''
    """
    bad = f"""
        SELECT $source AS source_file, line_no, line AS raw_line,
               CASE WHEN NOT utf8 THEN 'invalid UTF-8'
                    WHEN j IS NULL THEN 'invalid JSON'
                    ELSE 'not a JSON object' END AS reason
        FROM ({lines})
        WHERE j IS NULL OR json_type(j) <> 'OBJECT'
    """
    records = f"""
        SELECT {part.file_index} AS file_index, $source AS source_file, line_no,
               CAST($first_line AS BIGINT) AS first_line, line AS raw_line,
               {spec.select_columns} {_type_error_columns(spec, line_path=True)}
        FROM (
            SELECT line_no, line, j, json_transform(j, '{spec.transform_shape()}') AS s
            FROM ({lines})
            WHERE j IS NOT NULL AND json_type(j) = 'OBJECT'
        )
    """
    source = {"source": str(part.source_file)}
    for i, numbered in enumerate(_numbered_lines(part)):
        into = "CREATE OR REPLACE TEMP TABLE {} AS " if i == 0 else "INSERT INTO {} "
        con.register(piece, numbered)
        try:
            con.execute(into.format(f"{table}_bad") + bad, source)
            con.execute(into.format(table) + records, source | {"first_line": part.first_line})
        finally:
            con.unregister(piece)


def _sql_list(values: list) -> str:
    """A DuckDB list literal of strings (quoted) or integers."""
    quoted = (
        str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for v in values
    )
    return "[" + ", ".join(quoted) + "]"


def _view_all_fast(
    con, parts: list[Part], spec: StreamSpec, per_file: dict[str, tuple[str, list]] | None = None
) -> None:
    """Every part in one parallel ``read_json`` (the common case: all files are clean).

    A view, so that validation reads the JSON in the same pass; a bad line makes the
    validation query fail, not this one. ``per_file`` adds columns holding a value per part:
    ``name -> (SQL type, values in the parts' order)``.
    """
    # Paths are inlined (a view cannot hold parameters); they are quoted as SQL strings.
    listed = _sql_list([str(p.read_path) for p in parts])
    position = f"list_position({listed}, r.filename)"
    extra = "".join(
        f"CAST({_sql_list(values)}[{position}] AS {type_}) AS {name}, "
        for name, (type_, values) in (per_file or {}).items()
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW file_all AS
        SELECT {extra}CAST({_sql_list([p.file_index for p in parts])}[{position}] AS INTEGER)
                   AS file_index,
               {_sql_list([str(p.source_file) for p in parts])}[{position}] AS source_file,
               CAST(NULL AS BIGINT) AS line_no,
               CAST({_sql_list([p.first_line for p in parts])}[{position}] AS BIGINT)
                   AS first_line,
               CAST(NULL AS VARCHAR) AS raw_line,
               {spec.select_columns} {_type_error_columns(spec, line_path=False)}
        FROM (
            SELECT r AS s, filename FROM read_json({listed}, format = 'newline_delimited',
                filename = true, columns = {spec.read_json_columns()}) AS r
        ) AS r
    """)


def _reason_sql(spec: StreamSpec, window: bool) -> str:
    """SQL of a record's quarantine reason (NULL when it is valid), the first that applies."""
    reasons = [(c, r) for c, r in spec.reasons if window or "$window_" not in c]
    return "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in reasons) + " END"


def _bound(params: dict, window: bool) -> dict:
    return {k: v for k, v in params.items() if window or not k.startswith("window")}


def _validate(con, tables: list[str], spec: StreamSpec, params: dict, window: bool) -> None:
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {t}" for t in tables)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE validated AS "
        f"SELECT *, {_reason_sql(spec, window)} AS reason FROM ({union})",
        _bound(params, window),
    )
    if not spec.unique_ids:
        return
    # Duplicates are rare: a cheap distinct count decides whether ranking rows is needed.
    duplicates = con.execute(
        "SELECT count(*) - count(DISTINCT prediction_id) FROM validated WHERE reason IS NULL"
    ).fetchone()[0]
    if duplicates:
        con.execute(
            """
            UPDATE validated SET reason = 'duplicate prediction_id'
            WHERE rowid IN (
                SELECT rowid FROM (
                    SELECT rowid, row_number() OVER (
                        PARTITION BY prediction_id ORDER BY file_index, line_no NULLS LAST) AS rank
                    FROM validated WHERE reason IS NULL
                ) WHERE rank > 1
            )
            """
        )


def _files_needing_line_numbers(con, spec: StreamSpec) -> set[int]:
    """Files read on the fast path that hold a rejected record, or a repeated label id.

    Both need line numbers: a quarantined line is reported by line, and repeated labels are
    ordered by arrival (file, then line).
    """
    sql = "SELECT DISTINCT file_index FROM validated WHERE line_no IS NULL AND (reason IS NOT NULL"
    if not spec.unique_ids:
        sql += """ OR prediction_id IN (
            SELECT prediction_id FROM validated WHERE reason IS NULL
            GROUP BY prediction_id HAVING count(*) > 1)"""
    return {i for (i,) in con.execute(sql + ")").fetchall()}


def _read_clean(
    con, parts: list[Part], spec: StreamSpec, params: dict, output_columns: str, window: bool
) -> pa.Table | None:
    """The parts' rows in one pass (read, typed and validated together), if all are clean.

    None when any line needs more than that: a malformed or mistyped line (the read fails), a
    rejected record, or an id read twice (duplicates and corrected labels are ranked by file
    and line). Then the parts are parsed again the long way, which gives the same rows for the
    clean lines and quarantines the others with their line numbers.
    """
    _view_all_fast(con, parts, spec)
    sql = (
        f"SELECT {output_columns}, reason AS __reason FROM "
        f"(SELECT *, {_reason_sql(spec, window)} AS reason FROM file_all)"
    )
    try:
        table = con.sql(sql, params=_bound(params, window)).to_arrow_table()
    except duckdb.Error:
        return None
    if table.column("__reason").null_count != table.num_rows:
        return None
    if pc.count_distinct(table.column("prediction_id")).as_py() != table.num_rows:
        return None
    return table.drop_columns(["__reason"])


def _parse(
    files: Sequence[Path | Part],
    spec: StreamSpec,
    params: dict,
    output_columns: str,
    window: bool,
    one_pass_only: bool = False,
) -> ParsedBatch | None:
    parts = {p.file_index: p for p in as_parts(files)}
    output_sql = f"SELECT {output_columns} FROM validated WHERE reason IS NULL"
    con = _connect()
    try:
        if not parts:
            return _empty(con, spec, output_sql)
        clean = _read_clean(con, list(parts.values()), spec, params, output_columns, window)
        if clean is not None:
            return ParsedBatch(
                rows=clean,
                quarantine=_empty_quarantine(con),
                files=len({p.source_file for p in parts.values()}),
                lines=clean.num_rows,
                line_path_files=0,
            )
        if one_pass_only:
            return None
        line_path: set[int] = set()
        one_read = True
        while True:
            bad_tables = [f"file_{i}_bad" for i in sorted(line_path)]
            if one_read:
                _view_all_fast(con, list(parts.values()), spec)
                try:
                    _validate(con, ["file_all"], spec, params, window)
                except duckdb.Error:
                    one_read = False
            if not one_read:
                tables = []
                for index, part in parts.items():
                    table = f"file_{index}"
                    tables.append(table)
                    if index in line_path or not _read_fast(con, table, part, spec):
                        _read_lines(con, table, part, spec)
                        line_path.add(index)
                        if f"{table}_bad" not in bad_tables:
                            bad_tables.append(f"{table}_bad")
                _validate(con, tables, spec, params, window)
            redo = _files_needing_line_numbers(con, spec)
            if not redo:
                break
            line_path |= redo
            one_read = False
        rows = con.sql(output_sql).to_arrow_table()
        quarantine_sql = " UNION ALL ".join(
            [
                "SELECT source_file, line_no, raw_line, reason "
                "FROM validated WHERE reason IS NOT NULL"
            ]
            + [f"SELECT source_file, line_no, raw_line, reason FROM {t}" for t in bad_tables]
        )
        # PostgreSQL text cannot hold NUL: the raw line keeps it as the JSON escape.
        quarantine = con.sql(
            "SELECT source_file, line_no, replace(raw_line, chr(0), '\\u0000') AS raw_line, "
            f"reason FROM ({quarantine_sql}) ORDER BY source_file, line_no"
        ).to_arrow_table()
        return ParsedBatch(
            rows=rows,
            quarantine=quarantine,
            files=len({p.source_file for p in parts.values()}),
            lines=rows.num_rows + quarantine.num_rows,
            line_path_files=len(line_path),
        )
    finally:
        con.close()


def _empty(con, spec: StreamSpec, output_sql: str) -> ParsedBatch:
    # Build the empty result from the same SQL so that its schema matches a non-empty batch.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE validated AS
        SELECT 0 AS file_index, '' AS source_file, CAST(NULL AS BIGINT) AS line_no,
               CAST(0 AS BIGINT) AS first_line, CAST(NULL AS VARCHAR) AS raw_line,
               {spec.select_columns}
               {_type_error_columns(spec, line_path=False)}, CAST(NULL AS VARCHAR) AS reason
        FROM (SELECT CAST(NULL AS {duck_type(spec.shape)}) AS s) WHERE false
        """
    )
    rows = con.sql(output_sql).to_arrow_table()
    quarantine = _empty_quarantine(con)
    return ParsedBatch(rows=rows, quarantine=quarantine, files=0, lines=0, line_path_files=0)


def _empty_quarantine(con) -> pa.Table:
    return con.sql(
        "SELECT CAST(NULL AS VARCHAR) AS source_file, CAST(NULL AS BIGINT) AS line_no, "
        "CAST(NULL AS VARCHAR) AS raw_line, CAST(NULL AS VARCHAR) AS reason WHERE false"
    ).to_arrow_table()


def _window_params(hour: dt.datetime | None) -> dict:
    if hour is None:
        return {}
    start = hour.replace(tzinfo=dt.UTC)
    return {"window_start": start, "window_end": start + dt.timedelta(hours=1)}


def _schema_errors_sql(spec: StreamSpec) -> str:
    parts = []
    for name in spec.feature_types:
        missing = (
            f" WHEN \"f_{name}\" IS NULL THEN '{name}:missing'"
            if name in spec.required_features
            else ""
        )
        parts.append(
            f"CASE WHEN \"te_{name}\" THEN '{name}:type' "
            f"WHEN \"nf_{name}\" THEN '{name}:non-finite'{missing} END"
        )
    if not parts:
        return "CAST(NULL AS VARCHAR)"
    return f"nullif(concat_ws(',', {', '.join(parts)}), '')"


def parse_prediction_files(
    files: Sequence[Path | Part],
    model: ModelConfig,
    hour: dt.datetime | None = None,
    repeated_ids: Sequence[str] = (),
    earlier_ids: Sequence[str] = (),
    one_pass_only: bool = False,
) -> ParsedBatch | None:
    """Parse prediction log files of one model.

    Parameters
    ----------
    files : sequence of Path or Part
        Closed JSONL files (or line ranges of them, see ``chunks``), in a stable order (earlier
        files win on duplicate ids).
    model : ModelConfig
        The model whose log this is; its features, task and classes define validity.
    hour : datetime, optional
        The partition hour (naive UTC). When given, records stamped outside it are quarantined.
    repeated_ids : sequence of str, optional
        Ids already stored in another hour: their records are quarantined as repeats.
    earlier_ids : sequence of str, optional
        Ids already accepted from an earlier chunk of the same hour: duplicates.
    one_pass_only : bool, optional
        Return None instead of parsing line by line when the one pass declines the files.

    Returns
    -------
    ParsedBatch
        Typed rows in the raw predictions table's column order, and quarantined lines.

    Notes
    -----
    Feature-level problems do not reject a record: a required feature that is absent or null is
    listed as ``name:missing`` and a value of the wrong type as ``name:type`` in the
    ``schema_errors`` column, and the value is stored as NULL. Quality checks act on them.
    """
    query = _prediction_query(model, hour, repeated_ids, earlier_ids)
    return _parse(files, *query, one_pass_only=one_pass_only)


def _prediction_query(
    model: ModelConfig,
    hour: dt.datetime | None,
    repeated_ids: Sequence[str] = (),
    earlier_ids: Sequence[str] = (),
) -> tuple[StreamSpec, dict, str, bool]:
    """``(spec, params, output columns, window)`` of parsing one hour of predictions."""
    spec = prediction_stream(model)
    if model.task is Task.REGRESSION:
        outputs = (
            "CAST(NULL AS VARCHAR) AS prediction_label, "
            "CAST(prediction AS DOUBLE) AS prediction_value"
        )
    else:
        outputs = (
            "(prediction ->> '$') AS prediction_label, CAST(NULL AS DOUBLE) AS prediction_value"
        )
    features = ", ".join(f'"{f.column}"' for f in model.features)
    output_columns = f"""
        date_trunc('hour', ts AT TIME ZONE 'UTC') AS partition_hour,
               prediction_id, model_version, ts AT TIME ZONE 'UTC' AS ts, status, error_type,
               latency_ms, {outputs}, score, probabilities,
               host_cpu_pct, host_memory_mb, host_gpu_pct,
               {_schema_errors_sql(spec)} AS schema_errors,
               parse_filename(source_file) AS source_file_name, {features}
    """
    params = {"model_name": model.name}
    # Repeats are rare: a condition on an empty id list is left out (it can never hold).
    for name, ids in (("repeated_ids", repeated_ids), ("earlier_ids", earlier_ids)):
        if ids:
            params[name] = list(ids)
        else:
            spec = replace(spec, reasons=[(c, r) for c, r in spec.reasons if f"${name}" not in c])
    params |= _window_params(hour)
    if model.task.is_classification:
        params["classes"] = list(model.classes)
    return spec, params, output_columns, hour is not None


# How far a label's own timestamp may lie beyond the end of the hour it arrived in (clocks of
# label sources drift; a label stamped in 2099 must not win "latest label" forever).
LABEL_CLOCK_SKEW = dt.timedelta(minutes=15)


def parse_label_files(
    files: Sequence[Path | Part],
    model: ModelConfig,
    hour: dt.datetime | None = None,
    one_pass_only: bool = False,
) -> ParsedBatch | None:
    """Parse label log files of one model.

    Parameters
    ----------
    files : sequence of Path or Part
        Closed JSONL files (or line ranges of them), in a stable order (their arrival order
        within the hour).
    model : ModelConfig
        The model whose labels these are.
    hour : datetime, optional
        The arrival hour (naive UTC). When given, labels stamped later than its end plus
        ``LABEL_CLOCK_SKEW`` are quarantined.
    one_pass_only : bool, optional
        Return None instead of parsing line by line when the one pass declines the files.

    Returns
    -------
    ParsedBatch
        Rows ``prediction_id, label_text, label_value, label_ts, source_file_name,
        arrival_seq``. A repeated prediction id (a corrected label) keeps every record;
        ``arrival_seq`` orders them by file, then line.
    """
    return _parse(files, *_label_query(model, hour), one_pass_only=one_pass_only)


def _label_query(
    model: ModelConfig, hour: dt.datetime | None
) -> tuple[StreamSpec, dict, str, bool]:
    """``(spec, params, output columns, window)`` of parsing one hour of labels."""
    spec = label_stream(model)
    if model.task is Task.REGRESSION:
        label = "CAST(NULL AS VARCHAR) AS label_text, CAST(label AS DOUBLE) AS label_value"
    else:
        label = "(label ->> '$') AS label_text, CAST(NULL AS DOUBLE) AS label_value"
    output_columns = f"""
        prediction_id, {label}, ts AT TIME ZONE 'UTC' AS label_ts,
               parse_filename(source_file) AS source_file_name,
               CAST(file_index AS BIGINT) * 4294967296 + coalesce(line_no, first_line)
                   AS arrival_seq
    """
    params = {"model_name": model.name}
    if hour is not None:
        params["window_end"] = _window_params(hour)["window_end"] + LABEL_CLOCK_SKEW
    if model.task.is_classification:
        params["classes"] = list(model.classes)
    return spec, params, output_columns, hour is not None


# Columns of the shared pass that say which hour a row belongs to and that hour's window.
_HOUR_INDEX = "__hour_index"
_WINDOW_COLUMNS = {"window_start": "__window_start", "window_end": "__window_end"}


def clean_hours_query(
    con, stream: str, model: ModelConfig, hours: list[tuple[dt.datetime, list[Part]]]
) -> tuple[str, dict]:
    """The one pass over several hours' parts: ``(SELECT, parameters)`` on ``con``.

    Creates the temporary view ``file_all`` on ``con``. The SELECT gives the stream's output
    columns, ``__hour_index`` (the row's position in ``hours``) and ``__reason`` (why the record
    is rejected, NULL when it is valid), each hour judged against its own window.
    """
    query = _prediction_query if stream == "predictions" else _label_query
    spec, params, output_columns, _ = query(model, hours[0][0])
    windows = [k for k in params if k in _WINDOW_COLUMNS]
    params = {k: v for k, v in params.items() if k not in _WINDOW_COLUMNS}
    parts, per_file = (
        [],
        {_HOUR_INDEX: ("INTEGER", [])} | {_WINDOW_COLUMNS[k]: ("TIMESTAMPTZ", []) for k in windows},
    )
    for index, (hour, hour_parts) in enumerate(hours):
        hour_params = query(model, hour)[1]
        for part in hour_parts:
            parts.append(part)
            per_file[_HOUR_INDEX][1].append(index)
            for key in windows:
                per_file[_WINDOW_COLUMNS[key]][1].append(hour_params[key].isoformat())
    reason = _reason_sql(spec, window=True)
    for key, column in _WINDOW_COLUMNS.items():
        reason = reason.replace(f"${key}", column)
    _view_all_fast(con, parts, spec, per_file)
    sql = (
        f"SELECT {output_columns}, {_HOUR_INDEX}, reason AS __reason FROM "
        f"(SELECT *, {reason} AS reason FROM file_all)"
    )
    return sql, params


def parse_clean_hours(
    stream: str, model: ModelConfig, hours: list[tuple[dt.datetime, list[Part]]]
) -> list[ParsedBatch | None] | None:
    """Several hours' parts parsed in one pass and split by hour: the clean hours' batches.

    A backfill's hours are small (hundreds of lines), and the fixed cost of one pass (building
    and planning the query: ~15 ms) was most of their parsing. Each hour is judged against its
    own window, and each batch equals what ``parse_prediction_files`` or ``parse_label_files``
    gives for that hour alone on a first attempt (no repeated ids known yet). An hour is None
    where it needs more than the one pass (a rejected record, or an id read twice in it): parse
    it alone, which quarantines by line. The whole result is None when the pass fails (a line
    that is not JSON or is mistyped): which hour holds it is not known.
    """
    con = _connect()
    try:
        sql, params = clean_hours_query(con, stream, model, hours)
        try:
            table = con.sql(sql, params=params).to_arrow_table()
        except duckdb.Error:
            return None
        # Hours with a rejected record or an id twice (as ``_read_clean`` declines a chunk).
        con.register("hours_read", table)
        declined = {
            i
            for (i,) in con.sql(
                f"SELECT DISTINCT {_HOUR_INDEX} FROM hours_read WHERE __reason IS NOT NULL "
                f"UNION SELECT {_HOUR_INDEX} FROM hours_read "
                f"GROUP BY {_HOUR_INDEX}, prediction_id HAVING count(*) > 1"
            ).fetchall()
        }
        no_quarantine = _empty_quarantine(con)
    finally:
        con.close()
    table = table.drop_columns(["__reason"])
    batches: list[ParsedBatch | None] = []
    for index, (_, hour_parts) in enumerate(hours):
        if index in declined:
            batches.append(None)
            continue
        rows = table.filter(pc.equal(table.column(_HOUR_INDEX), index))
        batches.append(
            ParsedBatch(
                rows=rows.drop_columns([_HOUR_INDEX]),
                quarantine=no_quarantine,
                files=len({p.source_file for p in hour_parts}),
                lines=rows.num_rows,
                line_path_files=0,
            )
        )
    return batches
