"""prefect.yaml for real: `prefect deploy --all` to a fresh `prefect server start`, a process worker,
a triggered run that suspends at the gate with no process held, an approval from the CLI, one publish.

Everything runs as a user would run it: the Prefect and review-gate CLIs in child processes. The
model is the Messages fake, in this process; the worker's flow runs reach it by ANTHROPIC_BASE_URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic_fake import OFFLINE_KEY, MessagesFake, Reply, recorded

from prefect_review_gate.flows.common.local_server import LocalPrefectServer

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
DEPLOYMENT = "forge-proposal/forge-weekly"
WAIT = 90.0


class Stack:
    def __init__(self, server: LocalPrefectServer, fake: MessagesFake, env: dict[str, str]) -> None:
        self.server, self.fake, self.env = server, fake, env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args), env=self.env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{args} exited {result.returncode}: {result.stdout}\n{result.stderr}")
        return result

    def run_state(self, run_id: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.server.api_url}/flow_runs/{run_id}", timeout=10) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data.get("state") or {}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with (
        LocalPrefectServer(tmp_path / "prefect") as server,
        MessagesFake(Reply.message(recorded())) as fake,
    ):
        env = server.env()
        env.update(
            {
                "PWD": str(REPO),  # what `prefect deploy` resolves {{ $PWD }} from, as a shell sets it
                "ANTHROPIC_BASE_URL": fake.base_url,
                "ANTHROPIC_API_KEY": OFFLINE_KEY,
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_LOGGING_LEVEL": "INFO",
                "NO_COLOR": "1",
            }
        )
        yield Stack(server, fake, env)


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (zombies not counted), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in {"Z", "X"}:
            found.append(int(stat.parent.name))
    return found


def _poll(what: str, probe: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_prefect_deploy_all_then_a_worker_run_suspends_and_publishes_once_on_approval(
    stack: Stack, tmp_path: Path
) -> None:
    with urllib.request.urlopen(stack.server.ui_url, timeout=10) as page:  # the UI, served offline
        assert page.status == 200 and b"<html" in page.read().lower()
    # ...and it calls this server's API, not the default 127.0.0.1:4200 (another server, or nothing).
    with urllib.request.urlopen(f"{stack.server.ui_url}/ui-settings", timeout=10) as page:
        assert json.loads(page.read())["api_url"] == stack.server.api_url
    stack.cli(str(BIN / "prefect"), "work-pool", "create", "review-gate-process", "--type", "process")
    deployed = stack.cli(str(BIN / "prefect"), "--no-prompt", "deploy", "--all")
    assert DEPLOYMENT in deployed.stdout
    with urllib.request.urlopen(
        f"{stack.server.api_url}/deployments/name/{DEPLOYMENT}", timeout=10
    ) as response:
        deployment = json.loads(response.read())
    assert deployment["work_pool_name"] == "review-gate-process"
    assert {"forge", "review-gate"} <= set(deployment["tags"])
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 7 * * 1"]
    assert deployment["job_variables"]["working_dir"] == str(REPO)
    closer_url = f"{stack.server.api_url}/deployments/name/closer-deals/closer-weekdays"
    with urllib.request.urlopen(closer_url, timeout=10) as response:
        closer = json.loads(response.read())
    assert {"closer", "review-gate"} <= set(closer["tags"])
    assert [s["schedule"]["cron"] for s in closer["schedules"]] == ["0 7 * * 1-5"]
    assert closer["parameters"]["allowed_actions"] == ["crm.log_note", "email.send", "crm.update_deal"]
    assert closer["work_pool_name"] == "review-gate-process"
    with urllib.request.urlopen(
        f"{stack.server.api_url}/deployments/name/render-release/render-nightly", timeout=10
    ) as response:
        render = json.loads(response.read())
    assert {"render", "review-gate"} <= set(render["tags"])
    assert [s["schedule"]["cron"] for s in render["schedules"]] == ["0 2 * * *"]
    assert render["work_pool_name"] == "review-gate-process"
    assert render["parameters"]["reviewers"] == ["alice", "bob"]
    sweeper_url = f"{stack.server.api_url}/deployments/name/review-gate-expire-overdue/expire-overdue"
    with urllib.request.urlopen(sweeper_url, timeout=10) as response:
        sweeper = json.loads(response.read())
    assert [s["schedule"]["interval"] for s in sweeper["schedules"]] == [300.0]
    report_url = f"{stack.server.api_url}/deployments/name/review-gate-report/review-gate-report"
    with urllib.request.urlopen(report_url, timeout=10) as response:
        report = json.loads(response.read())
    assert [s["schedule"]["cron"] for s in report["schedules"]] == ["0 6 * * *"]

    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "review-gate-process"],
            env=stack.env,
            cwd=tmp_path,  # the deployment's working_dir, not the worker's, decides where runs run
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        published = tmp_path / "published"
        params = {"publish_dir": str(published), "client": "Brightwater (deploy test)"}
        started = stack.cli(
            str(BIN / "prefect"), "deployment", "run", DEPLOYMENT, "--params", json.dumps(params)
        )
        run_id = started.stdout.split("UUID:")[1].split()[0]

        def suspended() -> bool:
            state = stack.run_state(run_id)
            if state.get("type") in {"FAILED", "CRASHED", "COMPLETED", "CANCELLED"}:
                raise AssertionError(f"run ended early: {state}\n{worker_log.read_text(errors='replace')}")
            return state.get("name") == "Suspended"

        _poll("the run to suspend at the gate", suspended)
        # Suspended, not paused: the flow run's process is gone and the worker runs nothing.
        _poll("the flow run's process to exit", lambda: not _children(worker.pid), timeout=30)
        pending = json.loads(stack.cli(str(BIN / "review-gate"), "pending", "--json").stdout)["reviews"]
        [review] = [r for r in pending if r["flow_run_id"] == run_id]
        assert review["waiting"] and review["blocking_findings"] >= 4
        assert not published.exists()

        stack.cli(
            str(BIN / "review-gate"), "approve", review["id"], "--as", "alice",
            "--override-reason", "deploy test: fabrications accepted knowingly",
        )  # fmt: skip

        def completed() -> dict[str, Any] | None:
            state = stack.run_state(run_id)
            if state.get("type") in {"FAILED", "CRASHED", "CANCELLED"}:
                raise AssertionError(f"run ended {state}\n{worker_log.read_text(errors='replace')}")
            return state if state.get("type") == "COMPLETED" else None

        _poll("the resumed run to complete", completed)
        files = sorted(p.name for p in published.iterdir())
        assert files == ["brightwater-reviewed-agent-workflows.md"]
        # The body re-ran from the top after the resume; Claude's reply came back from its result.
        assert len(stack.fake.message_requests()) == 1
        assert json.loads(stack.cli(str(BIN / "review-gate"), "pending", "--json").stdout)["reviews"] == []
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
