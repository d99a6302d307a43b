"""Helpers of the alerting tests: a real local HTTP receiver and a signal factory."""

import datetime as dt
import json
import re
import threading
import time

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from modelmon_dagster.alerting import Signal, check_signal

MODEL = "fraud_detector"
DAY = dt.date(2026, 11, 18)
ONCALL_ENV, DIGEST_ENV = "MODELMON_ALERTS_ONCALL_URL", "MODELMON_ALERTS_DIGEST_URL"


def at(hour: int, minute: int = 0, day: int = 18) -> dt.datetime:
    """A time on the test day (hours past 23 roll over into the next days)."""
    return dt.datetime(2026, 11, day) + dt.timedelta(hours=hour, minutes=minute)


def signal(
    name: str,
    state: str = "firing",
    severity: str = "ERROR",
    *,
    hour: int = 14,
    dimension: str = "",
    model: str = MODEL,
    daily: bool = False,
) -> Signal:
    """A check signal about hour ``hour`` of the test day (or the whole day), seen later."""
    start = at(hour) if not daily else at(0)
    period = start.strftime("%Y-%m-%d") if daily else start.strftime("%Y-%m-%d-%H:%M")
    return check_signal(
        model,
        name,
        passed={"firing": False, "ok": True, "not_judged": None}[state],
        severity=severity,
        period=period,
        period_start=start,
        summary=f"{name} {state} in {period}",
        details={"period": period},
        dimension=dimension,
        observed_at=start + dt.timedelta(hours=1, minutes=5),
        run_id=f"run-{period}",
    )


class Receiver:
    """A real HTTP server on 127.0.0.1 recording every request (path, JSON body, status).

    ``status`` is what it answers; ``stop()``/``start()`` take it down and bring it back on the
    same port, as a receiver that is restarted would.
    """

    def __init__(self, delay: float = 0.0):
        self.status = 200
        self.delay = delay
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.server = HTTPServer(host="127.0.0.1", port=0)
        self.port = None
        self.start()

    def start(self) -> None:
        if self.port is not None:
            self.server = HTTPServer(host="127.0.0.1", port=self.port)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        self.server.start()
        self.port = self.server.port

    def stop(self) -> None:
        self.server.clear()
        self.server.stop()

    def _handle(self, request: Request) -> Response:
        time.sleep(self.delay)
        with self._lock:
            self.requests.append(
                {"path": request.path, "status": self.status, "json": json.loads(request.data)}
            )
        return Response("ok" if self.status < 300 else "no", status=self.status)

    def url(self, path: str) -> str:
        """An Apprise URL posting JSON to ``path`` on this server."""
        return f"json://127.0.0.1:{self.port}/{path}"

    def accepted(self, path: str | None = None) -> list[dict]:
        """Payloads it answered with 2xx (optionally only those posted to ``path``)."""
        with self._lock:
            return [
                r["json"]
                for r in self.requests
                if r["status"] < 300 and (path is None or r["path"] == f"/{path}")
            ]
