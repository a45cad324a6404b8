"""A real HTTP receiver for authority reports (the tests' stand-in for the UOM platform).

It keeps the first body of each ``Idempotency-Key`` in arrival order, counts every attempt, can
be stopped and started again on the same port (an outage), and can be told to answer some keys
with an error after keeping them (a lost answer: the client must send the same key again).

Approval requests (``type: approval_request``) are answered with a decision in the response body:
``decide`` (the test's) is called with each attempt's body and returns the decision and its
reason; without it every request stays ``pending``. Every attempt is kept in ``asked``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Decide = Callable[[dict[str, Any]], tuple[str, str | None]]


class Receiver:
    """Listens on 127.0.0.1 (a free port picked at the first start)."""

    def __init__(self) -> None:
        self.port = 0
        self.kept: list[dict[str, Any]] = []  # first body per key, in arrival order
        self.keys: list[str] = []
        self.attempts: dict[str, int] = {}
        self.lose_answer: set[str] = set()  # keep, then answer 503 once
        self.reject: set[str] = set()  # answer 400
        self.asked: list[dict[str, Any]] = []  # every approval request attempt, in arrival order
        self.decide: Decide | None = None
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.port}/uom/reports"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key", "")
                if body.get("type") == "approval_request" and key not in receiver.reject:
                    self.answer(body)
                    return
                status = 200
                with receiver.lock:
                    receiver.attempts[key] = receiver.attempts.get(key, 0) + 1
                    if key in receiver.reject:
                        status = 400
                    else:
                        if key not in receiver.keys:
                            receiver.keys.append(key)
                            receiver.kept.append(body)
                        if key in receiver.lose_answer:
                            receiver.lose_answer.discard(key)
                            status = 503
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def answer(self, body: dict[str, Any]) -> None:
                with receiver.lock:
                    receiver.asked.append(body)
                    key = self.headers.get("Idempotency-Key", "")
                    receiver.attempts[key] = receiver.attempts.get(key, 0) + 1
                    decide = receiver.decide
                decision, reason = decide(body) if decide is not None else ("pending", None)
                out = json.dumps({"flight_id": body["flight_id"], "decision": decision, "reason": reason})
                data = out.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        """Listen (again, on the same port)."""
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`."""
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
