"""A local webhook receiver for the demo: what an on-call tool or a chat channel would get.

Apprise's ``json://`` target posts ``{"title", "message", "type", ...}``; every request is
appended to a JSONL file with the path it was sent to (``/oncall`` or ``/digest``), so the demo
can show what arrived where.
"""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class AlertReceiver:
    """An HTTP server on 127.0.0.1 (a free port) that records every POST; use as a context."""

    def __init__(self, record_path: Path):
        self.record_path = Path(record_path)
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        self.received: list[dict] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body or b"{}")
                except json.JSONDecodeError:
                    payload = {"raw": body.decode("utf-8", "replace")}
                entry = {
                    "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "path": self.path,
                    "title": payload.get("title"),
                    "message": payload.get("message"),
                    "type": payload.get("type"),
                }
                with lock:
                    receiver.received.append(entry)
                    with receiver.record_path.open("a") as out:
                        out.write(json.dumps(entry) + "\n")
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # keep the demo's output readable
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port the receiver listens on."""
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        """The Apprise URL that posts JSON to ``path`` of this receiver."""
        return f"json://127.0.0.1:{self.port}/{path.strip('/')}"

    def __enter__(self) -> "AlertReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
