"""A real HTTP server on 127.0.0.1 that speaks the OpenAI and Anthropic wire formats.

Tests queue scripted :class:`Reply` objects and inspect the :class:`Received` requests. The
provider SDKs talk real HTTP to it: JSON bodies, chunked SSE streams, error statuses with headers,
and delays or stalls that trigger client timeouts.
"""

from __future__ import annotations

import json
import socketserver
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


@dataclass
class Reply:
    """One scripted HTTP reply.

    Attributes:
        status: HTTP status code.
        body: JSON body (ignored when ``events`` is set).
        events: SSE events as ``(event_name_or_None, data)`` pairs; sent chunked, one per write.
        headers: Extra response headers.
        delay: Seconds to wait before sending the status line.
        gate: When set, the stream waits for this event before sending event ``pause_at``.
        pause_at: Index of the event that waits for ``gate``.
        max_pause: Longest wait for ``gate``; afterwards the stream goes on anyway.
        sent: How many events the server has started to write.
    """

    status: int = 200
    body: Any = None
    events: list[tuple[str | None, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    gate: threading.Event | None = None
    pause_at: int = 0
    max_pause: float = 5.0
    sent: int = 0


@dataclass
class Received:
    """A request the server received. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=body, headers=dict(headers or {}))


def openai_stream(chunks: list[dict[str, Any]], **kwargs: Any) -> Reply:
    """An OpenAI SSE stream: one ``data:`` line per chunk, then ``data: [DONE]``."""
    events: list[tuple[str | None, str]] = [(None, json.dumps(c)) for c in chunks]
    events.append((None, "[DONE]"))
    return Reply(events=events, **kwargs)


def anthropic_stream(events: list[dict[str, Any]], **kwargs: Any) -> Reply:
    """An Anthropic SSE stream: ``event: <type>`` plus ``data: <json>`` per event."""
    return Reply(events=[(e["type"], json.dumps(e)) for e in events], **kwargs)


def openai_error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return json_reply(body, status, headers)


def anthropic_error(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_1"}
    return json_reply(body, status, headers)


class WireServer:
    """A threaded HTTP/1.1 server answering from a FIFO of scripted replies.

    When ``api_key`` is set, requests must carry it as ``Authorization: Bearer <key>`` or
    ``x-api-key: <key>``; otherwise the server answers 401 in the provider's error format.
    """

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def last(self) -> Received:
        return self.requests[-1]

    def start(self) -> WireServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=2)
        self._httpd.server_close()

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, path: str, headers: dict[str, str]) -> Reply:
        if path not in (OPENAI_PATH, ANTHROPIC_PATH):
            return json_reply({"error": {"message": f"no route {path}"}}, 404)
        if self.api_key is not None and not self._authorized(headers):
            if path == ANTHROPIC_PATH:
                return anthropic_error(401, "authentication_error", "invalid x-api-key")
            return openai_error(401, "Incorrect API key provided", code="invalid_api_key")
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return json_reply({"error": {"message": "wire server: no scripted reply"}}, 500)

    def _authorized(self, headers: dict[str, str]) -> bool:
        return self.api_key in (
            headers.get("x-api-key"),
            headers.get("authorization", "").removeprefix("Bearer "),
        )

    def _wait(self, seconds: float, gate: threading.Event | None = None) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and (gate is None or not gate.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            (gate or self._stopping).wait(min(left, 0.02))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the host name (slow, not needed)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, early stream exits) are expected; stay quiet."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _make_handler(server: WireServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            path = self.path.split("?", 1)[0]
            server.requests.append(Received("POST", path, headers, payload))
            reply = server._next_reply(path, headers)
            try:
                self._send(reply)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _send(self, reply: Reply) -> None:
            if reply.delay:
                server._wait(reply.delay)
                if server._stopping.is_set():
                    self.close_connection = True
                    return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.events is None:
                data = json.dumps(reply.body).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                return
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for index, (event, data) in enumerate(reply.events):
                if reply.gate is not None and index == reply.pause_at:
                    server._wait(reply.max_pause, reply.gate)
                    if server._stopping.is_set():
                        self.close_connection = True
                        return
                text = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
                reply.sent = index + 1
                self._chunk(text.encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
