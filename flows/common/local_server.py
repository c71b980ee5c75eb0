"""A temporary Prefect server on loopback: SQLite in a folder of its own, the UI included.

What the demo runs on and what the deployment test deploys to: `prefect server start` as a user
would start it, in a child process, stopped (with everything it started) when done.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from prefect_review_gate.gates.ui_links import FLOW_RUN_PATH, WAITING_REVIEWS_PATH
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["LocalPrefectServer", "free_port", "prefect_env"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out for port 0: free now, for the server to take next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def prefect_env(
    home: Path, api_url: str | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment whose Prefect lives entirely under `home` (database, results, profiles)."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_PROFILES_PATH": str(home / "profiles.toml"),
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
        env["PREFECT_UI_URL"] = api_url.removesuffix("/api")
    return env


class LocalPrefectServer:
    """`prefect server start` on 127.0.0.1, in a child process; a context manager."""

    def __init__(
        self, home: Path, *, startup_timeout: float = 90.0, log: Path | None = None, services: bool = True
    ) -> None:
        self.home = home
        # With services, as users run it: events are stored (the Event Feed shows `review_gate.*`),
        # task runs recorded, pauses timed out. Without them the server only answers the API.
        self.services = services
        self.port = free_port()
        self.startup_timeout = startup_timeout
        self.log = log or home / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def flow_run_url(self, flow_run_id: object) -> str:
        """The run's page in the UI that shows a paused run's review above its resume form (V2)."""
        return self.ui_url + FLOW_RUN_PATH.format(flow_run_id=flow_run_id)

    @property
    def waiting_reviews_url(self) -> str:
        """The flow runs page listing every review waiting for a decision."""
        return self.ui_url + WAITING_REVIEWS_PATH

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for processes that talk to this server."""
        return prefect_env(self.home, self.api_url, base)

    def start(self) -> LocalPrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = prefect_env(self.home, base=os.environ)
        env.pop("PREFECT_API_URL", None)
        # The UI asks /ui-settings where its API is, and the server answers from these two settings,
        # not from --port: without them the UI calls 127.0.0.1:4200, another server or nothing.
        env["PREFECT_SERVER_API_HOST"] = "127.0.0.1"
        env["PREFECT_SERVER_API_PORT"] = str(self.port)
        command = [
            sys.executable, "-m", "prefect", "server", "start",
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        if not self.services:
            command.append("--no-services")
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ReviewGateError(f"the Prefect server exited at start; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise ReviewGateError(
            f"the Prefect server did not start within {self.startup_timeout:.0f}s; see {self.log}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # the server's own group: uvicorn and its children
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(15)

    def __enter__(self) -> LocalPrefectServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
