"""The real stack on one machine, without containers: PostgreSQL 15, a Prefect server on it, and S3.

    scripts/stack.sh up        start what is not running yet, print the workers' settings
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
  (PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK), where flows persist results and the gate keeps its commit
  ledger. moto keeps objects in memory: restarting it loses them, so it is for tests and benchmarks;
  a deployment uses real S3 or MinIO (README, "Running on PostgreSQL and S3").

State lives in REVIEW_GATE_STACK_DIR (default `.stack/` at the repository's root): `stack.json` (what
runs, its ports, process ids and folders), `env` (the workers' settings as `export` lines) and the
logs `prefect.log` and `s3.log` (PostgreSQL's is `postgres.log` beside its cluster). `up`
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
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
    with log.open("ab") as out:
        process = subprocess.Popen(
            [server, "-H", "127.0.0.1", "-p", str(state.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_quiet_env(),
        )
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


# --- the Prefect server -----------------------------------------------------------------------------


@dataclass
class PrefectServerState:
    port: int
    home: str
    database_url: str = field(repr=False)
    pid: int | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


class PrefectServer:
    """`prefect server start` on a PostgreSQL database; `stop()` and `start()` again keep its port."""

    def __init__(self, state: PrefectServerState, log: Path) -> None:
        self.state, self.log = state, log

    @classmethod
    def create(cls, database_url: str, folder: Path, port: int | None = None) -> PrefectServer:
        home = folder / "prefect-home"
        home.mkdir(parents=True, exist_ok=True)
        state = PrefectServerState(port=port or free_port(), home=str(home), database_url=database_url)
        return cls(state, folder / "prefect.log")

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        return env | {
            "PREFECT_HOME": self.state.home,
            "PREFECT_API_DATABASE_CONNECTION_URL": self.state.database_url,
            # The UI asks /ui-settings where the API is: the real port, not 4200.
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.state.port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
            "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        }

    def start(self) -> None:
        if self.running():
            return
        host, port = "127.0.0.1", str(self.state.port)
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", port]
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                command, env=self.environment(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.state.pid = process.pid
        try:
            _wait_until(self.healthy, "prefect server", process, self.log)
        except StackError:
            self.stop()
            raise

    def healthy(self) -> bool:
        return _http_ok(f"{self.state.api_url}/health")

    def running(self) -> bool:
        return _alive(self.state.pid) and self.healthy()

    def stop(self) -> None:
        stop_group(self.state.pid)
        self.state.pid = None


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

    def healthy(self) -> bool:
        postgres, store, prefect = self.components()
        return (
            postgres is not None
            and store is not None
            and prefect is not None
            and postgres_ready(postgres)
            and _alive(store.pid)
            and _http_ok(f"{store.endpoint}/moto-api/")
            and prefect.running()
            and self.env_file.exists()
        )

    def up(self) -> dict[str, str]:
        """Start the stack unless it runs already; the workers' settings."""
        if self.healthy():
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
            prefect = PrefectServer.create(postgres.url(), self.state_dir)
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
        if store is not None:
            stop_group(store.pid)
            stopped.append("s3 (moto)")
        if postgres is not None:
            stop_postgres(postgres)
            stopped.append("postgresql")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return stopped


@contextlib.contextmanager
def running_stack(state_dir: Path | None = None) -> Iterator[Stack]:
    """A stack of its own for the duration of a `with` (benchmarks): up, then down and deleted."""
    folder = state_dir or Path(tempfile.mkdtemp(prefix="review-gate-stack-"))
    stack = Stack(folder)
    try:
        stack.up()
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
        "--dir",
        type=Path,
        default=Path(os.environ.get("REVIEW_GATE_STACK_DIR", DEFAULT_STATE_DIR)),
        help="where the stack keeps its state (REVIEW_GATE_STACK_DIR; default .stack/)",
    )
    args = parser.parse_args(argv)
    stack = Stack(args.dir.resolve())
    try:
        if args.verb == "up":
            already = stack.healthy()
            settings = stack.up()
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
            print(f"prefect     {prefect.state.api_url}  {'ready' if prefect.running() else 'DOWN'}")
            return 0 if stack.healthy() else 1
    except StackError as exc:
        print(f"stack {args.verb}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
