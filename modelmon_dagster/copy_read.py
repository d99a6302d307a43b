"""Read a PostgreSQL query's result as typed Arrow batches, streamed through ``COPY TO STDOUT``.

Fetching rows through the driver costs microseconds a value; ``COPY`` sends CSV that pyarrow
parses at C speed, one block at a time, so memory stays bounded by a block.
"""

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "DOUBLE PRECISION": pa.float64(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
}

# Bytes of CSV parsed at a time (pyarrow's block): a few times this in memory.
BLOCK_BYTES = 16 << 20


class _CopyStream(io.RawIOBase):
    """A readable file over the blocks that a psycopg ``COPY ... TO STDOUT`` yields."""

    def __init__(self, blocks: Iterator):
        self._blocks = blocks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = bytes(block)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def read_copy_batches(
    driver, schema, select: str, value: Any, batch_rows: int
) -> Iterator[pa.Table]:
    """Batches of ``select`` (ending in ``column =``) for ``value``, typed by ``schema``.

    A CSV NULL is an unquoted empty field; an empty string is quoted (``""``), and so stays a
    string.
    """
    names = schema.column_names
    statement = sql.SQL("COPY ({}{}) TO STDOUT WITH (FORMAT csv)").format(
        sql.SQL(select), sql.Literal(value)
    )
    convert = pacsv.ConvertOptions(
        column_types={c: ARROW_TYPES[t] for c, t in schema.columns},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    read = pacsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES)
    with driver.cursor() as cur, cur.copy(statement) as copy:
        stream = io.BufferedReader(_CopyStream(iter(copy)), buffer_size=1 << 20)
        reader = pacsv.open_csv(stream, read_options=read, convert_options=convert)
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in reader:
            pending.append(batch)
            size += batch.num_rows
            if size >= batch_rows:
                yield pa.Table.from_batches(pending)
                pending, size = [], 0
        if pending:
            yield pa.Table.from_batches(pending)
