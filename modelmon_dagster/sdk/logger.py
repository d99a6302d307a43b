"""Prediction and label loggers that write the documented log format."""

import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

from modelmon_dagster.logformat import LABELS, PREDICTIONS, STATUSES, format_timestamp
from modelmon_dagster.sdk.writer import HourlyJsonlWriter

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _WriterOwner:
    """Shared lifecycle: a logger closes its writer only if it created it."""

    def __init__(self, writer: HourlyJsonlWriter, owns_writer: bool):
        self.writer = writer
        self._owns_writer = owns_writer

    def rotate_if_due(self, now: dt.datetime | None = None) -> None:
        """Close hour files that have ended; call it periodically in long-lived services.

        Parameters
        ----------
        now : datetime, optional
            Current time; defaults to the writer's clock.
        """
        self.writer.rotate_if_due(now)

    def close(self) -> None:
        """Finalise the open log files (a writer passed in by the caller is left open)."""
        if self._owns_writer:
            self.writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class PredictionLogger(_WriterOwner):
    """Log one record per model prediction, foldered by the prediction's UTC hour.

    Parameters
    ----------
    logs_root : str or Path
        Root of the log tree.
    model_name : str
        Model being served.
    model_version : str
        Version of that model, written into every record.
    writer : HourlyJsonlWriter, optional
        Writer to use; by default one is created for the ``predictions`` stream.
    clock : callable, optional
        Returns the current aware UTC datetime; injectable so tests are deterministic.
    host_metrics : bool, default False
        Fill ``host`` with CPU percent and process RSS (via psutil) instead of null.
    """

    def __init__(
        self,
        logs_root: str | Path,
        model_name: str,
        model_version: str,
        writer: HourlyJsonlWriter | None = None,
        clock: Clock | None = None,
        host_metrics: bool = False,
    ):
        self.model_name = model_name
        self.model_version = model_version
        self._clock = clock or _utc_now
        owns = writer is None
        if writer is None:
            writer = HourlyJsonlWriter(logs_root, PREDICTIONS, model_name, clock=self._clock)
        super().__init__(writer, owns)
        self._process = psutil.Process() if host_metrics else None
        if self._process is not None:
            # The first cpu_percent(None) call only sets the baseline and returns 0.0.
            psutil.cpu_percent(None)

    def log(
        self,
        prediction_id: str | None = None,
        *,
        features: Mapping[str, Any],
        prediction: Any,
        score: float | None = None,
        probabilities: Mapping[str, float] | None = None,
        latency_ms: float,
        status: str = "ok",
        error_type: str | None = None,
        timestamp: dt.datetime | None = None,
        host: Mapping[str, Any] | None = None,
    ) -> str:
        """Write one prediction record.

        Parameters
        ----------
        prediction_id : str, optional
            Id to join labels on; a uuid4 hex is generated when omitted.
        features : mapping
            Model inputs by feature name.
        prediction : any JSON value
            The model output (``None`` for failed calls).
        score : float, optional
            Confidence or regression score.
        probabilities : mapping, optional
            Class probabilities by class name.
        latency_ms : float
            Time the model took, non-negative.
        status : {"ok", "error", "timeout"}
            Outcome of the call.
        error_type : str, optional
            Exception class name (or ``"Timeout"``) when status is not ``"ok"``.
        timestamp : datetime, optional
            Prediction time; defaults to the logger's clock. Naive values are taken as UTC.
        host : mapping, optional
            Host metrics; defaults to sampled metrics if ``host_metrics`` is on, else null.

        Returns
        -------
        str
            The prediction id.

        Raises
        ------
        ValueError
            On an unknown status, a negative latency, or NaN/inf anywhere in the record.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        # "not >=" also rejects NaN, which a plain "< 0" would let through.
        if not latency_ms >= 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms!r}")
        prediction_id = prediction_id or uuid.uuid4().hex
        at = timestamp if timestamp is not None else self._clock()
        if host is None and self._process is not None:
            host = self._host_metrics()
        record = {
            "prediction_id": prediction_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "timestamp": format_timestamp(at),
            "features": dict(features),
            "prediction": prediction,
            "score": score,
            "probabilities": dict(probabilities) if probabilities is not None else None,
            "latency_ms": float(latency_ms),
            "status": status,
            "error_type": error_type,
            "host": dict(host) if host is not None else None,
        }
        self.writer.write(record, at)
        return prediction_id

    def predict(
        self,
        fn: Callable[..., Any],
        features: Mapping[str, Any],
        *,
        prediction_id: str | None = None,
        timeout_ms: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``fn(features, **kwargs)``, time it, log the outcome and return its result.

        Parameters
        ----------
        fn : callable
            The model call. Returns the prediction, or a dict with ``prediction`` and optional
            ``score`` and ``probabilities``.
        features : mapping
            Passed to ``fn`` and logged.
        prediction_id : str, optional
            Id for the record; generated when omitted.
        timeout_ms : float, optional
            Calls slower than this are logged with status ``"timeout"`` (the result is still
            returned: the SDK measures, it does not interrupt the model).
        **kwargs
            Extra keyword arguments for ``fn``.

        Returns
        -------
        any
            Exactly what ``fn`` returned.

        Raises
        ------
        Exception
            Whatever ``fn`` raised, after logging it with status ``"error"``.
        """
        at = self._clock()
        start = time.perf_counter()
        try:
            result = fn(features, **kwargs)
        except Exception as exc:
            latency_ms = (time.perf_counter() - start) * 1000.0
            try:
                self.log(
                    prediction_id,
                    features=features,
                    prediction=None,
                    latency_ms=latency_ms,
                    status="error",
                    error_type=type(exc).__name__,
                    timestamp=at,
                )
            except Exception as log_exc:
                # The model's own exception matters more to the caller than ours.
                exc.add_note(f"modelmon: logging this failed prediction also failed: {log_exc!r}")
            raise
        latency_ms = (time.perf_counter() - start) * 1000.0

        if isinstance(result, Mapping) and "prediction" in result:
            prediction = result["prediction"]
            score = result.get("score")
            probabilities = result.get("probabilities")
        else:
            prediction, score, probabilities = result, None, None
        timed_out = timeout_ms is not None and latency_ms > timeout_ms
        self.log(
            prediction_id,
            features=features,
            prediction=prediction,
            score=score,
            probabilities=probabilities,
            latency_ms=latency_ms,
            status="timeout" if timed_out else "ok",
            error_type="Timeout" if timed_out else None,
            timestamp=at,
        )
        return result

    def _host_metrics(self) -> dict[str, Any]:
        rss_mb = self._process.memory_info().rss / (1024 * 1024)
        return {"cpu_pct": psutil.cpu_percent(None), "memory_mb": round(rss_mb, 1), "gpu_pct": None}


class LabelLogger(_WriterOwner):
    """Log ground-truth labels, foldered by the UTC hour in which they arrive.

    Parameters
    ----------
    logs_root : str or Path
        Root of the log tree.
    model_name : str
        Model the labelled predictions came from.
    writer : HourlyJsonlWriter, optional
        Writer to use; by default one is created for the ``labels`` stream.
    clock : callable, optional
        Returns the current aware UTC datetime (the arrival time).
    """

    def __init__(
        self,
        logs_root: str | Path,
        model_name: str,
        writer: HourlyJsonlWriter | None = None,
        clock: Clock | None = None,
    ):
        self.model_name = model_name
        self._clock = clock or _utc_now
        owns = writer is None
        if writer is None:
            writer = HourlyJsonlWriter(logs_root, LABELS, model_name, clock=self._clock)
        super().__init__(writer, owns)

    def log(
        self,
        prediction_id: str,
        label: str | int | float | bool,
        label_timestamp: dt.datetime | None = None,
    ) -> None:
        """Write one label record into the hour file of its arrival time.

        Parameters
        ----------
        prediction_id : str
            Id of the prediction being labelled.
        label : str, int, float or bool
            The true outcome.
        label_timestamp : datetime, optional
            When the outcome became known; defaults to the arrival time.

        Raises
        ------
        ValueError
            On an empty prediction id or a NaN/inf label.
        TypeError
            On a label of another type.
        """
        if not prediction_id:
            raise ValueError("prediction_id must be a non-empty string")
        if hasattr(label, "item") and not isinstance(label, str | int | float):
            # numpy scalars (e.g. np.int64 from a dataframe) are not int subclasses.
            label = label.item()
        if not isinstance(label, str | int | float | bool):
            raise TypeError(f"label must be str, int, float or bool, got {type(label).__name__}")
        arrived = self._clock()
        record = {
            "prediction_id": prediction_id,
            "model_name": self.model_name,
            "label": label,
            "label_timestamp": format_timestamp(label_timestamp or arrived),
        }
        # Filed by arrival, not by label_timestamp: late labels must land in late partitions.
        self.writer.write(record, arrived)
