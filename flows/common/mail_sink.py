"""A local SMTP server that keeps what it receives as `.eml` files: where demos' e-mails go.

An agent's demo that sends e-mail (CLOSER's follow-ups; a release announcement) points the shared
SMTP sink (`smtp`) at this server, so an approved e-mail is really sent through SMTP and lands as a
file the person running the demo can open. It binds to port 0 on loopback. It needs aiosmtpd (a
dev dependency, which `make demo` installs).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["LocalMailSink"]


class LocalMailSink:
    """An SMTP server in a background thread; each message becomes `<folder>/<n>.eml`."""

    def __init__(self, folder: Path, host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.host = host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._thread = threading.Thread(target=self._serve, name="mail-sink", daemon=True)
        self._ready = threading.Event()

    def env(self, sender: str) -> dict[str, str]:
        """The environment that points the SMTP sink at this server."""
        return {
            "REVIEW_GATE_SMTP_HOST": self.host,
            "REVIEW_GATE_SMTP_PORT": str(self.port),
            "REVIEW_GATE_SMTP_FROM": sender,
        }

    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def start(self) -> LocalMailSink:
        from aiosmtpd.smtp import SMTP  # imported here: only demos need it

        self.folder.mkdir(parents=True, exist_ok=True)
        self._smtp = SMTP
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the local SMTP server did not start")
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                count = len(sink.messages()) + 1
                (sink.folder / f"{count:03d}.eml").write_bytes(envelope.original_content or b"")
                return "250 OK"

        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: self._smtp(Handler()), self.host, 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> LocalMailSink:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
