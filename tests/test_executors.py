"""Executors belong to the flow that passes them to `commit`, never to the process.

Two agents served by one worker may both send e-mail, each its own way: here both run side by side
in one process against the real Prefect API, each paused at its gate, approved from outside, and
each e-mail goes out through its own flow's executor. Side effects are lines in real files.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any, Literal

import pytest
from gated_flows import new_flow_run_id
from prefect import flow

from prefect_review_gate.gates import (
    Action,
    Executors,
    Outcome,
    ReviewPolicy,
    ReviewVerdict,
    SendEmail,
    commit,
    content_hash,
    request_review,
)
from prefect_review_gate.gates.reviews import decide, list_pending
from prefect_review_gate.validators import ReviewGateError

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

POLICY: dict[str, Any] = {"reviewers": ["alice", "bob"], "timeout": 600}


def mailer(name: str, outbox: Path) -> Executors:
    """One agent's e-mail sink: it writes what it sends, and who sent it, to its own outbox."""
    executors = Executors()

    @executors.register("email.send")
    def send(action: SendEmail, idempotency_key: str) -> dict[str, str]:
        with outbox.open("a", encoding="utf-8") as sent:
            sent.write(f"{name}: {', '.join(action.to)}: {action.subject}\n")
        return {"sent_by": name}

    return executors


async def _send_after_review(name: str, outbox: str, subject: str) -> Any:
    actions = [SendEmail(to=[f"{name}@client.example"], subject=subject, body="Hello.")]
    verdict = await request_review(
        actions, policy=ReviewPolicy.model_validate(POLICY), requester=f"agent:{name}"
    )
    report = await commit(verdict, actions, executors=mailer(name, Path(outbox)))
    return report.model_dump(mode="json")


@flow(name="executors-proposal-agent")
async def proposal_agent(outbox: str, subject: str) -> Any:
    return await _send_after_review("proposal", outbox, subject)


@flow(name="executors-crm-agent")
async def crm_agent(outbox: str, subject: str) -> Any:
    return await _send_after_review("crm", outbox, subject)


async def _approve_when_waiting(subject: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for pending in await list_pending():
            if pending.waiting and any(a.get("subject") == subject for a in pending.record.request.actions):
                await decide(pending.record.request.id, Outcome.APPROVED, "alice")
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no paused review asks to send {subject!r}")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


async def test_two_flows_with_their_own_email_send_run_side_by_side_in_one_process(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    proposal_out, crm_out = tmp_path / "proposal-outbox.txt", tmp_path / "crm-outbox.txt"
    runs = [
        asyncio.create_task(proposal_agent(str(proposal_out), f"proposal {tag}", return_state=True)),
        asyncio.create_task(crm_agent(str(crm_out), f"deal {tag}", return_state=True)),
    ]

    await asyncio.gather(_approve_when_waiting(f"proposal {tag}"), _approve_when_waiting(f"deal {tag}"))
    states = await asyncio.wait_for(asyncio.gather(*runs), 60)

    assert all(state.is_completed() for state in states), states
    reports = [await state.result() for state in states]
    assert [r["outcomes"][0]["result"] for r in reports] == [{"sent_by": "proposal"}, {"sent_by": "crm"}]
    assert _lines(proposal_out) == [f"proposal: proposal@client.example: proposal {tag}"]
    assert _lines(crm_out) == [f"crm: crm@client.example: deal {tag}"]


class Note(Action):
    """Appends `line` to `path`."""

    kind: Literal["test.note"] = "test.note"
    path: str
    line: str


def _note(action: Note, idempotency_key: str) -> dict[str, str]:
    with open(action.path, "a", encoding="utf-8") as notes:
        notes.write(action.line + "\n")
    return {"written": action.line}


async def _approved(actions: list[Action]) -> ReviewVerdict:
    return ReviewVerdict(
        review_id=uuid.uuid4().hex[:12],
        outcome=Outcome.APPROVED,
        content_hash=content_hash(actions),
        actions=actions,
        flow_run_id=await new_flow_run_id(),
    )


async def test_a_missing_executor_fails_before_the_first_action_runs(tmp_path: Path) -> None:
    notes, outbox = tmp_path / "notes.txt", tmp_path / "outbox.txt"
    verdict = await _approved(
        [
            Note(path=str(notes), line="first"),
            SendEmail(to=["ana@client.example"], subject="Hi", body="Hello."),
        ]
    )

    with pytest.raises(
        ReviewGateError, match=r"no executor is given for 'email\.send'; nothing was committed"
    ):
        await commit(verdict, executors=Executors({"test.note": _note}))
    assert _lines(notes) == []  # the first action has an executor, and still did not run

    # Nothing was recorded either: with every executor given, both run, each once.
    report = await commit(verdict, executors={"test.note": _note, **mailer("agent", outbox)})
    assert [o.replayed for o in report.outcomes] == [False, False]
    assert (_lines(notes), _lines(outbox)) == (["first"], ["agent: ana@client.example: Hi"])


def test_one_registry_holds_one_executor_per_kind() -> None:
    executors = Executors({"test.note": _note})
    executors.add("test.note", _note)  # the same function again changes nothing

    with pytest.raises(ReviewGateError, match=r"already have one for 'test\.note'"):

        @executors.register("test.note")
        def another(action: Note, idempotency_key: str) -> None: ...

    assert dict(executors) == {"test.note": _note}
    assert Executors() == {} and "test.note" not in Executors()  # a new registry starts empty
