"""Two "hosts" commit the same approved reviews: exactly once, counted at the side effect.

Each host is a process group of its own with its own PREFECT_HOME and result storage (so no file
lock and no ledger file is shared); the only thing the two share is the Prefect API, as two
machines would. Every action appends one line to a shared file with O_APPEND.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import net_hosts
import pytest
from gate_helpers import run_cli, serving_deployments, wait_until_waiting
from gated_flows import new_flow_run_id
from http_relay import counting_relay
from multi_host_worker import HANG_MID_ACTION, HostAppend
from net_hosts import NetworkHost
from prefect.client.orchestration import get_client
from prefect.states import Scheduled
from stack_helpers import StackPrefect, running_stack_or_skip

from prefect_review_gate.gates import Outcome, ReviewPolicy, ReviewVerdict, content_hash
from prefect_review_gate.gates.commit_log import review_prefix
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest
from prefect_review_gate.gates.reviews import decide
from prefect_review_gate.gates.store_client import open_store

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

TESTS = Path(__file__).parent
WAIT = 120.0


def _host_env(root: Path, name: str, **extra: str) -> dict[str, str]:
    """A host's environment: the session's Prefect API, and a home and result storage of its own."""
    from prefect.settings import PREFECT_API_URL

    home = root / f"host-{name}"
    return {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p),
        "REVIEW_GATE_TEST_HOST": name,
        **extra,
    }


# Root can give each host a host name of its own (a UTS namespace), as two machines have: a holder on
# another host is then never presumed dead, only waited for.
CAN_NAME_HOSTS = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare") is not None


def _start_worker(
    root: Path,
    name: str,
    verdicts: Path,
    seed: int,
    own_host_name: bool = False,
    network_host: NetworkHost | None = None,
    **extra: str,
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "multi_host_worker", str(verdicts), str(seed)]
    if network_host is not None:
        command = network_host.command(command)
    elif own_host_name:
        command = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', f"rg-host-{name}", *command]
    return subprocess.Popen(
        command,
        env=_host_env(root, name, **extra),
        cwd=TESTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own: a host that can be killed whole
    )


async def _approved(out: Path, line: str, delay: float = 0.2) -> ReviewVerdict:
    actions = [HostAppend(path=str(out), line=line, delay=delay)]
    return ReviewVerdict(
        review_id=uuid.uuid4().hex[:12],
        outcome=Outcome.APPROVED,
        content_hash=content_hash(actions),
        actions=actions,
        flow_run_id=await new_flow_run_id(),
    )


def _write_verdicts(path: Path, verdicts: list[ReviewVerdict]) -> Path:
    path.write_text(json.dumps([v.model_dump(mode="json") for v in verdicts]), encoding="utf-8")
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _results(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "own_host_names",
    [
        False,
        pytest.param(True, marks=pytest.mark.skipif(not CAN_NAME_HOSTS, reason="needs root and unshare")),
    ],
    ids=["one-host-name", "two-host-names"],
)
async def test_two_hosts_racing_over_50_approved_reviews_run_each_action_once(
    tmp_path: Path, own_host_names: bool
) -> None:
    out = tmp_path / "side-effects.log"
    verdicts = [await _approved(out, f"review-{n:02d}") for n in range(50)]
    path = _write_verdicts(tmp_path / "verdicts.json", verdicts)

    hosts = [_start_worker(tmp_path, name, path, seed, own_host_names) for name, seed in (("a", 1), ("b", 2))]
    outputs = [await asyncio.to_thread(h.communicate, timeout=WAIT) for h in hosts]

    assert [h.returncode for h in hosts] == [0, 0], [err[-2000:] for _, err in outputs]
    results = [_results(stdout) for stdout, _ in outputs]
    assert all(len(r) == 50 for r in results)
    assert [r for host in results for r in host if "error" in r] == []
    lines = _lines(out)
    counts = Counter(line.split()[0] for line in lines)
    assert counts == Counter({f"review-{n:02d}": 1 for n in range(50)})  # each action ran exactly once
    # Every review was committed by one host and replayed by the other.
    replayed = Counter(r["replayed"] for host in results for r in host)
    assert replayed == Counter({True: 50, False: 50})


@pytest.mark.skipif(not net_hosts.available(), reason="needs root and iproute2's ip netns")
async def test_two_hosts_on_their_own_networks_run_each_of_50_actions_once(tmp_path: Path) -> None:
    """Each worker in a network namespace of its own, reaching the API only over its veth."""
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "side-effects.log"
    verdicts = [await _approved(out, f"review-{n:02d}") for n in range(50)]
    path = _write_verdicts(tmp_path / "verdicts.json", verdicts)
    api = str(PREFECT_API_URL.value())
    with contextlib.ExitStack() as stack:
        hosts, relayed = [], []
        for number, (name, seed) in enumerate((("a", 1), ("b", 2)), start=1):
            host = stack.enter_context(net_hosts.network_host(name, number))
            assert not _reachable_from(host, api), "the host shares this machine's loopback"
            # The API on this machine's loopback, reached from the host through its veth.
            url, seen = stack.enter_context(counting_relay(api, listen=host.gateway))
            assert _reachable_from(host, url)
            relayed.append(seen)
            hosts.append(_start_worker(tmp_path, name, path, seed, network_host=host, PREFECT_API_URL=url))
        outputs = [await asyncio.to_thread(h.communicate, timeout=WAIT) for h in hosts]

    assert [h.returncode for h in hosts] == [0, 0], [err[-2000:] for _, err in outputs]
    assert all(len(seen) > 50 for seen in relayed)  # each host worked through its own way in
    results = [_results(stdout) for stdout, _ in outputs]
    assert [r for host in results for r in host if "error" in r] == []
    counts = Counter(line.split()[0] for line in _lines(out))
    assert counts == Counter({f"review-{n:02d}": 1 for n in range(50)})  # each action ran exactly once
    assert Counter(r["replayed"] for host in results for r in host) == Counter({True: 50, False: 50})
    assert {line.split()[1] for line in _lines(out)} <= {"a", "b"}


@pytest.fixture(scope="module")
def scaled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two API instances of one scaled-out Prefect server (one database, one Redis): their API URLs."""
    server = StackPrefect(running_stack_or_skip(), tmp_path_factory.mktemp("scaled"), api_workers=2)
    try:
        yield server.api_url, server.second_instance()
    finally:
        server.close()


@pytest.mark.stack
async def test_two_hosts_each_on_its_own_api_instance_run_each_of_50_actions_once(
    tmp_path: Path, scaled_server: tuple[str, str]
) -> None:
    """Behind a load balancer each host may reach another API process: the claim holds across them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    first, second = scaled_server
    out = tmp_path / "side-effects.log"
    with temporary_settings(updates={PREFECT_API_URL: first}):
        verdicts = [await _approved(out, f"review-{n:02d}") for n in range(50)]
    path = _write_verdicts(tmp_path / "verdicts.json", verdicts)
    hosts = [
        _start_worker(tmp_path, name, path, seed, PREFECT_API_URL=api)
        for name, seed, api in (("a", 1, first), ("b", 2, second))
    ]
    outputs = [await asyncio.to_thread(h.communicate, timeout=WAIT) for h in hosts]

    assert [h.returncode for h in hosts] == [0, 0], [err[-2000:] for _, err in outputs]
    results = [_results(stdout) for stdout, _ in outputs]
    assert [r for host in results for r in host if "error" in r] == []
    counts = Counter(line.split()[0] for line in _lines(out))
    assert counts == Counter({f"review-{n:02d}": 1 for n in range(50)})  # each action ran exactly once
    assert Counter(r["replayed"] for host in results for r in host) == Counter({True: 50, False: 50})
    assert {line.split()[1] for line in _lines(out)} == {"a", "b"}  # both hosts committed some


def _reachable_from(host: NetworkHost, url: str) -> bool:
    """Whether a process on `host` can open a connection to `url`'s address and port."""
    parts = urlsplit(url)
    probe = f"import socket; socket.create_connection(({parts.hostname!r}, {parts.port}), timeout=2)"
    return subprocess.run(host.command([sys.executable, "-c", probe]), capture_output=True).returncode == 0


async def _save_review(verdict: ReviewVerdict) -> None:
    """The review's record, as `request_review` leaves it, so that `review-gate commits` finds the run."""
    now = datetime.now(UTC)
    assert verdict.flow_run_id is not None
    request = ReviewRequest(
        id=verdict.review_id,
        flow_run_id=verdict.flow_run_id,
        requester="agent:test",
        actions=[a.model_dump(mode="json") for a in verdict.actions],
        content_hash=verdict.content_hash,
        policy=ReviewPolicy.model_validate({"reviewers": ["alice"], "timeout": 600}),
        created_at=now,
        deadline=now + timedelta(minutes=10),
    )
    async with open_store() as store:
        await store.save(ReviewRecord(request=request, updated_at=now))


async def test_a_host_killed_mid_action_leaves_the_intent_until_a_person_resolves_it(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value())
    out = tmp_path / "side-effects.log"
    verdict = await _approved(out, "killed-mid-action", delay=0.0)
    await _save_review(verdict)
    path = _write_verdicts(tmp_path / "verdicts.json", [verdict])

    a = _start_worker(tmp_path, "a", path, 1, **{HANG_MID_ACTION: "1"})
    deadline = asyncio.get_running_loop().time() + WAIT
    while not _lines(out):
        assert a.poll() is None, a.communicate()
        assert asyncio.get_running_loop().time() < deadline, "host a never reached its action"
        await asyncio.sleep(0.1)
    os.killpg(a.pid, signal.SIGKILL)  # kill -9 the whole host in the middle of the action
    a.wait(timeout=30)

    for _ in range(2):  # the other host never runs it: the intent waits for a person
        b = _start_worker(tmp_path, "b", path, 2)
        stdout, stderr = await asyncio.to_thread(b.communicate, timeout=WAIT)
        [result] = _results(stdout)
        assert result["error"] == "CommitInterrupted", (result, stderr[-2000:])
        assert "outcome was never recorded" in result["message"]
        assert "review-gate commits resolve" in result["message"]
    assert _lines(out) == ["killed-mid-action a"]

    status, shown, _ = await run_cli("commits", "show", verdict.review_id, api=api)
    assert status == 0 and "interrupted or running: attempt 0" in shown, shown

    status, said, err = await run_cli(
        "commits",
        "resolve",
        verdict.review_id,
        "--as",
        "alice",
        "--ran",
        "--reason",
        "line is in the log",
        api=api,
    )
    assert status == 0, err
    assert "ran, says alice (line is in the log)" in said
    status, _, err = await run_cli(
        "commits", "resolve", verdict.review_id, "--as", "bob", "--did-not-run", api=api
    )
    assert status == 1 and "no interrupted action" in err  # settled once, by one person

    b = _start_worker(tmp_path, "b", path, 2)
    stdout, _ = await asyncio.to_thread(b.communicate, timeout=WAIT)
    [result] = _results(stdout)
    assert result == {"review_id": verdict.review_id, "replayed": True}
    assert _lines(out) == ["killed-mid-action a"]
    status, shown, _ = await run_cli("commits", "show", verdict.review_id, api=api)
    assert "resolved as run by alice (line is in the log)" in shown


@pytest.mark.skipif(not CAN_NAME_HOSTS, reason="needs root and unshare for a second host name")
async def test_a_holder_on_another_host_is_waited_for_then_refused_never_run_again(tmp_path: Path) -> None:
    out = tmp_path / "side-effects.log"
    verdict = await _approved(out, "held-on-a", delay=0.0)
    path = _write_verdicts(tmp_path / "verdicts.json", [verdict])
    a = _start_worker(tmp_path, "a", path, 1, True, **{HANG_MID_ACTION: "1"})
    try:
        while not _lines(out):
            assert a.poll() is None, a.communicate()
            await asyncio.sleep(0.1)
        # Host b cannot see host a's processes: a is alive or dead for all it knows. It waits, then refuses.
        b = _start_worker(tmp_path, "b", path, 2, True, REVIEW_GATE_COMMIT_WAIT_SECONDS="3")
        stdout, stderr = await asyncio.to_thread(b.communicate, timeout=WAIT)
        [result] = _results(stdout)
        assert result["error"] == "CommitInterrupted", (result, stderr[-2000:])
        assert "is held by process" in result["message"] and "on rg-host-a" in result["message"]
        assert "no outcome after 3 s" in result["message"]
        assert _lines(out) == ["held-on-a a"]
    finally:
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=30)


async def test_an_interrupted_action_resolved_as_not_run_runs_on_the_next_commit(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value())
    out = tmp_path / "side-effects.log"
    verdict = await _approved(out, "never-happened", delay=0.0)
    await _save_review(verdict)
    path = _write_verdicts(tmp_path / "verdicts.json", [verdict])
    a = _start_worker(tmp_path, "a", path, 1, **{HANG_MID_ACTION: "1"})
    while not _lines(out):
        await asyncio.sleep(0.1)
    os.killpg(a.pid, signal.SIGKILL)
    a.wait(timeout=30)
    out.unlink()  # the person checks: it did not happen (here, its line is taken back)

    status, _, err = await run_cli(
        "commits",
        "resolve",
        verdict.review_id,
        "--as",
        "alice",
        "--did-not-run",
        "--reason",
        "not in the log",
        api=api,
    )
    assert status == 0, err
    b = _start_worker(tmp_path, "b", path, 2)
    stdout, _ = await asyncio.to_thread(b.communicate, timeout=WAIT)
    assert _results(stdout) == [{"review_id": verdict.review_id, "replayed": False}]
    assert _lines(out) == ["never-happened b"]


async def _final_state(run_id: UUID, timeout: float = WAIT) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    async with get_client() as client:
        while asyncio.get_running_loop().time() < deadline:
            run = await client.read_flow_run(run_id)
            if run.state is not None and run.state.is_final():
                return run.state
            await asyncio.sleep(0.3)
    raise AssertionError(f"run {run_id} did not end")


async def test_a_second_host_executing_a_committed_run_again_does_not_commit_again(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    deployment = "durable-append/host-a"
    log = tmp_path / "runner-a.log"
    host_a = _host_env(tmp_path, "a", PREFECT_RUNNER_POLL_FREQUENCY="1")
    code = "import gated_flows; gated_flows.serve_as('host-a')"
    with serving_deployments(code, [deployment], host_a, log, cwd=TESTS.parent, wait=WAIT):
        async with get_client() as client:
            found = await client.read_deployment_by_name(deployment)
            run = await client.create_flow_run_from_deployment(
                found.id,
                parameters={
                    "workdir": str(workdir),
                    "line": "committed-on-a",
                    "policy": {"reviewers": ["alice"], "timeout": 600},
                    "crash": "exit_after_commit",
                },
            )
        pending = await wait_until_waiting("committed-on-a", timeout=WAIT)
        await decide(pending.record.request.id, Outcome.APPROVED, "alice")
        state = await _final_state(run.id)  # host a committed, then its process died
        assert state.is_crashed(), state
        assert _lines(workdir / "out.txt") == ["committed-on-a"]

    async with get_client() as client:  # an operator retries the run, on another host
        await client.set_flow_run_state(run.id, Scheduled(name="AwaitingRetry"), force=True)
    host_b = _host_env(tmp_path, "b")
    executed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "prefect", "flow-run", "execute", str(run.id)],
        env=host_b,
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )

    state = await _final_state(run.id)
    assert state.is_completed(), (state, executed.stdout[-3000:], executed.stderr[-3000:])
    assert _lines(workdir / "out.txt") == ["committed-on-a"]  # host b got the recorded outcome
    # One claim, one outcome: host b's commit read them and ran nothing (its result is in b's storage).
    async with get_client() as client:
        inputs = await client.filter_flow_run_input(
            run.id, review_prefix(pending.record.request.id), 100, set()
        )
    assert sorted(re.sub(r"^.*-[0-9a-f]{16}-", "", i.key) for i in inputs) == ["claim-0", "outcome"]


async def test_resolving_an_action_whose_holder_still_runs_here_is_refused(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value())
    out = tmp_path / "side-effects.log"
    verdict = await _approved(out, "still-running", delay=0.0)
    await _save_review(verdict)
    path = _write_verdicts(tmp_path / "verdicts.json", [verdict])
    a = _start_worker(tmp_path, "a", path, 1, **{HANG_MID_ACTION: "1"})
    try:
        while not _lines(out):
            assert a.poll() is None, a.communicate()
            await asyncio.sleep(0.1)
        status, shown, _ = await run_cli("commits", "show", verdict.review_id, "--json", api=api)
        [action] = json.loads(shown)["actions"]
        assert status == 0 and action["interrupted"] and action["kind"] == "test.host_append"
        status, _, err = await run_cli(
            "commits", "resolve", verdict.review_id, "--as", "alice", "--ran", api=api
        )
        assert status == 1 and "still being committed by process" in err
    finally:
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=30)
