"""Encode an Arrow table as PostgreSQL's binary ``COPY`` format, with Arrow compute (no rows).

PostgreSQL parses binary ``COPY`` in about half the server CPU of CSV (no text to scan, no
numbers or timestamps to parse: measured 5.0 against 8.8 CPU-s per million 41-column rows), and
the encoding here is vectorised: each column becomes one Arrow array of its cells (length word
and big-endian value), the cells of a row are joined by ``binary_join_element_wise``, and the
joined array's data buffer is the stream. A table whose columns are not of the portable types
(see ``copy_read.ARROW_TYPES``) gets ``None``: the caller sends CSV instead.
"""

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelmon_dagster.copy_read import ARROW_TYPES

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
# PostgreSQL's epoch for timestamps and dates.
EPOCH_MICROS = 946_684_800_000_000
EPOCH_DAYS = 10_957


def _fixed(values: np.ndarray, width: int) -> pa.Array:
    """Cells of a fixed-width type: the length word, then the big-endian value."""
    cells = np.empty((len(values), 4 + width), dtype=np.uint8)
    cells[:, :4] = np.frombuffer(width.to_bytes(4, "big"), dtype=np.uint8)
    cells[:, 4:] = values.view(np.uint8).reshape(-1, width)
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(4 + width), len(values), [None, pa.py_buffer(cells)]
    ).cast(pa.binary())


def _numbers(column: pa.Array, big_endian: str, offset: int = 0) -> np.ndarray:
    values = column.fill_null(0).to_numpy(zero_copy_only=False)
    return (values - offset).astype(big_endian) if offset else values.astype(big_endian)


def _cells(column: pa.Array, sql_type: str) -> pa.Array:
    """One binary cell per value of ``column`` (already of ``ARROW_TYPES[sql_type]``)."""
    if sql_type == "VARCHAR":
        data = column.cast(pa.binary())
        lengths = pc.binary_length(data).fill_null(0).to_numpy(zero_copy_only=False)
        prefix = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(4), len(data), [None, pa.py_buffer(lengths.astype(">i4"))]
        ).cast(pa.binary())
        cells = pc.binary_join_element_wise(prefix, data.fill_null(b""), b"")
    elif sql_type == "DOUBLE PRECISION":
        cells = _fixed(_numbers(column, ">f8"), 8)
    elif sql_type == "BIGINT":
        cells = _fixed(_numbers(column, ">i8"), 8)
    elif sql_type == "INTEGER":
        cells = _fixed(_numbers(column, ">i4"), 4)
    elif sql_type == "BOOLEAN":
        cells = _fixed(_numbers(column.cast(pa.uint8()), ">u1"), 1)
    elif sql_type == "TIMESTAMP":
        cells = _fixed(_numbers(column.cast(pa.int64()), ">i8", EPOCH_MICROS), 8)
    else:  # DATE
        cells = _fixed(_numbers(column.cast(pa.int32()), ">i4", EPOCH_DAYS), 4)
    if column.null_count:
        cells = pc.if_else(column.is_null(), pa.scalar(NULL, pa.binary()), cells)
    return cells


def _as_portable(column: pa.ChunkedArray, sql_type: str) -> pa.Array | None:
    """``column`` as the Arrow type of ``sql_type``, if that is a lossless, textless cast."""
    target = ARROW_TYPES[sql_type]
    source = column.type
    if source == target or pa.types.is_null(source):
        pass
    elif sql_type == "VARCHAR" and pa.types.is_large_string(source):
        pass
    elif sql_type in ("DOUBLE PRECISION", "BIGINT", "INTEGER") and (
        pa.types.is_integer(source) or pa.types.is_floating(source)
    ):
        pass
    elif sql_type == "TIMESTAMP" and pa.types.is_timestamp(source) and source.tz is None:
        pass
    else:
        return None
    try:
        return column.cast(target, safe=True).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


# Rows encoded at a time (Arrow's binary arrays hold at most 2 GB).
ROWS_AT_A_TIME = 1 << 16


def binary_copy(rows: pa.Table, columns: tuple[tuple[str, str], ...]) -> Iterator[bytes] | None:
    """``rows`` (in ``columns``' order) as a binary ``COPY`` stream in pieces, or ``None``."""
    portable = []
    for (_, sql_type), column in zip(columns, rows.columns, strict=True):
        cast = _as_portable(column, sql_type)
        if cast is None:
            return None
        portable.append(cast)
    return _stream(portable, [t for _, t in columns])


def _stream(columns: list[pa.Array], sql_types: list[str]) -> Iterator[bytes]:
    yield HEADER
    rows = len(columns[0]) if columns else 0
    count = np.frombuffer(len(columns).to_bytes(2, "big"), dtype=np.uint8)
    for start in range(0, rows, ROWS_AT_A_TIME):
        n = min(ROWS_AT_A_TIME, rows - start)
        starts = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(2), n, [None, pa.py_buffer(np.tile(count, n))]
        ).cast(pa.binary())
        cells = [_cells(c.slice(start, n), t) for c, t in zip(columns, sql_types, strict=True)]
        tuples = pc.binary_join_element_wise(starts, *cells, b"")
        _, offsets, data = tuples.buffers()
        ends = np.frombuffer(offsets, dtype=np.int32)[tuples.offset : tuples.offset + n + 1]
        yield memoryview(data)[ends[0] : ends[-1]].tobytes()
    yield TRAILER
