"""A local stand-in for the Messages API: replays recorded replies to the official SDK, offline.

The offline demo and the tests point `ANTHROPIC_BASE_URL` at it, so the offline path runs the same
client code as the online one: the SDK's request, its auth header, its retries and its parsing.

It binds to port 0 on loopback, checks the key (anthropic 2.x sends `Authorization: Bearer`; older
clients `x-api-key`) and answers `POST /v1/messages` with the next scripted `Reply`, or with the
default reply once the script is used up. It records every request it was sent. A scripted answer
may also be a function of the request (`Responder`): a recording whose values are bound to what the
request carries, such as digests of a build made a moment ago.

It answers the way the platform docs say the API does ("Errors", "Streaming messages"):
- every response carries its own `request-id` header, and an error body repeats it as `request_id`;
- a request with `"stream": true` gets the message as server-sent events (`message_start`,
  `content_block_start`/`_delta`/`_stop` with text, citation and tool-input deltas, `message_delta`
  with the stop reason and `stop_details`, `message_stop`), which the SDK's `messages.stream()`
  accumulates back into the message;
- a body larger than `max_request_bytes` (32 MB, the Messages API's limit) is a 413
  `request_too_large`, before any scripted answer is used;
- the error replies below have the documented statuses, types, and `retry-after` headers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "MAX_REQUEST_BYTES",
    "OFFLINE_KEY",
    "Answer",
    "MessagesFake",
    "RecordedRequest",
    "Reply",
    "Responder",
    "load_recorded",
    "sentence_chunks",
    "stream_events",
]

OFFLINE_KEY = "sk-ant-offline-demo"
"""The key the fake accepts by default: not a secret, it opens nothing but the fake."""

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""The Messages API's request size limit (platform docs, "Errors": 32 MB); above it, a 413."""


def _error_body(kind: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if details is not None:
        error["details"] = dict(details)
    return {"type": "error", "error": error}


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status, a body and extra headers.

    `stall` seconds: the fake sends the headers and half the body, then falls silent that long
    before the rest (a stream that stops mid-reply).
    """

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    stall: float = 0.0

    @classmethod
    def message(cls, message: Mapping[str, Any]) -> Reply:
        return cls(200, json.dumps(message).encode(), {"content-type": "application/json"})

    @classmethod
    def error(
        cls,
        status: int,
        kind: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Reply:
        """An error as the API sends it: `{"type": "error", "error": {"type", "message"}}`."""
        body = _error_body(kind, message, details)
        return cls(status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})

    @classmethod
    def overloaded(cls, retry_after_ms: int = 50) -> Reply:
        """529 as the API sends it when overloaded; a short retry-after-ms keeps the tests quick."""
        return cls.error(
            529, "overloaded_error", "Overloaded", headers={"retry-after-ms": str(retry_after_ms)}
        )

    @classmethod
    def rate_limited(cls, retry_after: str = "", retry_after_ms: int = 50) -> Reply:
        """429 `rate_limit_error` with the API's `retry-after` (seconds), or a short retry-after-ms."""
        headers = {"retry-after": retry_after} if retry_after else {"retry-after-ms": str(retry_after_ms)}
        return cls.error(
            429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.", headers=headers
        )

    @classmethod
    def spend_limited(cls) -> Reply:
        """429 for the organisation's monthly spend limit: waiting a minute does not lift it.

        The SDK reads `error.details.error_code` (`EnforcedSpendLimitReachedError`); the API still
        sends a `retry-after`, which a client must not obey for this one.
        """
        return cls.error(
            429,
            "rate_limit_error",
            "This request would exceed your organization's monthly spend limit.",
            headers={"retry-after": "60"},
            details={"error_code": "enforced_spend_limit_reached"},
        )

    @classmethod
    def too_large(cls) -> Reply:
        return cls.error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")

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
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.default = default
        self.script: deque[Answer] = deque(script)
        self.api_key = api_key
        self.max_request_bytes = max_request_bytes
        self.requests: list[RecordedRequest] = []
        self.request_ids: list[str] = []  # the `request-id` of every response, in order
        self._ids = itertools.count(1)
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
        try:
            reply = answer if isinstance(answer, Reply) else answer(request)
            _check_citable(reply, request)
        except Exception as exc:  # a broken recording must reach the caller as an API error, not a hang
            error = {"type": "error", "error": {"type": "api_error", "message": f"offline replay: {exc}"}}
            return Reply(500, json.dumps(error).encode(), {"content-type": "application/json"})
        return reply

    def _request_id(self) -> str:
        with self._lock:
            request_id = f"req_offline{next(self._ids):06d}"
            self.request_ids.append(request_id)
        return request_id

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        return bearer == f"Bearer {self.api_key}" or headers.get("x-api-key", "") == self.api_key


def _handler(fake: MessagesFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if length > fake.max_request_bytes:  # the API's edge refuses it before it is read
                self._send(Reply.too_large())
                return
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
            reply = fake._next(RecordedRequest(path, headers, body_json))
            streaming = isinstance(body_json, Mapping) and body_json.get("stream") is True
            self._send(_as_stream(reply) if streaming else reply)

        def _send(self, reply: Reply) -> None:
            request_id = fake._request_id()
            body = reply.body
            if reply.status >= 400:  # the API repeats the request id in every error body
                try:
                    error = json.loads(body)
                    if isinstance(error, dict) and error.get("type") == "error":
                        body = json.dumps({**error, "request_id": request_id}).encode()
                except ValueError:
                    pass
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.send_header("request-id", request_id)
            self.end_headers()
            # The client may have given up (its timeout, its wall-clock limit): nothing to answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if reply.stall:
                    half = len(body) // 2
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    time.sleep(reply.stall)
                    body = body[half:]
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request bodies hold the documents; nothing is logged

    return Handler


def _check_citable(reply: Reply, request: RecordedRequest) -> None:
    """Refuse to replay a citation the API could not send: not whole sentences of a plain-text document.

    Raises:
        ValueError: a char_location citation into a plain-text document of the request is not
            whole sentence chunks (`sentence_chunks`), or its cited text is not the document's there.
    """
    if reply.status != 200 or not isinstance(request.body, Mapping):
        return
    try:
        message = json.loads(reply.body)
    except ValueError:
        return
    if not isinstance(message, dict) or message.get("type") != "message":
        return
    texts = [
        block["source"]["data"] if block.get("source", {}).get("type") == "text" else None
        for turn in request.body.get("messages") or []
        if isinstance(turn, Mapping) and turn.get("role") == "user" and isinstance(turn.get("content"), list)
        for block in turn["content"]
        if isinstance(block, Mapping) and block.get("type") == "document"
    ]
    for block in message.get("content") or []:
        for citation in block.get("citations") or [] if isinstance(block, dict) else []:
            index = citation.get("document_index")
            if citation.get("type") != "char_location" or not isinstance(index, int) or index >= len(texts):
                continue
            text = texts[index]
            if text is None:
                continue
            start, end = citation.get("start_char_index"), citation.get("end_char_index")
            chunks = sentence_chunks(text)
            whole = start in {a for a, _ in chunks} and end in {b for _, b in chunks}
            if not whole or text[start:end] != citation.get("cited_text"):
                raise ValueError(
                    f"citation {citation.get('cited_text')!r} is not whole sentences of document {index}: "
                    "the API cites plain text in sentence chunks"
                )


def _as_stream(reply: Reply) -> Reply:
    """A 200 message reply as the event stream the API sends for `"stream": true`; others as they are."""
    if reply.status != 200:
        return reply
    try:
        message = json.loads(reply.body)
    except ValueError:
        return reply  # not a message: the client's stream reader meets it as it is
    if not isinstance(message, dict) or message.get("type") != "message":
        return reply
    lines = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in stream_events(message)]
    headers = {**reply.headers, "content-type": "text/event-stream", "cache-control": "no-cache"}
    return Reply(200, "".join(lines).encode(), headers, reply.stall)


_CHUNK = 40  # characters of text or tool input per delta; the API's chunks are small too


def stream_events(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The server-sent events that stream `message` (platform docs, "Streaming messages")."""
    usage = dict(message.get("usage") or {})
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "stop_details": None}
    start["usage"] = {**usage, "output_tokens": 1}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block)
    delta = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
        "stop_details": message.get("stop_details"),
    }
    events.append(
        {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage.get("output_tokens", 0)}}
    )
    events.append({"type": "message_stop"})
    return events


def _block_events(index: int, block: Mapping[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        opened: dict[str, Any] = {"type": "text", "text": ""}
        text = str(block.get("text") or "")
        deltas = [{"type": "text_delta", "text": text[i : i + _CHUNK]} for i in range(0, len(text), _CHUNK)]
        deltas += [{"type": "citations_delta", "citation": c} for c in block.get("citations") or []]
    elif kind == "tool_use":
        opened = {"type": "tool_use", "id": block.get("id"), "name": block.get("name"), "input": {}}
        raw = json.dumps(block.get("input"))
        deltas = [
            {"type": "input_json_delta", "partial_json": raw[i : i + _CHUNK]}
            for i in range(0, len(raw), _CHUNK)
        ]
    else:
        opened = dict(block)
    return [
        {"type": "content_block_start", "index": index, "content_block": opened},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


# A sentence ends at . ! or ? followed by spaces, or at a line break; a chunk never spans lines.
_SENTENCE = re.compile(r"[^\s].*?(?:[.!?](?=\s|$)|(?=\n)|$)", re.MULTILINE)


def sentence_chunks(text: str) -> list[tuple[int, int]]:
    """The `[start, end)` spans a plain-text document is cited in: its sentences, one line at most.

    The docs ("Citations") say plain-text documents are chunked into sentences and a citation
    cites whole chunks: `cited_text` is one sentence or several consecutive ones, never a clause.
    The splitter is this module's reading of that rule (the API's own is not published): a
    sentence ends at `.`, `!` or `?` before white space, or at the end of its line.
    """
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in " \t\r":
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans
