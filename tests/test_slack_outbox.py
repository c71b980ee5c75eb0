"""The server's decision queue on its own: a real SQLite file, concurrent adds, one entry per person."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.slack.delivery import prefect_unreachable
from prefect_review_gate.gates.slack.outbox import EntryState, NewEntry, Outbox

pytestmark = pytest.mark.anyio


def click(user: str, outcome: str = "approved", review: str = "abc123def456") -> NewEntry:
    return NewEntry(review, "0" * 64, user, outcome, "", "v1.token", "C1", "1.000001", "")


async def test_concurrent_copies_of_one_click_make_one_entry_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "q" / "slack-decisions.sqlite"
    outbox = await Outbox(path).open()
    added = await asyncio.gather(*(outbox.add(click("UALICE")) for _ in range(10)), outbox.add(click("UBOB")))
    assert [a.is_new for a in added] == [True] + [False] * 9 + [True]
    assert len({a.entry.id for a in added[:10]}) == 1
    # A later click of the same person (another outcome) does not replace a pending one.
    assert not (await outbox.add(click("UALICE", "rejected"))).is_new
    await outbox.close()
    assert path.stat().st_mode & 0o777 == 0o600

    reopened = await Outbox(path).open()
    due = await reopened.due(now=float("inf"), exclude=set())
    assert sorted(e.user for e in due) == ["UALICE", "UBOB"] and all(e.outcome == "approved" for e in due)
    alice = next(e for e in due if e.user == "UALICE")
    await reopened.finish(alice.id, EntryState.REFUSED, "not a reviewer")
    # Refused for good, then clicked again (added to the group since): a fresh entry.
    again = await reopened.add(click("UALICE", "rejected"))
    assert again.is_new and again.entry.id == alice.id and again.entry.outcome == "rejected"
    await reopened.close()


async def test_one_server_per_queue_file(tmp_path: Path) -> None:
    first = await Outbox(tmp_path / "q.sqlite").open()
    with pytest.raises(DeliveryFailed, match="another review-gate serve is using the decision queue"):
        await Outbox(tmp_path / "q.sqlite").open()
    await first.close()
    await (await Outbox(tmp_path / "q.sqlite").open()).close()


def test_what_counts_as_prefect_being_unreachable_or_busy() -> None:
    request = httpx.Request("POST", "http://prefect/api/flow_runs/x/resume")

    def status(code: int) -> httpx.HTTPStatusError:
        return httpx.HTTPStatusError("", request=request, response=httpx.Response(code, request=request))

    passing = [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        status(503),
        status(502),
        status(429),
    ]
    assert all(prefect_unreachable(e) for e in passing)
    assert not any(prefect_unreachable(e) for e in (status(404), status(422), ValueError("bug")))
