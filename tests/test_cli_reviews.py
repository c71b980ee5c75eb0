"""`review-gate pending|show|approve|reject|expire` against a real Prefect API and real paused runs.

Decisions go through a new process, as a reviewer runs them; reading commands also run in-process
(`main` in a worker thread, since it starts its own event loop) to check their output closely.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import pytest
from gate_helpers import (
    CLOCK_SHIFT,
    IMPORT_LOG,
    imported,
    prefect_modules,
    run_cli,
    start_gated_write,
    wait_until_waiting,
)
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_UI_URL

from prefect_review_gate.gates import ReviewPolicy, ReviewRecord, ReviewRequest
from prefect_review_gate.gates.cli import main
from prefect_review_gate.gates.review_text import pending_table, review_details
from prefect_review_gate.gates.reviews import PendingReview, get_review_status, sweep_reviews
from prefect_review_gate.validators import Finding, Severity

pytestmark = pytest.mark.anyio

POLICY: dict[str, Any] = {"reviewers": ["alice", "bob"], "timeout": 600}


async def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = await anyio.to_thread.run_sync(main, list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


async def test_pending_and_show_describe_the_review_then_reject_ends_it_rejected(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start_gated_write(tmp_path, "pending-line", POLICY, with_findings=True)
    review_id = (await wait_until_waiting("pending-line")).record.request.id
    request = (await get_review_status(review_id)).record.request

    status, out, _ = await in_process(capsys, "pending")
    assert status == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "ID",
        "AGE",
        "REQUESTER",
        "FLOW",
        "RUN",
        "ACTIONS",
        "FINDINGS",
        "APPROVALS",
        "DUE",
        "WAITING",
    ]
    [row] = [r for r in rows if r.startswith(review_id)]
    cells = [review_id, r"\d+[sm]", "agent:test", re.escape(request.flow_run_name), "1", r"2 \(1 block\)"]
    cells += ["0/1", "in 9m", "yes"]
    assert re.fullmatch(r"\s+".join(cells), row), row
    # Columns line up: every cell of the row starts where its header does.
    assert row.index("agent:test") == header.index("REQUESTER")
    assert row.index("0/1") == header.index("APPROVALS")

    status, out, _ = await in_process(capsys, "pending", "--json")
    [entry] = [e for e in json.loads(out)["reviews"] if e["id"] == review_id]
    assert entry["requester"] == "agent:test" and entry["waiting"] is True
    assert (entry["actions"], entry["findings"], entry["blocking_findings"]) == (1, 2, 1)
    assert (entry["approvals"], entry["approvals_required"]) == ([], 1)

    status, out, _ = await in_process(capsys, "show", review_id)
    assert status == 0
    assert f"Review {review_id}: open, waiting for a decision" in out
    assert "1. Append a line to a file (test.write_line)" in out and '- line: "pending-line"' in out
    assert "block  unsupported_number: 400% is in no source [/actions/0/line]" in out
    assert "sources say (pricing): Revenue grew 40% year over year." in out
    assert "1 approval from: alice, bob; requester may not decide" in out
    assert "deadline" in out and "Votes (0/1 approvals)" in out
    assert f"review-gate approve {review_id} --as NAME [--comment TEXT] --override-reason TEXT" in out
    if PREFECT_UI_URL.value():
        assert f"/v2/runs/flow-run/{request.flow_run_id}" in out  # the UI that shows the review

    status, out, _ = await in_process(capsys, "show", review_id, "--json")
    document = json.loads(out)
    assert document["review"]["request"]["id"] == review_id
    assert document["waiting"] is True and document["review"]["status"] == "open"

    code, out, err = await run_cli(
        "reject", review_id, "--as", "bob", "--reason", "the 400% figure is invented", api=prefect_api
    )
    assert code == 0, err
    assert f"Rejected review {review_id} as bob" in out
    state = await run.final_state()
    assert state.type is StateType.CANCELLED and state.name == "Rejected"
    assert "the 400% figure is invented" in (state.message or "")
    assert run.written() == []

    status, out, _ = await in_process(capsys, "show", review_id)
    assert f"Review {review_id}: rejected" in out
    assert "bob: rejected, name as typed (Prefect UI or CLI)" in out and "To decide" not in out

    # A decided review leaves the listing; a new process lists without importing Prefect at all.
    code, out, err = await run_cli("pending", "--json", api=prefect_api, extra_env=IMPORT_LOG)
    assert code == 0, err
    assert review_id not in out
    assert "httpx" in imported(err) and prefect_modules(err) == []
    # So does `show`, building the run's link as Prefect would for a self-hosted server.
    environment = {**IMPORT_LOG, "PREFECT_UI_URL": ""}
    code, out, err = await run_cli("show", review_id, api=prefect_api, extra_env=environment)
    assert code == 0, err
    assert f"Review {review_id}: rejected" in out
    assert prefect_api.removesuffix("/api") + f"/v2/runs/flow-run/{request.flow_run_id}" in out
    assert "httpx" in imported(err) and prefect_modules(err) == []


async def test_approve_commits_once_and_a_decided_review_is_refused(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start_gated_write(tmp_path, "approve-line", POLICY)
    review_id = (await wait_until_waiting("approve-line")).record.request.id

    code, out, err = await run_cli(
        "approve", review_id, "--as", "alice", "--comment", "fine", api=prefect_api
    )
    assert code == 0, err
    assert f"Approved review {review_id} as alice (1/1 approvals)" in out
    state = await run.final_state()
    assert state.is_completed(), state
    assert run.written() == ["approve-line"]

    code, out, err = await run_cli("approve", review_id, "--as", "bob", api=prefect_api)
    assert code == 1 and out == ""
    assert f"review {review_id} is already decided: approved" in one_line(err)
    code, out, err = await in_process(capsys, "reject", review_id, "--as", "bob", "--reason", "too late")
    assert code == 1 and out == ""
    assert f"review {review_id} is already decided: approved" in one_line(err)
    assert run.written() == ["approve-line"]


async def test_outsiders_and_the_requester_are_refused_and_the_run_keeps_waiting(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start_gated_write(tmp_path, "guarded-line", {**POLICY, "reviewers": ["alice", "agent:test"]})
    review_id = (await wait_until_waiting("guarded-line")).record.request.id

    code, _, err = await run_cli("approve", review_id, "--as", "mallory", api=prefect_api)
    assert code == 1
    assert (
        f"mallory is not a reviewer this policy lists; who may decide review {review_id}: alice, agent:test"
        in one_line(err)
    )
    code, _, err = await in_process(capsys, "approve", review_id, "--as", "agent:test")
    assert code == 1 and "the requester may not decide its own request" in one_line(err)

    status = await get_review_status(review_id)
    assert status.waiting and status.record.is_open and status.record.votes == []
    code, _, err = await run_cli("approve", review_id, "--as", "alice", api=prefect_api)
    assert code == 0, err
    assert (await run.final_state()).is_completed()
    assert run.written() == ["guarded-line"]


async def test_blocking_findings_need_an_override_reason(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start_gated_write(tmp_path, "override-line", POLICY, with_findings=True)
    review_id = (await wait_until_waiting("override-line")).record.request.id

    code, _, err = await run_cli("approve", review_id, "--as", "alice", api=prefect_api)
    assert code == 2
    assert "has 1 blocking finding(s): approving needs an override reason" in one_line(err)
    assert (await get_review_status(review_id)).waiting

    code, _, err = await run_cli(
        "approve", review_id, "--as", "alice", "--override-reason", "figure checked by phone", api=prefect_api
    )
    assert code == 0, err
    assert (await run.final_state()).is_completed()
    assert run.written() == ["override-line"]
    # A new process does not know the flow's action kind: it still shows the action's fields.
    code, out, err = await run_cli("show", review_id, api=prefect_api)
    assert code == 0, err
    assert "1. test.write_line (kind not imported here; fields as given)" in out
    assert '- line: "override-line"' in out
    assert (
        "alice: approved, name as typed (Prefect UI or CLI)" in out
        and 'override reason: "figure checked by phone"' in out
    )


async def test_quorum_shows_approvals_so_far_and_refuses_the_same_reviewer_twice(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = {**POLICY, "reviewers": ["alice", "bob", "carol"], "approvals_required": 2}
    run = start_gated_write(tmp_path, "quorum-line", policy)
    review_id = (await wait_until_waiting("quorum-line")).record.request.id

    code, out, err = await run_cli("approve", review_id, "--as", "alice", api=prefect_api)
    assert code == 0, err
    assert "(1/2 approvals)" in out and "It needs 1 more approval(s), from: bob, carol." in out
    await wait_until_waiting("quorum-line", approvals=1)
    _, out, _ = await in_process(capsys, "pending")
    [row] = [r for r in out.splitlines() if r.startswith(review_id)]
    assert " 1/2 " in row

    code, _, err = await in_process(capsys, "approve", review_id, "--as", "alice")
    assert code == 1 and f"review {review_id}: alice already approved" in one_line(err)
    code, _, err = await run_cli("approve", review_id, "--as", "carol", api=prefect_api)
    assert code == 0, err
    assert (await run.final_state()).is_completed()
    assert run.written() == ["quorum-line"]


async def test_expire_closes_a_waiting_review_past_its_deadline(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Opened "an hour ago" with ten minutes to decide: overdue by real time, while the run's own
    # deadline timer (ten real minutes away) has not fired.
    CLOCK_SHIFT["expiring-line"] = -timedelta(hours=1)
    run = start_gated_write(tmp_path, "expiring-line", POLICY)
    review_id = (await wait_until_waiting("expiring-line")).record.request.id
    CLOCK_SHIFT["expiring-line"] = timedelta(0)

    _, out, _ = await in_process(capsys, "pending")
    [row] = [r for r in out.splitlines() if r.startswith(review_id)]
    assert "overdue 49m" in row or "overdue 50m" in row
    assert "past the deadline: `review-gate expire` closes them." in out

    # The API is shared by the whole session: assert on this review, not on the counts.
    code, out, err = await run_cli("expire", api=prefect_api)
    assert code == 0, err
    assert out.startswith("Expired ") and "review(s) past their deadline" in out
    assert f"  {review_id}  agent:test  flow run " in out
    state = await run.final_state()
    assert state.type is StateType.CANCELLED and state.name == "Expired", state
    assert run.written() == []

    code, out, _ = await in_process(capsys, "expire")
    assert code == 0 and review_id not in out


async def test_a_run_that_no_longer_waits_refuses_decisions(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start_gated_write(tmp_path, "crashed-line", POLICY)
    review_id = (await wait_until_waiting("crashed-line")).record.request.id
    run.task.cancel()  # the process running the flow goes away: Prefect marks the run Crashed
    with contextlib.suppress(BaseException):
        await run.task
    status = await get_review_status(review_id)
    assert status.record.is_open and not status.waiting and status.run_state == "Crashed"

    _, out, _ = await in_process(capsys, "pending")
    [row] = [r for r in out.splitlines() if r.startswith(review_id)]
    assert row.endswith("no (Crashed)")
    code, out, err = await run_cli("approve", review_id, "--as", "alice", api=prefect_api)
    assert code == 1 and out == ""
    assert "can no longer take effect: its flow run ended Crashed" in one_line(err)
    assert run.written() == []

    # Nobody can decide it any more: the sweep closes it, once, with a state that says why.
    code, out, err = await run_cli("expire", api=prefect_api)
    assert code == 0, err
    assert (
        "review(s) as abandoned: their flow run ended or is gone" in out
        and f"  {review_id}  run Crashed" in out
    )
    status = await get_review_status(review_id)
    assert status.record.status.value == "abandoned" and "ended Crashed" in status.record.note
    _, out, _ = await in_process(capsys, "pending")
    assert review_id not in out
    _, out, _ = await in_process(capsys, "expire")
    assert review_id not in out


async def test_unknown_ids_and_bad_usage_are_exit_two(
    prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = await in_process(capsys, "show", "no-such-id")
    assert status == 2 and out == ""
    assert err == (
        "review-gate show: no review with id 'no-such-id'; `review-gate pending` lists open reviews\n"
    )
    code, _, err = await in_process(capsys, "approve", "no-such-id", "--as", "alice")
    assert code == 2 and "no review with id 'no-such-id'" in one_line(err)

    status, _, err = await in_process(capsys, "approve", "no-such-id", "--as", "  ")
    assert status == 2 and "--as must not be empty" in one_line(err)
    with pytest.raises(SystemExit) as exited:
        main(["reject", "no-such-id", "--as", "bob"])
    assert exited.value.code == 2
    assert "the following arguments are required: --reason" in one_line(capsys.readouterr().err)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_or_unset_api_is_one_line_naming_prefect_api_url() -> None:
    code, out, err = await run_cli("pending", api=f"http://127.0.0.1:{_closed_port()}/api")
    assert code == 2 and out == ""
    assert "cannot reach the Prefect API at http://127.0.0.1:" in one_line(err)
    assert "(PREFECT_API_URL)" in err

    code, out, err = await run_cli("approve", "abc", "--as", "alice", api=None)
    assert code == 2 and out == ""
    assert "PREFECT_API_URL is not set" in one_line(err)


def test_text_from_agents_cannot_repaint_or_forge_lines_in_the_terminal() -> None:
    request = ReviewRequest(
        id="abc123",
        flow_run_id=uuid4(),
        flow_run_name="run\nabc999  1m  agent:fake",
        requester="agent:\x1b[2Jquiet\rX",
        actions=[{"kind": "test.unknown", "to": "ceo@example.com\u202emoc.live"}],
        findings=[Finding(code="c", severity=Severity.BLOCK, message="two\nlines\x07")],
        content_hash="0" * 64,
        policy=ReviewPolicy(reviewers=["alice"]),
        created_at=datetime.now(UTC),
        deadline=datetime.now(UTC) + timedelta(hours=1),
    )
    item = PendingReview(ReviewRecord(request=request, updated_at=datetime.now(UTC)), waiting=True)
    table = pending_table([item], datetime.now(UTC))
    details = review_details(item, datetime.now(UTC), None)
    for text in (table, details):
        assert not any(c in text for c in "\x1b\r\x07\u202e"), text
    assert "agent:\\x1b[2Jquiet X" in table
    assert len(table.splitlines()) == 4  # header, one row, blank, summary: no forged row
    assert "run abc999 1m agent:fake" in table
    assert "two lines\\x07" in details and "\\u202e" in details


async def test_a_run_whose_process_died_while_paused_is_not_said_to_commit(
    prefect_api: str, tmp_path: Path
) -> None:
    # The flow pauses in a process of its own, which is then killed: Prefect still shows it Paused.
    out = tmp_path / "side-effects.txt"
    code = (
        "import asyncio, gate_helpers; "
        f"asyncio.run(gate_helpers.gated_write({str(out)!r}, 'orphan-line', {POLICY!r}))"
    )
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(Path(__file__).parent)}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        review = (await wait_until_waiting("orphan-line")).record
    finally:
        process.kill()
        process.wait(15)

    code_, out_text, err = await run_cli("approve", review.request.id, "--as", "alice", api=prefect_api)
    assert code_ == 0, err
    assert "the run has not taken the decision up within 10 s; its process may have stopped" in out_text
    assert "(1/1 approvals)" in out_text and "commits" not in out_text
    assert not out.exists()

    # Nothing will decide it now: well past its deadline the sweep closes it as abandoned.
    later = review.request.deadline + timedelta(minutes=16)
    report = await sweep_reviews(later)
    assert review.request.id in report.abandoned
    status = await get_review_status(review.request.id)
    assert status.record.status.value == "abandoned" and "past the deadline" in status.record.note
    assert not out.exists()
