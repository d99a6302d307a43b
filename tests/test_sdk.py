import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from modelmon_dagster.logformat import (
    CLOSED_SUFFIX,
    LABELS,
    OPEN_SUFFIX,
    PREDICTIONS,
    closed_files,
    hour_folder,
)
from modelmon_dagster.sdk import HourlyJsonlWriter, LabelLogger, PredictionLogger

MODEL = "fraud_detector"
PREDICTION_KEYS = {
    "prediction_id",
    "model_name",
    "model_version",
    "timestamp",
    "features",
    "prediction",
    "score",
    "probabilities",
    "latency_ms",
    "status",
    "error_type",
    "host",
}


class FakeClock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def read_records(root: Path, stream: str = PREDICTIONS) -> list[dict]:
    records = []
    for path in sorted((root / stream).rglob(f"*{CLOSED_SUFFIX}")):
        with path.open(encoding="utf-8") as fh:
            records.extend(json.loads(line) for line in fh)
    return records


def sleepy_model(features, delay_s=0.02):
    time.sleep(delay_s)
    return {"prediction": "1", "score": 0.93, "probabilities": {"0": 0.07, "1": 0.93}}


def test_predict_measures_latency_and_returns_result(tmp_path):
    with PredictionLogger(tmp_path, MODEL, "v1") as logger:
        result = logger.predict(sleepy_model, {"amount": 12.5, "country": "DE"})
    assert result == {"prediction": "1", "score": 0.93, "probabilities": {"0": 0.07, "1": 0.93}}
    [record] = read_records(tmp_path)
    assert 20 <= record["latency_ms"] < 1000
    assert record["status"] == "ok"
    assert record["error_type"] is None
    assert record["prediction"] == "1"
    assert record["score"] == 0.93
    assert record["probabilities"] == {"0": 0.07, "1": 0.93}
    assert record["features"] == {"amount": 12.5, "country": "DE"}


def test_predict_plain_return_value_and_kwargs(tmp_path):
    with PredictionLogger(tmp_path, MODEL, "v1") as logger:
        result = logger.predict(lambda f, offset: f["x"] + offset, {"x": 1}, offset=2)
    assert result == 3
    [record] = read_records(tmp_path)
    assert record["prediction"] == 3
    assert record["score"] is None and record["probabilities"] is None


def test_predict_exception_is_reraised_and_logged(tmp_path):
    def broken(features):
        raise KeyError("amount")

    with PredictionLogger(tmp_path, MODEL, "v1") as logger:
        with pytest.raises(KeyError, match="amount"):
            logger.predict(broken, {"country": "DE"}, prediction_id="p-err")
    [record] = read_records(tmp_path)
    assert record["prediction_id"] == "p-err"
    assert record["status"] == "error"
    assert record["error_type"] == "KeyError"
    assert record["prediction"] is None
    assert record["latency_ms"] >= 0


def test_predict_timeout_status(tmp_path):
    with PredictionLogger(tmp_path, MODEL, "v1") as logger:
        slow = logger.predict(sleepy_model, {"a": 1}, timeout_ms=5)
        fast = logger.predict(lambda f: "0", {"a": 1}, timeout_ms=1000)
    assert slow["prediction"] == "1"
    assert fast == "0"
    by_prediction = {r["prediction"]: r for r in read_records(tmp_path)}
    assert by_prediction["1"]["status"] == "timeout"
    assert by_prediction["1"]["error_type"] == "Timeout"
    assert by_prediction["0"]["status"] == "ok"
    assert by_prediction["0"]["error_type"] is None


def is_open_file_of(writer_id: str, path: Path) -> bool:
    # ".{writer_id}.{host}-{pid}-{random}.jsonl.open": one per writer object.
    return path.name.startswith(f".{writer_id}.") and path.name.endswith(OPEN_SUFFIX)


def test_rotation_by_hour(tmp_path):
    clock = FakeClock(utc(2026, 11, 16, 10, 59, 59))
    writer = HourlyJsonlWriter(tmp_path, PREDICTIONS, MODEL, writer_id="w1", clock=clock)
    logger = PredictionLogger(tmp_path, MODEL, "v1", writer=writer, clock=clock)
    folder_10 = hour_folder(tmp_path, PREDICTIONS, MODEL, utc(2026, 11, 16, 10))
    folder_11 = hour_folder(tmp_path, PREDICTIONS, MODEL, utc(2026, 11, 16, 11))

    logger.log("a", features={"x": 1}, prediction=0, latency_ms=1.0)
    # Still in hour 10: only the hidden open file exists, ingestion must not see it yet.
    assert [is_open_file_of("w1", p) for p in folder_10.iterdir()] == [True]
    assert closed_files(folder_10) == []

    clock.now = utc(2026, 11, 16, 11, 0, 0)
    logger.log("b", features={"x": 2}, prediction=1, latency_ms=1.0)
    assert [p.name for p in folder_10.iterdir()] == ["w1.jsonl"]
    assert [is_open_file_of("w1", p) for p in folder_11.iterdir()] == [True]
    assert json.loads((folder_10 / "w1.jsonl").read_text())["prediction_id"] == "a"

    writer.close()
    writer.close()  # idempotent
    assert [p.name for p in folder_11.iterdir()] == ["w1.jsonl"]
    assert json.loads((folder_11 / "w1.jsonl").read_text())["timestamp"] == (
        "2026-11-16T11:00:00.000000Z"
    )
    assert not [p for p in all_files(tmp_path) if p.name.endswith(OPEN_SUFFIX)]


def test_rotate_if_due_closes_ended_hour_only(tmp_path):
    writer = HourlyJsonlWriter(tmp_path, LABELS, MODEL, writer_id="w1")
    writer.write({"n": 1}, dt.datetime(2026, 11, 16, 10, 30))  # naive = UTC
    folder = hour_folder(tmp_path, LABELS, MODEL, utc(2026, 11, 16, 10))
    writer.rotate_if_due(utc(2026, 11, 16, 10, 59))
    assert closed_files(folder) == []
    writer.rotate_if_due(utc(2026, 11, 16, 11, 0))
    assert [p.name for p in closed_files(folder)] == ["w1.jsonl"]
    assert [p.name for p in folder.iterdir()] == ["w1.jsonl"]


def test_reopening_same_hour_never_overwrites(tmp_path):
    at = utc(2026, 11, 16, 10, 5)
    for n in range(3):
        with HourlyJsonlWriter(tmp_path, PREDICTIONS, MODEL, writer_id="svc") as writer:
            writer.write({"run": n}, at)
    folder = hour_folder(tmp_path, PREDICTIONS, MODEL, at)
    names = [p.name for p in closed_files(folder)]
    assert names == ["svc-1.jsonl", "svc-2.jsonl", "svc.jsonl"]
    runs = sorted(json.loads(p.read_text())["run"] for p in closed_files(folder))
    assert runs == [0, 1, 2]


def test_out_of_order_record_goes_to_its_own_hour(tmp_path):
    with HourlyJsonlWriter(tmp_path, PREDICTIONS, MODEL, writer_id="w") as writer:
        writer.write({"n": 1}, utc(2026, 11, 16, 11, 1))
        writer.write({"n": 2}, utc(2026, 11, 16, 10, 59))
        writer.write({"n": 3}, utc(2026, 11, 16, 11, 2))
    f10 = hour_folder(tmp_path, PREDICTIONS, MODEL, utc(2026, 11, 16, 10)) / "w.jsonl"
    f11 = hour_folder(tmp_path, PREDICTIONS, MODEL, utc(2026, 11, 16, 11)) / "w.jsonl"
    assert [json.loads(x)["n"] for x in f10.read_text().splitlines()] == [2]
    assert [json.loads(x)["n"] for x in f11.read_text().splitlines()] == [1, 3]


def test_concurrent_threads_do_not_interleave(tmp_path):
    threads_n, per_thread = 8, 2000
    logger = PredictionLogger(tmp_path, MODEL, "v1")
    barrier = threading.Barrier(threads_n)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            logger.log(
                features={"thread": t, "i": i, "text": "x" * 50}, prediction=i, latency_ms=0.5
            )

    # Switch threads far more often than the 5 ms default so a missing lock would show up.
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old_interval)
    logger.close()

    lines = []
    for path in (tmp_path / PREDICTIONS).rglob(f"*{CLOSED_SUFFIX}"):
        lines.extend(path.read_text(encoding="utf-8").splitlines())
    records = [json.loads(line) for line in lines]  # a torn line would fail here
    assert len(records) == threads_n * per_thread
    assert len({r["prediction_id"] for r in records}) == threads_n * per_thread
    per_thread_counts = Counter(r["features"]["thread"] for r in records)
    assert per_thread_counts == {t: per_thread for t in range(threads_n)}


def test_nan_raises_and_writes_nothing(tmp_path):
    clock = FakeClock(utc(2026, 11, 16, 10))
    with PredictionLogger(tmp_path, MODEL, "v1", clock=clock) as logger:
        with pytest.raises(ValueError):
            logger.log("bad", features={"amount": float("nan")}, prediction=1, latency_ms=1.0)
        assert all_files(tmp_path) == []
        with pytest.raises(ValueError):
            logger.log("bad2", features={"amount": np.float32("inf")}, prediction=1, latency_ms=1)
        logger.log(
            "good",
            features={"amount": np.float64(1.5), "n": np.int64(3)},
            prediction=1,
            latency_ms=1.0,
        )
    records = read_records(tmp_path)
    assert [r["prediction_id"] for r in records] == ["good"]
    assert records[0]["features"] == {"amount": 1.5, "n": 3}


def test_log_validates_status_and_latency(tmp_path):
    with PredictionLogger(tmp_path, MODEL, "v1") as logger:
        with pytest.raises(ValueError, match="status"):
            logger.log(features={}, prediction=1, latency_ms=1.0, status="weird")
        with pytest.raises(ValueError, match="latency_ms"):
            logger.log(features={}, prediction=1, latency_ms=-1.0)
    assert all_files(tmp_path) == []


def test_label_logger_files_by_arrival_hour(tmp_path):
    clock = FakeClock(utc(2026, 11, 18, 9, 12))
    with LabelLogger(tmp_path, MODEL, clock=clock) as labels:
        labels.log("p1", "0")
        labels.log("p2", True, label_timestamp=utc(2026, 11, 16, 10, 30))
        labels.log("p3", np.int64(7))
    folder = hour_folder(tmp_path, LABELS, MODEL, utc(2026, 11, 18, 9))
    [path] = closed_files(folder)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records == [
        {
            "prediction_id": "p1",
            "model_name": MODEL,
            "label": "0",
            "label_timestamp": "2026-11-18T09:12:00.000000Z",
        },
        {
            "prediction_id": "p2",
            "model_name": MODEL,
            "label": True,
            "label_timestamp": "2026-11-16T10:30:00.000000Z",
        },
        {
            "prediction_id": "p3",
            "model_name": MODEL,
            "label": 7,
            "label_timestamp": "2026-11-18T09:12:00.000000Z",
        },
    ]
    # Nothing was filed under the label_timestamp's hour.
    assert not hour_folder(tmp_path, LABELS, MODEL, utc(2026, 11, 16, 10)).exists()


def test_label_logger_rejects_bad_labels(tmp_path):
    with LabelLogger(tmp_path, MODEL) as labels:
        with pytest.raises(TypeError):
            labels.log("p1", None)
        with pytest.raises(ValueError):
            labels.log("", "1")
    assert all_files(tmp_path) == []


def test_prediction_records_have_exactly_documented_keys(tmp_path):
    clock = FakeClock(utc(2026, 11, 16, 10, 0, 1, 123456))
    with PredictionLogger(tmp_path, MODEL, "v1", clock=clock, host_metrics=True) as logger:
        pid = logger.log(
            features={"amount": 12.5},
            prediction="1",
            score=0.93,
            probabilities={"0": 0.07, "1": 0.93},
            latency_ms=12.3,
        )
        logger.predict(lambda f: "0", {"amount": 3.0})
        with pytest.raises(RuntimeError):
            logger.predict(lambda f: (_ for _ in ()).throw(RuntimeError("x")), {"amount": 1.0})
    records = read_records(tmp_path)
    assert len(records) == 3
    for record in records:
        assert set(record) == PREDICTION_KEYS
        assert record["model_name"] == MODEL and record["model_version"] == "v1"
        assert record["timestamp"] == "2026-11-16T10:00:01.123456Z"
        assert set(record["host"]) == {"cpu_pct", "memory_mb", "gpu_pct"}
        assert record["host"]["memory_mb"] > 0 and record["host"]["gpu_pct"] is None
    assert records[0]["prediction_id"] == pid and len(pid) == 32
    assert records[0]["latency_ms"] == 12.3


def test_host_is_null_without_host_metrics(tmp_path):
    with PredictionLogger(tmp_path, MODEL, "v1") as logger:
        logger.log(features={}, prediction=1, latency_ms=0.0)
    [record] = read_records(tmp_path)
    assert set(record) == PREDICTION_KEYS
    assert record["host"] is None


def test_default_writer_id_is_sanitised(tmp_path):
    writer = HourlyJsonlWriter(tmp_path, PREDICTIONS, MODEL)
    assert writer.writer_id and all(c.isalnum() or c in "_.-" for c in writer.writer_id)
    assert HourlyJsonlWriter(tmp_path, LABELS, MODEL, writer_id="../a b/c").writer_id == "_a_b_c"


# Regression (issue 9, item 9): two writers sharing a writer_id shared one open file; one
# published it, the other kept appending to the published file (10,000 lines grew to 15,000)
# and its close() raised FileNotFoundError.
def test_two_writers_with_one_writer_id_never_touch_each_others_files(tmp_path):
    at = utc(2026, 11, 16, 10, 5)
    first = HourlyJsonlWriter(tmp_path, PREDICTIONS, MODEL, writer_id="api")
    second = HourlyJsonlWriter(tmp_path, PREDICTIONS, MODEL, writer_id="api")
    for i in range(10):
        first.write({"n": i, "by": "first"}, at)
        second.write({"n": i, "by": "second"}, at)
    first.close()
    folder = hour_folder(tmp_path, PREDICTIONS, MODEL, at)
    [published] = closed_files(folder)
    before = published.read_bytes()
    for i in range(10, 15):
        second.write({"n": i, "by": "second"}, at)
    second.close()
    assert published.read_bytes() == before
    files = closed_files(folder)
    assert [p.name for p in files] == ["api-1.jsonl", "api.jsonl"]
    writers = Counter(json.loads(line)["by"] for p in files for line in p.read_text().splitlines())
    assert writers == {"first": 10, "second": 15}
    assert {len(p.read_text().splitlines()) for p in files} == {10, 15}


def test_writers_in_two_processes_with_one_writer_id_keep_every_line(tmp_path):
    script = (
        "import datetime as dt, sys\n"
        "from modelmon_dagster.sdk import HourlyJsonlWriter\n"
        "w = HourlyJsonlWriter(sys.argv[1], 'predictions', 'm', writer_id='api')\n"
        "at = dt.datetime(2026, 11, 16, 10, 5, tzinfo=dt.UTC)\n"
        "for i in range(2000):\n"
        "    w.write({'n': i, 'pid': sys.argv[2]}, at)\n"
        "w.close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(k)]) for k in range(2)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    folder = hour_folder(tmp_path, PREDICTIONS, "m", utc(2026, 11, 16, 10))
    files = closed_files(folder)
    assert len(files) == 2
    lines = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    assert Counter(r["pid"] for r in lines) == {"0": 2000, "1": 2000}
