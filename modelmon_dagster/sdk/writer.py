"""Thread-safe writer of hourly JSON-lines log files (layout: see ``logformat``)."""

import datetime as dt
import json
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from modelmon_dagster.logformat import CLOSED_SUFFIX, OPEN_SUFFIX, hour_folder, utc_hour

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _sanitise_writer_id(raw: str) -> str:
    # Leading dots would make the *closed* file hidden, and ingestion skips hidden files.
    cleaned = _UNSAFE.sub("_", raw).lstrip(".")
    if not cleaned:
        raise ValueError(f"writer_id {raw!r} has no usable characters")
    return cleaned


def default_writer_id() -> str:
    """Return a writer id unique per process: ``{hostname}-{pid}-{random hex}``.

    Returns
    -------
    str
        The sanitised id; the random part keeps two writers of one process apart.
    """
    return _sanitise_writer_id(f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")


def _json_default(obj: Any) -> Any:
    # numpy scalars expose .item() and arrays .tolist(); duck typing avoids importing numpy.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps_line(record: dict) -> str:
    """Serialise one record as a compact JSON line ending in a newline.

    Parameters
    ----------
    record : dict
        The record; numpy scalars and arrays are converted to plain Python values.

    Returns
    -------
    str
        The JSON text followed by a newline.

    Raises
    ------
    ValueError
        If the record holds NaN or an infinity, which JSON cannot represent.
    """
    return json.dumps(record, separators=(",", ":"), allow_nan=False, default=_json_default) + "\n"


class HourlyJsonlWriter:
    """Append JSON lines to one file per UTC hour, closing each hour atomically.

    Records go to ``{hour_folder}/.{writer_id}.jsonl.open``; closing an hour flushes, fsyncs and
    renames that file to ``{writer_id}.jsonl`` (or ``{writer_id}-{n}.jsonl`` if that name is
    taken), so readers only ever see complete files.

    An hour is closed when a record for a later hour arrives, when :meth:`rotate_if_due` is
    called after the hour has ended, or on :meth:`close`. Late (out-of-order) records are
    written to their own hour's file, which stays open until one of those events.

    Parameters
    ----------
    logs_root : str or Path
        Root of the log tree.
    stream : str
        ``"predictions"`` or ``"labels"``.
    model_name : str
        Model the records belong to.
    writer_id : str, optional
        Name of this writer's files; defaults to :func:`default_writer_id`. Sanitised to
        ``[A-Za-z0-9_.-]``.
    clock : callable, optional
        Returns the current aware UTC datetime; used by :meth:`rotate_if_due` without ``now``.
    """

    def __init__(
        self,
        logs_root: str | Path,
        stream: str,
        model_name: str,
        writer_id: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.logs_root = Path(logs_root)
        self.stream = stream
        self.model_name = model_name
        self.writer_id = _sanitise_writer_id(writer_id) if writer_id else default_writer_id()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # Validates the stream name now rather than on the first write.
        hour_folder(self.logs_root, stream, model_name, dt.datetime(2000, 1, 1))
        # The open file's name is this writer's own (host, pid, random): two writers given the
        # same writer_id never append to one file, nor to a file the other has closed.
        self._instance = _sanitise_writer_id(
            f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        )
        self._lock = threading.Lock()
        self._open: dict[dt.datetime, IO[str]] = {}
        self._newest: dt.datetime | None = None
        self._closed = False

    def write(self, record: dict, at: dt.datetime) -> None:
        """Append one record to the file of the UTC hour of ``at``.

        Parameters
        ----------
        record : dict
            JSON-serialisable record.
        at : datetime
            Decides the hour file; naive datetimes are taken as UTC.

        Raises
        ------
        ValueError
            If the record holds NaN/inf (nothing is written) or the writer is closed.
        """
        # Serialise before taking the lock or touching files, so a bad record leaves no trace.
        line = dumps_line(record)
        hour = utc_hour(at)
        with self._lock:
            if self._closed:
                raise ValueError("write to a closed HourlyJsonlWriter")
            if self._newest is None or hour > self._newest:
                self._newest = hour
                self._close_hours_before(hour)
            handle = self._open.get(hour)
            if handle is None:
                handle = self._open_hour(hour)
            # One write() call per full line: with the lock, lines never interleave.
            handle.write(line)
            # Flushing per line bounds what a crash can lose to the record being written.
            handle.flush()

    def rotate_if_due(self, now: dt.datetime | None = None) -> None:
        """Close every open hour that has ended by ``now``.

        Parameters
        ----------
        now : datetime, optional
            Current time; defaults to the writer's clock. Naive datetimes are taken as UTC.
        """
        current = utc_hour(now if now is not None else self._clock())
        with self._lock:
            self._close_hours_before(current)

    def close(self) -> None:
        """Close all open hours; calling it again does nothing."""
        with self._lock:
            self._close_hours_before(None)
            self._closed = True

    def __enter__(self) -> "HourlyJsonlWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open_path(self, hour: dt.datetime) -> Path:
        folder = hour_folder(self.logs_root, self.stream, self.model_name, hour)
        return folder / f".{self.writer_id}.{self._instance}{OPEN_SUFFIX}"

    def _open_hour(self, hour: dt.datetime) -> IO[str]:
        path = self._open_path(hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x": create, never reuse an existing file (it would be another writer's).
        handle = path.open("x", encoding="utf-8")
        self._open[hour] = handle
        return handle

    def _close_hours_before(self, limit: dt.datetime | None) -> None:
        # Caller holds the lock. limit=None closes every hour.
        for hour in sorted(h for h in self._open if limit is None or h < limit):
            self._finalise(hour, self._open.pop(hour))

    def _finalise(self, hour: dt.datetime, handle: IO[str]) -> None:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        self._publish(self._open_path(hour))

    def _publish(self, src: Path) -> Path:
        """Give the closed file its final name, never overwriting a published file.

        A restarted writer, or another writer with the same id, may publish the same hour:
        ``os.link`` fails if the name exists (atomically, unlike a check then a rename), and the
        next free ``-n`` name is tried.
        """
        n = 0
        while True:
            suffix = f"-{n}" if n else ""
            candidate = src.parent / f"{self.writer_id}{suffix}{CLOSED_SUFFIX}"
            try:
                os.link(src, candidate)
            except FileExistsError:
                n += 1
                continue
            os.unlink(src)
            return candidate
