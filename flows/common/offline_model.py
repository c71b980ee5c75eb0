"""A local stand-in for the Messages API: replays recorded replies to the official SDK, offline.

The offline demo and the tests point `ANTHROPIC_BASE_URL` at it, so the offline path runs the same
client code as the online one: the SDK's request, its auth header, its retries and its parsing.

It binds to port 0 on loopback, checks the key (anthropic 2.x sends `Authorization: Bearer`; older
clients `x-api-key`) and answers `POST /v1/messages` with the next scripted `Reply`, or with the
default reply once the script is used up. It records every request it was sent. A scripted answer
may also be a function of the request (`Responder`): a recording whose values are bound to what the
request carries, such as digests of a build made a moment ago.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["OFFLINE_KEY", "Answer", "MessagesFake", "RecordedRequest", "Reply", "Responder", "load_recorded"]

OFFLINE_KEY = "sk-ant-offline-demo"
"""The key the fake accepts by default: not a secret, it opens nothing but the fake."""


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status, a body and extra headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def message(cls, message: Mapping[str, Any]) -> Reply:
        return cls(200, json.dumps(message).encode(), {"content-type": "application/json"})

    @classmethod
    def overloaded(cls) -> Reply:
        """529 as the API sends it when overloaded; retry-after-ms keeps the SDK's backoff short."""
        body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        headers = {"content-type": "application/json", "retry-after-ms": "50"}
        return cls(529, json.dumps(body).encode(), headers)

    @classmethod
    def rate_limited(cls) -> Reply:
        body = {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}}
        headers = {"content-type": "application/json", "retry-after-ms": "50"}
        return cls(429, json.dumps(body).encode(), headers)

    @classmethod
    def garbage(cls) -> Reply:
        """A 200 whose body is no message at all (a proxy's error page, a truncated stream)."""
        return cls(200, b"<html><body>502 Bad Gateway</body></html>", {"content-type": "application/json"})


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: Mapping[str, str]
    body: Any


Responder = Callable[[RecordedRequest], Reply]
"""Answers from the request itself; an exception becomes a 500 the SDK reports (no hang, no retry loop)."""
Answer = Reply | Responder


def load_recorded(path: str | Path) -> dict[str, Any]:
    """A recorded Messages API response (JSON) from a file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("type") != "message":
        raise ValueError(f"{path} does not hold a Messages API response")
    return data


class MessagesFake:
    """A Messages API fake in a background thread. Use as a context manager; `base_url` is set inside."""

    def __init__(
        self,
        default: Answer,
        script: Iterable[Answer] = (),
        *,
        api_key: str = OFFLINE_KEY,
        host: str = "127.0.0.1",
    ) -> None:
        self.default = default
        self.script: deque[Answer] = deque(script)
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="messages-fake", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MessagesFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> MessagesFake:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def message_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/v1/messages")]

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            answer = self.script.popleft() if self.script else self.default
        if isinstance(answer, Reply):
            return answer
        try:
            return answer(request)
        except Exception as exc:  # a broken recording must reach the caller as an API error, not a hang
            error = {"type": "error", "error": {"type": "api_error", "message": f"offline replay: {exc}"}}
            return Reply(500, json.dumps(error).encode(), {"content-type": "application/json"})

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        return bearer == f"Bearer {self.api_key}" or headers.get("x-api-key", "") == self.api_key


def _handler(fake: MessagesFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            if not path.rstrip("/").endswith("/v1/messages"):
                self._send(Reply(404, b'{"type":"error","error":{"type":"not_found_error","message":"?"}}'))
                return
            if not fake._authorized(headers):
                body = {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                }
                self._send(Reply(401, json.dumps(body).encode(), {"content-type": "application/json"}))
                return
            try:
                body_json: Any = json.loads(raw or b"null")
            except ValueError:
                body_json = None
            self._send(fake._next(RecordedRequest(path, headers, body_json)))

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.send_header("request-id", "req_offline")
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request bodies hold the documents; nothing is logged

    return Handler
