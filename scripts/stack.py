"""The real stack on one machine, without containers: PostgreSQL 15, a Prefect server on it, and S3.

    scripts/stack.sh up        start what is not running yet, print the workers' settings
    scripts/stack.sh up --api-workers 2   the Prefect server scaled out: 2 API processes, Redis
    scripts/stack.sh down      stop everything it started and delete its folders
    scripts/stack.sh env       print the settings a worker needs (`eval "$(scripts/stack.sh env)"`)
    scripts/stack.sh env --server   the same, plus what a second Prefect server on the database needs
    scripts/stack.sh status    what runs, where

What it starts:
- PostgreSQL 15 from Debian's server binaries (`/usr/lib/postgresql/15/bin`, else `initdb` on PATH),
  a throwaway cluster under /tmp on a free loopback port, password authentication. PostgreSQL refuses
  to run as root: as root, every server binary runs as the system user `postgres` (Debian's package
  creates it; REVIEW_GATE_STACK_PG_USER names another).
- `prefect server start` with PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://... on it.
- moto's S3 server (`moto_server`, PyPI `moto[server]`) with one bucket, saved on that Prefect server
  as the prefect-aws `S3Bucket` block `s3-bucket/review-gate-results`: the workers' result storage
  (PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK), where flows persist results (the gate's commit ledger is
  on the Prefect server). moto keeps objects in memory: restarting it loses them, so it is for tests
  and benchmarks; a deployment uses real S3 or MinIO (README, "Running on PostgreSQL and S3").
- With `--api-workers N` (N > 1; REVIEW_GATE_STACK_API_WORKERS): Debian's `redis-server` (in memory,
  a free loopback port), and the Prefect server as Prefect's docs scale it (`prefect server start
  --workers N --no-services`, its background services in a `prefect server services start` process
  of their own, events, leases and the services' queue on Redis through prefect-redis). The
  database is migrated and the block types registered once, before the API processes start.

State lives in REVIEW_GATE_STACK_DIR (default `.stack/` at the repository's root): `stack.json` (what
runs, its ports, process ids and folders), `env` (the workers' settings as `export` lines) and the
logs `prefect.log`, `prefect-services.log`, `redis.log` and `s3.log` (PostgreSQL's is `postgres.log`
beside its cluster). `up`
is idempotent (a healthy stack is left alone, a half-dead one is stopped first); `down` stops only
processes this script recorded, by id, and removes every folder it made.

The same pieces start from Python (tests and benchmarks): `Stack(state_dir).up()`, `.down()`,
`.env()`, and `PrefectServer` / `create_database` / `save_result_storage` to run a second Prefect
server, on a database of its own, that a test may stop and start again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_STATE_DIR = REPOSITORY / ".stack"
PG_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
PG_USER_DEFAULT = "postgres"
DB_USER = "review_gate"
DB_NAME = "prefect"
BUCKET = "review-gate-results"
BLOCK_NAME = "review-gate-results"
RESULT_STORAGE_BLOCK = f"s3-bucket/{BLOCK_NAME}"
# moto accepts any credentials; these only have to be the same on both sides.
S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION = "review-gate-stack", "review-gate-stack-secret", "us-east-1"
START_SECONDS = 120.0
# Posted and read back to know a Prefect server's separate services process runs (`_services_started`).
READY_EVENT = "review-gate.stack.ready"
STOP_SECONDS = 20.0


class StackError(Exception):
    """Something the stack needs is missing or would not start; the message says what to do."""


# --- small process helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int | None) -> bool:
    """True when process `pid` runs (a zombie counts as gone)."""
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in {"Z", "X"}


def stop_group(pid: int | None, timeout: float = STOP_SECONDS) -> None:
    """Stop the process group led by `pid` (started here with its own session): TERM, then KILL."""
    if not pid:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            if not _alive(pid):
                # The leader is gone; whatever it left in its group goes too.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                return
            time.sleep(0.1)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(ok: Any, what: str, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with status {process.returncode}: {_tail(log)}")
        if ok():
            return
        time.sleep(0.2)
    raise StackError(f"{what} did not come up within {START_SECONDS:.0f} s: {_tail(log)}")


def _post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except FileNotFoundError:
        return f"(no log at {log})"
    return " | ".join(text[-lines:]) or "(empty log)"


def _venv_tool(name: str) -> str | None:
    """A console script of this Python's environment, else one on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def _start_logged(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`command` in a session of its own (so `stop_group` stops it whole), its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


# --- PostgreSQL -------------------------------------------------------------------------------------


@dataclass
class PostgresState:
    port: int
    data_dir: str  # the cluster, under /tmp, owned by the server's user
    password: str = field(repr=False)
    pid: int | None = None

    def url(self, database: str = DB_NAME) -> str:
        return f"postgresql+asyncpg://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{database}"


def pg_binary(name: str) -> str:
    """A PostgreSQL 15 server binary, or a `StackError` saying how to install it."""
    configured = os.environ.get("REVIEW_GATE_STACK_PG_BIN")
    if configured:  # named explicitly: only there
        if (Path(configured) / name).is_file():
            return str(Path(configured) / name)
        raise StackError(f"PostgreSQL's `{name}` is not in REVIEW_GATE_STACK_PG_BIN={configured}")
    for folder in PG_BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found:
        return found
    raise StackError(
        f"PostgreSQL's `{name}` was not found (looked in {', '.join(map(str, PG_BIN_DIRS))} and PATH): "
        "install the server with `apt-get install postgresql-15`, or set REVIEW_GATE_STACK_PG_BIN"
    )


def _pg_user() -> str | None:
    """The user PostgreSQL's binaries run as: None for this user, a system user when we are root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("REVIEW_GATE_STACK_PG_USER", PG_USER_DEFAULT)
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise StackError(
            f"PostgreSQL refuses to run as root, and the user {name!r} to run it as does not exist: "
            "`apt-get install postgresql-15` creates `postgres`, or set REVIEW_GATE_STACK_PG_USER"
        ) from None
    if shutil.which("runuser") is None:
        raise StackError("running PostgreSQL as another user needs `runuser` (util-linux)")
    return name


def _as_pg_user(command: Sequence[str]) -> list[str]:
    user = _pg_user()
    return ["runuser", "-u", user, "--", *command] if user else list(command)


def _run(command: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(list(command), capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise StackError(f"{what} failed (exit {result.returncode}): {' | '.join(detail[-5:])}")
    return result.stdout


def start_postgres() -> PostgresState:
    """A new cluster on a free port: initdb, start, and a `prefect` database owned by `review_gate`."""
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    user = _pg_user()
    data_parent = Path(tempfile.mkdtemp(prefix="review-gate-stack-pg-"))
    state = PostgresState(
        port=free_port(), data_dir=str(data_parent / "data"), password=secrets.token_urlsafe(18)
    )
    try:
        _init_cluster(initdb, state, user)
        options = (
            f"-p {state.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data_parent} "
            # Prefect's server holds a pool per process; a benchmark's burst opens more.
            "-c max_connections=300"
        )
        # Beside the cluster: the server's user may not reach the state folder (a private tmp).
        log = data_parent / "postgres.log"
        start = [pg_ctl, "start", "-D", state.data_dir, "-o", options, "-l", str(log), "-w", "-t", "60"]
        _run(_as_pg_user(start), "pg_ctl start")
        state.pid = _postmaster_pid(Path(state.data_dir))
        create_database(state, DB_NAME)
    except BaseException:
        stop_postgres(state)
        raise
    return state


def _init_cluster(initdb: str, state: PostgresState, user: str | None) -> None:
    """initdb with `review_gate` as the superuser, its password from a file that is deleted after."""
    data_parent = Path(state.data_dir).parent
    _give_to(data_parent, user)
    password_file = data_parent / "password"
    password_file.write_text(state.password + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    _give_to(password_file, user)
    try:
        command = [
            initdb,
            *("-D", state.data_dir, "-U", DB_USER, f"--pwfile={password_file}", "-E", "UTF8"),
            *("--locale=C", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--no-instructions"),
        ]
        _run(_as_pg_user(command), "initdb")
    finally:
        password_file.unlink(missing_ok=True)


def _give_to(path: Path, user: str | None) -> None:
    if user:
        record = pwd.getpwnam(user)
        os.chown(path, record.pw_uid, record.pw_gid)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def create_database(state: PostgresState, name: str) -> None:
    """CREATE DATABASE `name` owned by `review_gate` (the cluster's superuser), if it is not there."""
    createdb = pg_binary("createdb")
    env = {**os.environ, "PGPASSWORD": state.password}
    command = [createdb, "-h", "127.0.0.1", "-p", str(state.port), "-U", DB_USER, name]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise StackError(f"createdb {name} failed: {result.stderr.strip()}")


def stop_postgres(state: PostgresState) -> None:
    data_dir = Path(state.data_dir)
    if (data_dir / "postmaster.pid").exists():
        with contextlib.suppress(StackError):
            _run(
                _as_pg_user([pg_binary("pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w"]), "pg_ctl"
            )
    if _alive(state.pid) and _postmaster_pid(data_dir) == state.pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid or 0, signal.SIGKILL)
    shutil.rmtree(data_dir.parent, ignore_errors=True)


def postgres_ready(state: PostgresState) -> bool:
    try:
        pg_isready = pg_binary("pg_isready")
    except StackError:
        return _alive(state.pid)
    command = [pg_isready, "-h", "127.0.0.1", "-p", str(state.port), "-q"]
    return subprocess.run(command, check=False).returncode == 0


# --- the S3-compatible object store ----------------------------------------------------------------


@dataclass
class ObjectStoreState:
    port: int
    pid: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_object_store(state_dir: Path) -> ObjectStoreState:
    """moto's S3 server on a free port, with the result storage bucket."""
    server = _venv_tool("moto_server")
    if server is None:
        raise StackError(
            "moto's S3 server (`moto_server`) is not installed: pip install 'moto[server]' "
            "(it is in this project's dev extras: make .venv/.installed-dev)"
        )
    state = ObjectStoreState(port=free_port())
    log = state_dir / "s3.log"
    process = _start_logged([server, "-H", "127.0.0.1", "-p", str(state.port)], log, _quiet_env())
    state.pid = process.pid
    _wait_until(lambda: _http_ok(f"{state.endpoint}/moto-api/"), "moto_server", process, log)
    create_bucket(state.endpoint, BUCKET)
    return state


def create_bucket(endpoint: str, name: str) -> None:
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name=S3_REGION,
    )
    client.create_bucket(Bucket=name)


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


# --- Redis (only for a Prefect API of several processes) ------------------------------------------


@dataclass
class RedisState:
    port: int
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(state_dir: Path) -> RedisState:
    """Debian's `redis-server` on a free loopback port, in memory only (nothing saved to disk).

    Prefect keeps nothing there that PostgreSQL does not also hold: events in transit, the background
    services' task queue (docket), concurrency leases. A real deployment runs Redis as a service.
    """
    server = shutil.which("redis-server")
    if server is None:
        raise StackError("`redis-server` was not found: install it with `apt-get install redis-server`")
    state = RedisState(port=free_port())
    log = state_dir / "redis.log"
    command = [
        server,
        *("--bind", "127.0.0.1", "--port", str(state.port), "--save", "", "--appendonly", "no"),
        *("--dir", str(state_dir), "--daemonize", "no"),
    ]
    process = _start_logged(command, log)
    state.pid = process.pid
    _wait_until(lambda: redis_ready(state), "redis-server", process, log)
    return state


def redis_ready(state: RedisState) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", state.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server_settings(url: str) -> dict[str, str]:
    """What every process of a Prefect server on Redis needs (prefect-redis, Prefect's own integration).

    Prefect 3.9 refuses `--workers` > 1 while any of the first four is in memory: each API process
    would see only the events and leases it made itself. The last two are not checked by Prefect,
    but keep state in one process's memory too: the background services' task queue and the
    workers' cleanup queue.
    """
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_URL": url,
        "PREFECT_SERVER_DOCKET_URL": url,
        "PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE": "prefect_redis.cleanup_queue",
        "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_URL": url,  # its own setting: it does not read the one above
    }


# --- the Prefect server -----------------------------------------------------------------------------


@dataclass
class PrefectServerState:
    port: int
    home: str
    database_url: str = field(repr=False)
    pid: int | None = None
    # Scaled out (Prefect's multi-server setup): `workers` API processes on one port, events, leases
    # and the services' queue on Redis at `redis_url`, the background services in a process of their
    # own (`services_pid`) unless `services` is off (a second API instance beside a first one).
    workers: int = 1
    redis_url: str | None = field(default=None, repr=False)
    services: bool = True
    services_pid: int | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


# What each API process does on start when it is the only one (migrations, then the block types of
# every installed collection); run once by `PrefectServer.start` before several start together.
PREPARE_DATABASE = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

async def prepare():
    db = provide_database_interface()
    await db.create_db()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)

asyncio.run(prepare())
"""


class PrefectServer:
    """`prefect server start` on a PostgreSQL database; `stop()` and `start()` again keep its port."""

    def __init__(self, state: PrefectServerState, log: Path) -> None:
        self.state, self.log = state, log

    @classmethod
    def create(
        cls,
        database_url: str,
        folder: Path,
        port: int | None = None,
        *,
        workers: int = 1,
        redis_url: str | None = None,
        services: bool = True,
        name: str = "prefect",
    ) -> PrefectServer:
        if workers > 1 and redis_url is None:
            raise StackError("a Prefect API of several processes needs Redis (prefect-redis): give redis_url")
        home = folder / f"{name}-home"
        home.mkdir(parents=True, exist_ok=True)
        state = PrefectServerState(
            port=port or free_port(),
            home=str(home),
            database_url=database_url,
            workers=workers,
            redis_url=redis_url,
            services=services,
        )
        return cls(state, folder / f"{name}.log")

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {
            "PREFECT_HOME": self.state.home,
            "PREFECT_API_DATABASE_CONNECTION_URL": self.state.database_url,
            # The UI asks /ui-settings where the API is: the real port, not 4200.
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.state.port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
            "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        }
        if self.state.redis_url:
            env |= redis_server_settings(self.state.redis_url)
            # Done once before the API processes start (`start`): each would do both on start, and
            # two doing them on one database at once collide ("duplicate key value ...", logged as
            # errors by the loser).
            env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
            env["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] = "false"
        return env

    def start(self) -> None:
        if self.running():
            return
        host, port = "127.0.0.1", str(self.state.port)
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", port]
        if self.state.redis_url:
            # Services in their own process: with several API processes each would run them all.
            command += ["--no-services", "--workers", str(self.state.workers)]
            _run([sys.executable, "-c", PREPARE_DATABASE], "preparing the database", env=self.environment())
        api = _start_logged(command, self.log, self.environment())
        self.state.pid = api.pid
        try:
            _wait_until(self.healthy, "prefect server", api, self.log)
            if self.state.redis_url and self.state.services:
                command = [sys.executable, "-m", "prefect", "server", "services", "start"]
                services = _start_logged(command, self.services_log, self.environment())
                self.state.services_pid = services.pid
                _wait_until(self._services_started, "prefect server services", services, self.services_log)
        except StackError:
            self.stop()
            raise

    @property
    def services_log(self) -> Path:
        return self.log.with_name(f"{self.log.stem}-services.log")

    def _services_started(self) -> bool:
        """True once an event posted to the API comes back from the event feed.

        `prefect server services start` has no health endpoint and prints nothing when ready; the
        round trip proves what matters: the API publishes to Redis, the services process consumes
        and stores. A new event each try, since one sent before the consumer joined may be skipped.
        """
        now = datetime.now(UTC).isoformat()
        event: dict[str, Any] = {"id": str(uuid.uuid4()), "occurred": now, "event": READY_EVENT}
        event["resource"] = {"prefect.resource.id": "review-gate.stack"}
        try:
            _post_json(f"{self.state.api_url}/events", [event])
            query = {"filter": {"event": {"name": [READY_EVENT]}}, "limit": 1}
            found = _post_json(f"{self.state.api_url}/events/filter", query)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return bool(isinstance(found, dict) and found.get("events"))

    def healthy(self) -> bool:
        return _http_ok(f"{self.state.api_url}/health")

    def running(self) -> bool:
        services_up = not (self.state.redis_url and self.state.services) or _alive(self.state.services_pid)
        return _alive(self.state.pid) and services_up and _http_ok(f"{self.state.api_url}/health")

    def stop(self) -> None:
        stop_group(self.state.services_pid)
        stop_group(self.state.pid)
        self.state.pid = self.state.services_pid = None


def save_result_storage(api_url: str, endpoint: str, bucket: str = BUCKET, name: str = BLOCK_NAME) -> str:
    """Save the `S3Bucket` block `name` on the Prefect API at `api_url`; its slug for the settings.

    prefect-aws's S3Bucket rather than a RemoteFileSystem with s3fs: credentials are a typed block
    with secret fields (a RemoteFileSystem keeps them in a plain settings dict), and it is the
    integration Prefect maintains and documents for S3 result storage.
    """
    script = (
        "import sys\n"
        "from prefect_aws import AwsCredentials, S3Bucket\n"
        "from prefect_aws.client_parameters import AwsClientParameters\n"
        "endpoint, bucket, name, key, secret, region = sys.argv[1:]\n"
        "credentials = AwsCredentials(aws_access_key_id=key, aws_secret_access_key=secret,\n"
        "    region_name=region, aws_client_parameters=AwsClientParameters(endpoint_url=endpoint))\n"
        "S3Bucket(bucket_name=bucket, credentials=credentials).save(name, overwrite=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING"}
    # In a child process: the caller's Prefect settings (a test session's) stay as they are.
    command = [sys.executable, "-c", script, endpoint, bucket, name, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION]
    try:
        _run(command, "saving the S3Bucket block", env=env)
    except StackError as exc:
        if "No module named 'prefect_aws'" in str(exc):
            raise StackError(
                "prefect-aws is not installed: pip install prefect-aws (in this project's dev extras)"
            ) from None
        raise
    return f"s3-bucket/{name}"


def worker_settings(api_url: str, storage_block: str = RESULT_STORAGE_BLOCK) -> dict[str, str]:
    """What a worker (or a flow's process, or the review commands) needs to use the stack."""
    return {"PREFECT_API_URL": api_url, "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": storage_block}


# --- the stack --------------------------------------------------------------------------------------


class Stack:
    """The three services, their state in `state_dir/stack.json`."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR) -> None:
        self.state_dir = state_dir
        self.state_file = state_dir / "stack.json"
        self.env_file = state_dir / "env"

    def _load(self) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StackError(f"{self.state_file} is unreadable ({exc}): run `down` to start over") from None
        return loaded

    def _save(self, state: Mapping[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2), encoding="utf-8")
        temporary.chmod(0o600)  # it holds the database password
        temporary.replace(self.state_file)

    def components(self) -> tuple[PostgresState | None, ObjectStoreState | None, PrefectServer | None]:
        state = self._load()
        postgres = PostgresState(**state["postgres"]) if "postgres" in state else None
        store = ObjectStoreState(**state["s3"]) if "s3" in state else None
        prefect = (
            PrefectServer(PrefectServerState(**state["prefect"]), self.state_dir / "prefect.log")
            if "prefect" in state
            else None
        )
        return postgres, store, prefect

    def redis(self) -> RedisState | None:
        """The stack's Redis: started only for a Prefect API of several processes (`up(api_workers)`)."""
        state = self._load()
        return RedisState(**state["redis"]) if "redis" in state else None

    def healthy(self) -> bool:
        postgres, store, prefect = self.components()
        redis = self.redis()
        return (
            (redis is None or redis_ready(redis))
            and postgres is not None
            and store is not None
            and prefect is not None
            and postgres_ready(postgres)
            and _alive(store.pid)
            and _http_ok(f"{store.endpoint}/moto-api/")
            and prefect.running()
            and self.env_file.exists()
        )

    def api_workers(self) -> int:
        _, _, prefect = self.components()
        return prefect.state.workers if prefect is not None else 0

    def up(self, api_workers: int = 1) -> dict[str, str]:
        """Start the stack unless it runs already (as asked); the workers' settings.

        With `api_workers` > 1 the Prefect server runs as Prefect's docs scale it: that many API
        processes, its background services in a process of their own, Redis between them.
        """
        if api_workers < 1:
            raise StackError("--api-workers must be 1 or more")
        if self.healthy() and self.api_workers() == api_workers:
            return self.env()
        if self.state_file.exists():
            self.down()  # half up (a crash, a reboot): start over rather than guess
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {}
        try:
            postgres = start_postgres()
            state["postgres"] = asdict(postgres)
            self._save(state)
            store = start_object_store(self.state_dir)
            state["s3"] = asdict(store)
            self._save(state)
            redis_url = None
            if api_workers > 1:
                redis = start_redis(self.state_dir)
                state["redis"] = asdict(redis)
                self._save(state)
                redis_url = redis.url
            prefect = PrefectServer.create(
                postgres.url(), self.state_dir, workers=api_workers, redis_url=redis_url
            )
            state["prefect"] = asdict(prefect.state)
            self._save(state)
            prefect.start()
            state["prefect"] = asdict(prefect.state)
            self._save(state)
            save_result_storage(prefect.state.api_url, store.endpoint)
        except BaseException:
            self.down()
            raise
        settings = worker_settings(prefect.state.api_url)
        self.env_file.write_text("".join(f"export {k}={v}\n" for k, v in settings.items()), encoding="utf-8")
        return settings

    def env(self, server: bool = False) -> dict[str, str]:
        """The workers' settings (and with `server`, a Prefect server's); `StackError` when not up."""
        postgres, store, prefect = self.components()
        if postgres is None or store is None or prefect is None or not self.env_file.exists():
            raise StackError(f"the stack is not up ({self.state_dir}): run `scripts/stack.sh up`")
        settings = worker_settings(prefect.state.api_url)
        if server:
            settings |= {
                "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url(),
                "REVIEW_GATE_STACK_S3_ENDPOINT": store.endpoint,
            }
        return settings

    def down(self) -> list[str]:
        """Stop what this stack started, delete its folders; what was stopped, for the message."""
        postgres, store, prefect = self.components()
        stopped = []
        if prefect is not None:
            prefect.stop()
            stopped.append("prefect server")
        redis = self.redis()
        if redis is not None:
            stop_group(redis.pid)
            stopped.append("redis")
        if store is not None:
            stop_group(store.pid)
            stopped.append("s3 (moto)")
        if postgres is not None:
            stop_postgres(postgres)
            stopped.append("postgresql")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return stopped


@contextlib.contextmanager
def running_stack(state_dir: Path | None = None, api_workers: int = 1) -> Iterator[Stack]:
    """A stack of its own for the duration of a `with` (benchmarks): up, then down and deleted."""
    folder = state_dir or Path(tempfile.mkdtemp(prefix="review-gate-stack-"))
    stack = Stack(folder)
    try:
        stack.up(api_workers)
        yield stack
    finally:
        stack.down()


# --- the command --------------------------------------------------------------------------------


def _exports(settings: Mapping[str, str]) -> str:
    return "".join(f"export {k}={v}\n" for k, v in settings.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("verb", choices=("up", "down", "env", "status"))
    parser.add_argument("--server", action="store_true", help="env: also a Prefect server's settings")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=os.environ.get("REVIEW_GATE_STACK_API_WORKERS", "1"),  # argparse converts it, or says why not
        help="up: Prefect API processes; more than 1 adds Redis and a services process "
        "(REVIEW_GATE_STACK_API_WORKERS; default 1)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("REVIEW_GATE_STACK_DIR", DEFAULT_STATE_DIR)),
        help="where the stack keeps its state (REVIEW_GATE_STACK_DIR; default .stack/)",
    )
    args = parser.parse_args(argv)
    stack = Stack(args.dir.resolve())
    try:
        if args.verb == "up":
            already = stack.healthy() and stack.api_workers() == args.api_workers
            settings = stack.up(args.api_workers)
            print("stack: already up" if already else "stack: up", file=sys.stderr)
            sys.stdout.write(_exports(settings))
        elif args.verb == "down":
            stopped = stack.down()
            print(
                f"stack: stopped {', '.join(stopped)}" if stopped else "stack: nothing to stop",
                file=sys.stderr,
            )
        elif args.verb == "env":
            sys.stdout.write(_exports(stack.env(server=args.server)))
        else:
            postgres, store, prefect = stack.components()
            if prefect is None or postgres is None or store is None:
                print(f"stack: not up ({stack.state_dir})")
                return 1
            print(f"postgresql  127.0.0.1:{postgres.port}  {'ready' if postgres_ready(postgres) else 'DOWN'}")
            print(f"s3 (moto)   {store.endpoint}  {'ready' if _alive(store.pid) else 'DOWN'}")
            redis = stack.redis()
            if redis is not None:
                print(f"redis       127.0.0.1:{redis.port}  {'ready' if redis_ready(redis) else 'DOWN'}")
            shape = ""
            if prefect.state.redis_url:
                shape = f"  ({prefect.state.workers} API processes, services apart)"
            print(f"prefect     {prefect.state.api_url}  {'ready' if prefect.running() else 'DOWN'}{shape}")
            return 0 if stack.healthy() else 1
    except StackError as exc:
        print(f"stack {args.verb}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
