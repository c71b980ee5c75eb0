"""`review-gate serve`: the Bolt app over HTTP (uvicorn, Bolt's ASGI adapter) or Socket Mode.

Both modes share the same listeners and run the reminder/expiry sweep and the delivery of queued
decisions (`delivery`) beside them. Over HTTP, Slack's interactivity URL is
`http://HOST:PORT/slack/events`; bodies over 64 KiB are refused (413) before Bolt reads them, and a
request Bolt cannot verify for its form (a timestamp that is no number) gets 400.

It starts only when the Prefect API answers (a wrong PREFECT_API_URL is the usual mistake), unless
its decision queue shows it has served this very API before: then Prefect is down, not
misconfigured, and the server starts anyway, keeping clicks until Prefect is back.
Exit status: 0 stopped, 2 not configured (one line on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, cast

from prefect_review_gate.gates.slack.app import ReviewApp, create_app
from prefect_review_gate.gates.slack.settings import SlackSettings
from prefect_review_gate.gates.slack.sweep import sweep_forever
from prefect_review_gate.validators.errors import InputError, ReviewGateError

_LOG = logging.getLogger("prefect_review_gate.slack")

__all__ = [
    "EVENTS_PATH",
    "MAX_BODY_BYTES",
    "LimitedBody",
    "run_serve",
    "running",
    "serve_http",
    "serve_socket_mode",
]

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 64 * 1024  # Slack's interaction payloads are a few KiB

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LimitedBody:
    """ASGI middleware: 413 for bodies over `limit`, 400 for bodies Bolt cannot parse; `/healthz` 200."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET" and scope["path"] == "/healthz":
            await _respond(send, 200, b"ok")
            return
        headers = dict(scope.get("headers") or [])
        stamp = headers.get(b"x-slack-request-timestamp")
        if stamp is not None and not stamp.strip().isdigit():
            # Bolt's verifier would int() it and fail with a 500: a malformed request is a 400.
            await _respond(send, 400, b"malformed request")
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _respond(send, 413, b"request body too large")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _respond(send, 413, b"request body too large")
                return
            if not message.get("more_body"):
                break
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await self.app(scope, replay, tracked)
        except Exception as exc:
            # Bolt parses the body before it verifies it: unreadable input is the sender's error.
            _LOG.warning("Refused an unreadable Slack request: %s", type(exc).__name__)
            if not started:
                await _respond(send, 400, b"malformed request")


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_SERVED_API = "prefect_api_url"


@contextlib.asynccontextmanager
async def shared_clients(review_app: ReviewApp) -> AsyncIterator[None]:
    """One Prefect client and one aiohttp session for the server's life, instead of one per call.

    Each new Prefect client builds a TLS context (~80 ms of CPU here): under a burst of clicks that,
    not Bolt, decided the ack latency. Inside this context `get_client()` returns the shared one.
    Started while Prefect is down (see the module's doc), each call makes its own client instead.
    """
    import aiohttp
    from prefect.context import AsyncClientContext
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value() or "")
    context = AsyncClientContext()
    prefect: AsyncClientContext | None = None
    try:
        await context.__aenter__()
        prefect = context
    except Exception as exc:  # Prefect checks the server's version on entering: it must be reachable
        if not api or await review_app.outbox.get_meta(_SERVED_API) != api:
            raise InputError(f"cannot reach the Prefect API (PREFECT_API_URL): {exc}") from None
        _LOG.warning(
            "The Prefect API at %s does not answer (%s); serving anyway: decisions are kept in %s "
            "and delivered once it answers.",
            api,
            type(exc).__name__,
            review_app.outbox.path,
        )
    else:
        await review_app.outbox.set_meta(_SERVED_API, api)
    try:
        async with aiohttp.ClientSession() as session:
            review_app.client.session = session
            try:
                yield
            finally:
                review_app.client.session = None
    finally:
        if prefect is not None:
            await prefect.__aexit__(None, None, None)


@contextlib.asynccontextmanager
async def running(review_app: ReviewApp, settings: SlackSettings) -> AsyncIterator[None]:
    """For the server's life: the decision queue open, the shared clients, the sweep and delivery loops."""
    try:
        await review_app.outbox.open()
    except ReviewGateError as exc:
        raise InputError(str(exc)) from None
    try:
        async with shared_clients(review_app):
            loops = [
                asyncio.create_task(sweep_forever(review_app.client, settings.sweep_seconds)),
                asyncio.create_task(review_app.deliveries.run_forever()),
            ]
            try:
                yield
            finally:
                for task in loops:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await review_app.drain()
    finally:
        await review_app.outbox.close()


async def serve_http(
    review_app: ReviewApp,
    settings: SlackSettings,
    host: str,
    port: int,
    ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve until cancelled; `ready` gets the events URL once the socket listens (port 0 is resolved)."""
    import uvicorn
    from slack_bolt.adapter.asgi.async_handler import AsyncSlackRequestHandler

    bolt = cast(ASGIApp, AsyncSlackRequestHandler(review_app.app, path=EVENTS_PATH))
    asgi = LimitedBody(bolt)
    config = uvicorn.Config(
        asgi, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.02)
        ready(f"http://{shown_host}:{bound_port}{EVENTS_PATH}")

    async with running(review_app, settings):
        announcer = asyncio.create_task(announce())
        try:
            await server.serve(sockets=[sock])
        finally:
            announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announcer


async def serve_socket_mode(
    review_app: ReviewApp, settings: SlackSettings, ready: Callable[[str], None]
) -> None:
    """Serve over Socket Mode (no public URL) until cancelled. Needs SLACK_APP_TOKEN."""
    if settings.app_token is None:
        raise InputError(
            "--socket-mode needs SLACK_APP_TOKEN (an app-level token, xapp-..., scope connections:write)"
        )
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(
        review_app.app, settings.app_token.get_secret_value(), web_client=review_app.client
    )
    async with running(review_app, settings):
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
            ready("socket mode")
            await asyncio.Event().wait()
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]


def run_serve(host: str, port: int, socket_mode: bool) -> int:
    """`review-gate serve`: configure from the environment, then serve until interrupted.

    Raises `InputError` (exit 2) when the signing secret, bot token or (Socket Mode) app token is missing.
    """
    settings = SlackSettings.from_env()
    review_app = create_app(settings)

    def ready(where: str) -> None:
        sys.stdout.write(f"review-gate serve: listening on {where}\n")
        sys.stdout.flush()

    work = (
        serve_socket_mode(review_app, settings, ready)
        if socket_mode
        else serve_http(review_app, settings, host, port, ready)
    )
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(work)
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where installed (`uvicorn[standard]`): a burst of clicks is acked sooner."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
