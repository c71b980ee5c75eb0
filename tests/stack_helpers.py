"""The real stack for tests: PostgreSQL and S3 from `scripts/stack.sh up`, a Prefect server per module.

Tests that need it call `running_stack_or_skip()`: without a running stack they skip with the reason,
except where REVIEW_GATE_REQUIRE_STACK=1 (CI sets it in .ci/run), where they fail instead, so that a
stack that did not come up can never pass CI as skipped tests.

Each module gets a Prefect server of its own (`StackPrefect`) on a new database of the stack's
PostgreSQL and a new bucket of its S3 server, so that it can stop and start that server without
touching anything else, and starts from empty. Scaled out (`api_workers` > 1), that server runs as
Prefect's docs scale it, with a Redis of its own (Debian's `redis-server`), and `second_instance()`
adds another API instance on the same database and Redis, as a second host behind a load balancer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "scripts"))
import stack  # noqa: E402  (scripts/stack.py, not a package module)

__all__ = ["REQUIRE_STACK", "StackPrefect", "running_stack_or_skip", "stack"]

REQUIRE_STACK = "REVIEW_GATE_REQUIRE_STACK"


def running_stack_or_skip() -> stack.Stack:
    """The stack `scripts/stack.sh up` started (REVIEW_GATE_STACK_DIR, default .stack/).

    Skips the test when it is not running, or fails it when REVIEW_GATE_REQUIRE_STACK=1.
    """
    folder = Path(os.environ.get("REVIEW_GATE_STACK_DIR", stack.DEFAULT_STATE_DIR))
    found = stack.Stack(folder.resolve())
    if found.healthy():
        return found
    reason = (
        f"the real stack (PostgreSQL, S3, Prefect) is not running at {folder}: "
        "start it with `make stack-up` (scripts/stack.sh up)"
    )
    if os.environ.get(REQUIRE_STACK) == "1":
        pytest.fail(f"{reason}; {REQUIRE_STACK}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


class StackPrefect:
    """A Prefect server on its own database of the stack's PostgreSQL, its results in its own bucket."""

    def __init__(self, running: stack.Stack, folder: Path, api_workers: int = 1) -> None:
        postgres, store, _ = running.components()
        assert postgres is not None and store is not None
        self.postgres, self.store, self.folder = postgres, store, folder
        suffix = secrets.token_hex(4)
        self.database = f"review_gate_tests_{suffix}"
        self.bucket = f"review-gate-tests-{suffix}"
        stack.create_database(postgres, self.database)
        stack.create_bucket(store.endpoint, self.bucket)
        self.redis = stack.start_redis(folder) if api_workers > 1 else None
        self.others: list[stack.PrefectServer] = []
        self.server = stack.PrefectServer.create(
            postgres.url(self.database),
            folder,
            workers=api_workers,
            redis_url=self.redis.url if self.redis else None,
        )
        try:
            self.server.start()
            self.storage_block = stack.save_result_storage(self.api_url, store.endpoint, self.bucket)
        except BaseException:
            self.close()
            raise

    def second_instance(self) -> str:
        """Another API instance on this server's database and Redis (no services: the first runs
        them); its API URL. Only for a scaled-out server."""
        assert self.redis is not None, "a second API instance needs the first one's Redis"
        other = stack.PrefectServer.create(
            self.server.state.database_url,
            self.folder,
            redis_url=self.redis.url,
            services=False,
            name=f"prefect-{len(self.others) + 2}",
        )
        self.others.append(other)
        other.start()
        return other.state.api_url

    @property
    def api_url(self) -> str:
        return self.server.state.api_url

    def settings(self) -> dict[str, str]:
        """What a worker on this server needs: its API and the S3 result storage block."""
        return stack.worker_settings(self.api_url, self.storage_block)

    def restart(self, kill: bool = True) -> None:
        """Stop the server (SIGKILL by default: a crash, not a goodbye) and start it on the same port.

        Scaled out, its services process goes down with it (Redis stays: it is a service of its own).
        """
        for pid in (self.server.state.pid, self.server.state.services_pid) if kill else ():
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        self.server.stop()
        self.server.start()

    def objects(self) -> list[str]:
        """The keys in this server's result bucket."""
        import boto3  # type: ignore[import-untyped]

        client = boto3.client(
            "s3",
            endpoint_url=self.store.endpoint,
            aws_access_key_id=stack.S3_ACCESS_KEY,
            aws_secret_access_key=stack.S3_SECRET_KEY,
            region_name=stack.S3_REGION,
        )
        listed = client.list_objects_v2(Bucket=self.bucket)
        return [str(item["Key"]) for item in listed.get("Contents", [])]

    def close(self) -> None:
        for server in (*self.others, self.server):
            server.stop()
        if self.redis is not None:
            stack.stop_group(self.redis.pid)
        dropdb = stack.pg_binary("dropdb")
        env = {**os.environ, "PGPASSWORD": self.postgres.password}
        command = [dropdb, "-h", "127.0.0.1", "-p", str(self.postgres.port), "-U", stack.DB_USER]
        subprocess.run([*command, "--if-exists", self.database], env=env, capture_output=True, check=False)
