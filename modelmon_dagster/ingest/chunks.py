"""Cut an hour's log files into chunks of bounded size, so that an hour loads in bounded memory.

A chunk is a list of :class:`Part`: whole files, grouped while their sizes add up to at most
``chunk_bytes``, or one line range of a file larger than that. A line range is copied to a
scratch file (DuckDB's JSON reader reads files, not byte ranges) and removed once its chunk has
been consumed. Ranges end after a newline byte, which never occurs inside a multi-byte UTF-8
character, so no character is split.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

# About 100k lines of 650 bytes. A clean chunk takes a few times its size in memory to parse,
# a chunk on the line-by-line path more (measured, one hour of one file: peaks of 467-680 MB
# clean, 655-901 MB with one bad line, against 469-657 and 629-737 MB with 16 MB chunks). Larger
# chunks pay: an hourly file of up to 64 MB is read whole, not copied in line ranges to scratch
# files, and each chunk's fixed costs (its queries, its commit) are paid less often: a 1M-line
# day of 27 MB hourly files took 6.6-8.3 CPU-s with 64 MB chunks, 8.3-9.4 with 32 or 16 MB.
CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class Part:
    """A whole log file or a line range of one, as the parser reads it."""

    read_path: Path  # the file DuckDB reads: the log file, or a scratch copy of its range
    source_file: Path  # the log file named in rows and quarantined lines
    file_index: int  # position of the log file in the hour (earlier files win duplicates)
    first_line: int = 0  # lines of the log file before this range


def as_parts(files: Sequence[Path | Part]) -> list[Part]:
    """Whole files as parts, in the given order (parts are kept as they are)."""
    return [f if isinstance(f, Part) else Part(Path(f), Path(f), i) for i, f in enumerate(files)]


def chunks(files: Sequence[Path], chunk_bytes: int, scratch: Path) -> Iterator[list[Part]]:
    """The files' chunks in order; each scratch file is removed when the next chunk is asked."""
    return chunk_parts(as_parts(files), chunk_bytes, scratch)


def chunk_parts(parts: Sequence[Part], chunk_bytes: int, scratch: Path) -> Iterator[list[Part]]:
    """``parts`` (whole files or line ranges) as chunks of about ``chunk_bytes``, in order.

    A part larger than ``chunk_bytes`` is cut into line ranges that keep its log file, its
    position in the hour and their line numbers in that file.
    """
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    group: list[Part] = []
    size = 0
    for part in parts:
        n = part.read_path.stat().st_size
        if group and (size + n > chunk_bytes or n > chunk_bytes):
            yield group
            group, size = [], 0
        if n > chunk_bytes:
            for cut in _ranges(part.read_path, part.file_index, chunk_bytes, scratch):
                yield [
                    replace(
                        cut,
                        source_file=part.source_file,
                        first_line=part.first_line + cut.first_line,
                    )
                ]
            continue
        group.append(part)
        size += n
    if group:
        yield group


def line_blocks(path: Path, size: int) -> Iterator[bytes]:
    """``path``'s bytes in blocks of about ``size``, each ending after a newline (or at the end).

    A line longer than ``size`` is one block. Newline bytes never occur inside a multi-byte
    UTF-8 character, so no character is split.
    """
    carry = b""
    with path.open("rb") as source:
        while True:
            block = source.read(size)
            data = carry + block
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:  # no line ends in this block: read on
                carry = data
                continue
            data, carry = data[:cut], data[cut:]
            yield data


# Bytes copied at a time into a range's scratch file.
COPY_BYTES = 1 << 20


def _ranges(path: Path, index: int, chunk_bytes: int, scratch: Path) -> Iterator[Part]:
    """Line ranges of ``path`` of about ``chunk_bytes`` each, copied to ``scratch``.

    The cuts are those of :func:`line_blocks` (after the last newline before each multiple of
    ``chunk_bytes``; a range without one runs on to the next), but the bytes are copied a block
    of ``COPY_BYTES`` at a time: no range is held whole in memory.
    """
    first_line = 0
    position = 0  # bytes of the file read
    pending = b""  # bytes read after the range's last newline (the next range's start)
    with path.open("rb") as source:
        while True:
            piece = scratch / f"{index}-{first_line}.jsonl"
            lines = 0
            with piece.open("wb") as out:
                out.write(pending)
                pending = b""
                limit = (position // chunk_bytes + 1) * chunk_bytes
                while True:
                    block = source.read(min(COPY_BYTES, limit - position))
                    position += len(block)
                    if not block:  # the end of the file: the rest is a range of its own
                        if not lines:
                            out.write(pending)
                            pending = b""
                        break
                    newline = block.rfind(b"\n") + 1
                    if newline:
                        out.write(pending)
                        out.write(block[:newline])
                        lines += block.count(b"\n", 0, newline)
                        pending = block[newline:]
                    else:
                        pending += block
                    if position == limit:
                        if lines:
                            break
                        limit += chunk_bytes  # no line ends in this range yet: read on
                written = out.tell()
            try:
                if written:
                    yield Part(piece, path, index, first_line)
            finally:
                piece.unlink(missing_ok=True)
            first_line += lines
            if not block and not pending:
                return
