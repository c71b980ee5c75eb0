"""A local Slack Web API over real HTTP, for tests and benchmarks; and Slack-signed interactions.

    with SlackFake() as slack:                       # binds 127.0.0.1:0, serves in a thread
        client = AsyncWebClient(token=slack.token, base_url=slack.url)
        ...                                          # or REVIEW_GATE_SLACK_API_URL=slack.url
        slack.calls_to("chat.postMessage")           # recorded calls, params decoded
        slack.message("C123", ts)                    # a message as it stands after chat.update
        slack.down = True                            # every call answers 503 (server errors)
        slack.rate_limited = 2                       # the next 2 calls answer 429, Retry-After: 0
        slack.group_members["S1"] = ["U1", "U2"]     # usergroups.users.list
        slack.not_in_channels.add("C9")              # chat.postEphemeral there: not_in_channel
        slack.response_url("click-1")                # a response_url; its posts are calls to "response_url"
        await slack.deliver(payload)                 # Socket Mode: an envelope to the connected app,
                                                     # returns the app's ack (after apps.connections.open)

    body, headers = signed_interaction(secret, payload)          # what Slack POSTs, signed for real

Implements auth.test, chat.postMessage, chat.update, chat.postEphemeral, conversations.open,
usergroups.users.list, views.open and apps.connections.open (with `app_token`, a WebSocket on
port 0 for Socket Mode); anything else answers `unknown_method`. A wrong or missing
bearer token answers `invalid_auth`, as Slack does. Tokens are never recorded.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

__all__ = ["SlackCall", "SlackFake", "signed_interaction"]


@dataclass(frozen=True)
class SlackCall:
    method: str
    params: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)


def signed_interaction(
    secret: str, payload: Mapping[str, Any], timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """An interaction as Slack sends it: `payload=<json>` form-encoded, signed with `secret`."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    return body, headers


class SlackFake:
    """The Slack Web API methods the review gate uses, recording every call."""

    def __init__(self, token: str = "xoxb-test-token", app_token: str = "xapp-test-token") -> None:
        self.token = token
        self.app_token = app_token
        self._socket: Any = None  # the Socket Mode WebSocket server, started on first connection
        self._socket_connection: Any = None
        self._acks: dict[str, dict[str, Any]] = {}
        self._envelopes = 0
        self.down = False
        self.rate_limited = 0
        self.group_members: dict[str, list[str]] = {}
        self.not_in_channels: set[str] = set()
        self._lock = threading.Lock()
        self._calls: list[SlackCall] = []
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._ts = 1_700_000_000_000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> SlackFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.shutdown()
            self._socket = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlackFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The Web API base URL, for `AsyncWebClient(base_url=...)` and REVIEW_GATE_SLACK_API_URL."""
        if self._server is None:
            raise RuntimeError("SlackFake is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def response_url(self, name: str) -> str:
        """A `response_url` as Slack puts in a button payload; what is posted to it is recorded."""
        return self.url.removesuffix("api/") + f"response/{name}"

    # What happened

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """The message as it stands: its text and blocks after the last chat.update."""
        with self._lock:
            return dict(self._messages[(channel, ts)])

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages.values()]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    async def wait_for(
        self, method: str, where: Callable[[SlackCall], bool] = lambda c: True, timeout: float = 30
    ) -> SlackCall:
        """The first recorded call to `method` matching `where`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.calls_to(method):
                if call.status == 200 and where(call):
                    return call
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"no {method} call matched within {timeout}s; calls: {[c.method for c in self.calls]}"
        )

    # The API

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        method = parts.path.rsplit("/", 1)[-1]
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        content_type = request.headers.get("Content-Type") or ""
        if raw and "json" in content_type:
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw.decode())))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        params.pop("token", None)
        if parts.path.startswith("/response/"):
            self._respond(request, parts.path.removeprefix("/response/"), params)
            return
        with self._lock:
            if self.down:
                status, document, headers = 503, {"ok": False, "error": "service_unavailable"}, {}
            elif self.rate_limited > 0:
                self.rate_limited -= 1
                status, document, headers = 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}
            elif method == "apps.connections.open":
                authorized = request.headers.get("Authorization") == f"Bearer {self.app_token}"
                document = self._open_socket() if authorized else {"ok": False, "error": "invalid_auth"}
                status, headers = 200, {}
            elif request.headers.get("Authorization") != f"Bearer {self.token}":
                status, document, headers = 200, {"ok": False, "error": "invalid_auth"}, {}
            else:
                status, document, headers = 200, self._answer(method, params), {}
            self._calls.append(SlackCall(method, params, status))
        data = json.dumps(document).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _respond(self, request: BaseHTTPRequestHandler, hook: str, params: dict[str, Any]) -> None:
        # Slack's response_url takes a JSON message, needs no token, and answers a plain "ok".
        with self._lock:
            status = 503 if self.down else 200
            self._calls.append(SlackCall("response_url", {**params, "hook": hook}, status))
        data = b"ok" if status == 200 else b"service_unavailable"
        request.send_response(status)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    # Socket Mode

    def _open_socket(self) -> dict[str, Any]:
        from websockets.sync.server import ServerConnection, serve

        def session(connection: ServerConnection) -> None:
            self._socket_connection = connection
            connection.send(json.dumps({"type": "hello", "num_connections": 1}))
            for message in connection:
                ack = json.loads(message)
                with self._lock:
                    self._acks[str(ack.get("envelope_id"))] = ack

        if self._socket is None:
            self._socket = serve(session, "127.0.0.1", 0)
            threading.Thread(target=self._socket.serve_forever, name="slack-fake-socket", daemon=True).start()
        port = self._socket.socket.getsockname()[1]
        return {"ok": True, "url": f"ws://127.0.0.1:{port}/link"}

    async def deliver(self, payload: Mapping[str, Any], timeout: float = 30) -> dict[str, Any]:
        """Send an interaction to the app connected over Socket Mode; returns the app's ack."""
        deadline = time.monotonic() + timeout
        while self._socket_connection is None:
            if time.monotonic() > deadline:
                raise AssertionError("no app connected over Socket Mode")
            await asyncio.sleep(0.05)
        self._envelopes += 1
        envelope_id = f"envelope-{self._envelopes}"
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            "payload": dict(payload),
            "accepts_response_payload": True,
        }
        self._socket_connection.send(json.dumps(envelope))
        while time.monotonic() < deadline:
            with self._lock:
                if envelope_id in self._acks:
                    return self._acks[envelope_id]
            await asyncio.sleep(0.02)
        raise AssertionError(f"the app did not ack {envelope_id}")

    def _next_ts(self) -> str:
        self._ts += 1
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "team_id": "T1", "bot_id": "B1"}
        if method == "chat.postMessage":
            channel = str(params.get("channel") or "")
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            ts = self._next_ts()
            if not params.get("thread_ts"):
                self._messages[(channel, ts)] = {"channel": channel, "ts": ts, **params}
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text")}}
        if method == "chat.update":
            key = (str(params.get("channel")), str(params.get("ts")))
            if key not in self._messages:
                return {"ok": False, "error": "message_not_found"}
            self._messages[key] = {**self._messages[key], **params}
            return {"ok": True, "channel": key[0], "ts": key[1]}
        if method == "chat.postEphemeral":
            if str(params.get("channel")) in self.not_in_channels:
                return {"ok": False, "error": "not_in_channel"}
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": f"D{params.get('users')}"}}
        if method == "usergroups.users.list":
            group = str(params.get("usergroup"))
            if group not in self.group_members:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.group_members[group])}
        if method == "views.open":
            if not params.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            return {"ok": True, "view": {"id": "V1", **(params.get("view") or {})}}
        return {"ok": False, "error": "unknown_method"}
