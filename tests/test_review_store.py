"""The review store's contract, held by both implementations: on a real Prefect API and in memory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from prefect_review_gate.gates.policy import ReviewPolicy
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.store import InMemoryReviewStore, PrefectReviewStore, ReviewStore
from prefect_review_gate.gates.store_client import open_store
from prefect_review_gate.validators import ReviewGateError

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

NOW = datetime.now(UTC).replace(microsecond=0)


@flow(name="store-contract")
def _nothing() -> None:
    """Only its runs are used: the store attaches inputs and artifacts to a real flow run."""


async def _flow_run_id() -> UUID:
    async with get_client() as client:
        run = await client.create_flow_run(_nothing)
    return run.id


@pytest.fixture(params=["prefect", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ReviewStore, Any]]:
    if request.param == "memory":
        memory = InMemoryReviewStore()
        yield memory, memory
        return
    async with open_store() as prefect:
        yield prefect, prefect


def _record(flow_run_id: UUID, review_id: str) -> ReviewRecord:
    request = ReviewRequest(
        id=review_id,
        flow_run_id=flow_run_id,
        requester="agent:test",
        actions=[{"kind": "git.push", "branch": "main"}],
        content_hash="0" * 64,
        policy=ReviewPolicy(reviewers=["alice"]),
        created_at=NOW,
        deadline=NOW + timedelta(hours=1),
    )
    return ReviewRecord(request=request, updated_at=NOW)


async def _add_decision(
    impl: Any, run_id: UUID, review_id: str, sequence: int, run_input: dict[str, Any]
) -> None:
    """What the server does when a resume is accepted."""
    if isinstance(impl, InMemoryReviewStore):
        impl.add_decision(run_id, review_id, sequence, run_input)
        return
    assert isinstance(impl, PrefectReviewStore)
    async with get_client() as client:
        await client.create_flow_run_input(
            run_id, f"paused-{review_id}-{sequence}-response", json.dumps(run_input)
        )


async def test_the_latest_record_wins_and_only_open_ones_are_listed(store: tuple[ReviewStore, Any]) -> None:
    reviews, _ = store
    run_id = await _flow_run_id()
    first = _record(run_id, run_id.hex[:12])
    await reviews.save(first)
    await reviews.save(first.model_copy(update={"note": "one vote in"}))
    loaded = await reviews.load(first.request.id)
    assert loaded is not None and loaded.note == "one vote in"
    assert first.request.id in {r.request.id for r in await reviews.list_open()}
    await reviews.save(first.model_copy(update={"status": ReviewStatus.REJECTED}))
    assert first.request.id not in {r.request.id for r in await reviews.list_open()}
    assert await reviews.load("ffffffffffff") is None


async def test_channel_state_holds_what_a_variable_could_not(store: tuple[ReviewStore, Any]) -> None:
    reviews, _ = store
    messages = [{"channel": f"D{n:08d}", "ts": f"1700000000.{n:06d}"} for n in range(500)]
    assert len(json.dumps(messages)) > 5_000  # a Prefect Variable's limit
    await reviews.save_channel_state("abcabcabcabc", "slack", {"messages": messages})
    state = await reviews.load_channel_state("abcabcabcabc", "slack")
    assert state is not None and state["messages"] == messages
    await reviews.save_channel_state("abcabcabcabc", "slack", {})
    assert await reviews.load_channel_state("abcabcabcabc", "slack") is None


async def test_the_opening_is_written_once_and_decisions_are_read_as_stored(
    store: tuple[ReviewStore, Any],
) -> None:
    reviews, impl = store
    run_id = await _flow_run_id()
    review_id = run_id.hex[-12:]
    assert await reviews.open_once(run_id, review_id, NOW) == (NOW, True)
    assert await reviews.open_once(run_id, review_id, NOW + timedelta(hours=3)) == (NOW, False)

    assert await reviews.stored_decision(run_id, review_id, 0) is None
    await _add_decision(
        impl, run_id, review_id, 0, {"outcome": "approved", "reviewer": "alice", "content_hash": "x"}
    )
    stored = await reviews.stored_decision(run_id, review_id, 0)
    assert stored is not None and stored.decision is not None and stored.decision.reviewer == "alice"
    assert await reviews.stored_decision(run_id, review_id, 1) is None

    await _add_decision(impl, run_id, review_id, 1, {"outcome": "perhaps"})
    unreadable = await reviews.stored_decision(run_id, review_id, 1)
    assert (
        unreadable is not None
        and unreadable.decision is None
        and "not a valid decision" in unreadable.problem
    )


async def test_an_opening_dated_after_the_server_stored_it_stops_the_gate() -> None:
    run_id = await _flow_run_id()
    review_id = run_id.hex[:12]
    later = datetime.now(UTC) + timedelta(days=30)
    async with get_client() as client:
        # Written ahead of the gate by someone with API access, to push the deadline out.
        await client.create_flow_run_input(
            run_id, f"review-gate-{review_id}-opened", json.dumps({"opened_at": later.isoformat()})
        )
    async with open_store() as reviews:
        with pytest.raises(ReviewGateError, match="claims a time after the server stored it"):
            await reviews.open_once(run_id, review_id, datetime.now(UTC))
