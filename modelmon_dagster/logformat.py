"""The prediction and label log format shared by the SDK, the simulator and ingestion.

Layout on disk (one folder per model and hour, UTC)::

    {logs_root}/predictions/{model}/{YYYY-MM-DD}/{HH}/{writer_id}.jsonl
    {logs_root}/labels/{model}/{YYYY-MM-DD}/{HH}/{writer_id}.jsonl

A writer appends to a hidden ``.{writer_id}.{host}-{pid}-{random}.jsonl.open`` file of its own
and publishes it under its final name when the hour closes (an atomic link on POSIX, never over
an existing file), so ingestion only ever sees complete files.
Prediction files are foldered by the prediction timestamp; label files by the hour the label
*arrived*, so late labels land in late partitions.

Prediction record (one JSON object per line)::

    {"prediction_id": "3f2a...", "model_name": "fraud_detector", "model_version": "v1",
     "timestamp": "2026-11-16T10:00:01.123456Z",
     "features": {"amount": 12.5, "country": "DE"},
     "prediction": "1", "score": 0.93, "probabilities": {"0": 0.07, "1": 0.93},
     "latency_ms": 12.3, "status": "ok", "error_type": null,
     "host": {"cpu_pct": 41.0, "memory_mb": 812.0, "gpu_pct": null}}

Required: ``prediction_id``, ``model_name``, ``model_version``, ``timestamp``, ``status``, the
``prediction`` of an ok record and, for classifiers, its ``score``; features per the config
(``required: false`` ones may be absent). Optional: ``latency_ms`` (a batch scorer has none:
stored NULL, the latency check does not judge hours without any), ``probabilities``,
``error_type``, ``host``.

Label record::

    {"prediction_id": "3f2a...", "model_name": "fraud_detector", "label": "0",
     "label_timestamp": "2026-11-18T09:12:00Z"}
"""

import datetime as dt
from pathlib import Path

PREDICTIONS = "predictions"
LABELS = "labels"
STREAMS = (PREDICTIONS, LABELS)
STATUSES = ("ok", "error", "timeout")
OPEN_SUFFIX = ".jsonl.open"
CLOSED_SUFFIX = ".jsonl"


def utc_hour(ts: dt.datetime) -> dt.datetime:
    """Truncate an aware or naive-UTC datetime to its hour, returned naive UTC."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts.replace(minute=0, second=0, microsecond=0)


def format_timestamp(ts: dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and a trailing Z."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hour_folder(logs_root: Path, stream: str, model_name: str, hour: dt.datetime) -> Path:
    """Folder holding the files of one model, stream and UTC hour."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}")
    hour = utc_hour(hour)
    return Path(logs_root) / stream / model_name / hour.strftime("%Y-%m-%d") / hour.strftime("%H")


def closed_files(folder: Path) -> list[Path]:
    """Complete log files of one hour folder, in a stable order (open files are skipped)."""
    return scan_closed_files(folder, folder)[0]


def scan_closed_files(folder: Path, root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Complete log files of one hour folder, and the closed names that are not log files.

    Only regular files whose real path lies inside ``root`` are log files: a symlink to a
    file elsewhere (``x.jsonl -> /etc/passwd``), a directory or a device named ``*.jsonl`` is
    skipped with a reason, never read.

    Returns
    -------
    files : list of Path
        In a stable order.
    skipped : list of (Path, str)
        Each skipped entry with its reason.
    """
    if not folder.is_dir():
        return [], []
    real_root = Path(root).resolve()
    files, skipped = [], []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(CLOSED_SUFFIX) or path.name.startswith("."):
            continue
        real = path.resolve()
        if not real.is_relative_to(real_root):
            skipped.append((path, "resolves outside the logs root"))
        elif not real.is_file():
            skipped.append((path, "not a regular file"))
        else:
            files.append(path)
    return files, skipped
