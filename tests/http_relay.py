"""A byte-for-byte TCP relay in front of an HTTP API that notes each request line; and `serving`,
which runs a small test HTTP server on a thread for as long as a test needs it.

Tests and benchmarks count what a server is asked through the relay, not what the code says it asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import BaseServer
from typing import TypeVar
from urllib.parse import urlsplit

__all__ = ["counting_relay", "serving"]

S = TypeVar("S", bound=BaseServer)

_REQUEST_LINE = re.compile(rb"(GET|POST|PATCH|PUT|DELETE) (/\S*) HTTP/1\.1\r\n")


@contextmanager
def serving(server: S) -> Iterator[S]:
    """`server` answering on a daemon thread; shut down and its socket closed afterwards."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def counting_relay(
    api_url: str, listen: str = "127.0.0.1", hold: Callable[[str, str], float] | None = None
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A TCP relay in front of the API; yields its API URL and the (method, path) of each request.

    It runs on an event loop of its own: Prefect's engine makes some calls synchronously from the
    flows' loop, and a relay on that loop could not answer them. `listen` is the address it takes
    connections on (another network namespace's way in, for one). `hold(method, path)` is how many
    seconds to keep a request before passing it on (a slow server, as its clients see it); the
    request still reaches the server if its client gave up meanwhile, as it would over a network.
    """
    target = urlsplit(api_url)
    seen: list[tuple[str, str]] = []

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, note: bool) -> None:
        try:
            while data := await source.read(65536):
                if note:
                    requests = [(m[1].decode(), m[2].decode()) for m in _REQUEST_LINE.finditer(data)]
                    seen.extend(requests)
                    delay = max((hold(*r) for r in requests), default=0.0) if hold else 0.0
                    if delay > 0:
                        await asyncio.sleep(delay)
                sink.write(data)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        # Cancelled when the relay shuts down: a handler ended by a cancel would be logged as an error.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(asyncio.start_server(relay, listen, 0), loop).result(10)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://{listen}:{port}{target.path}", seen
    finally:

        async def shut() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
