"""Listing open reviews pages through all of them, even while reviews close during the listing.

The Prefect API gives at most 200 artifacts a page. A review that closes while `pending` reads the
pages leaves the open set, and every later one moves up a place: paging by plain offsets then
skips open reviews that were open the whole time. Real server, real records; the only addition is
a requester that lets reviews close between two pages, as decisions arriving meanwhile do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from prefect_review_gate.gates.policy import ReviewPolicy
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.store import PrefectReviewStore
from prefect_review_gate.gates.store_client import open_store

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = 230  # more than one page of 200
CLOSED_MEANWHILE = 20


@flow(name="pending-paging")
def _nothing() -> None:
    """Only its run is used: records attach to a real flow run."""


def _record(flow_run_id: UUID, number: int) -> ReviewRecord:
    request = ReviewRequest(
        id=f"{number:012x}",
        flow_run_id=flow_run_id,
        requester="agent:test",
        actions=[{"kind": "git.push", "branch": f"b{number}"}],
        content_hash="0" * 64,
        policy=ReviewPolicy(reviewers=["alice"]),
        created_at=NOW,
        deadline=NOW + timedelta(hours=1),
    )
    return ReviewRecord(request=request, updated_at=NOW)


class _ClosingBetweenPages:
    """An `ApiRequester` on the real API that runs `between` once, after the first page is read.

    Pages asked for at the same time as the first wait until `between` is done: every other page
    is read after the reviews closed, as it would be if the decisions came in between.
    """

    def __init__(self, client: httpx.AsyncClient, between: Callable[[list[Any]], Awaitable[None]]) -> None:
        self.client, self.between, self.closed = client, between, asyncio.Event()

    async def request(self, method: str, path: str, /, *, json: Any = None) -> httpx.Response:
        page = path == "/artifacts/latest/filter" and bool((json or {}).get("artifacts", {}).get("type"))
        if page and (json or {}).get("offset", 0) and not self.closed.is_set():
            await self.closed.wait()
        response = await self.client.request(method, path.lstrip("/"), json=json)
        if page and not (json or {}).get("offset", 0) and not self.closed.is_set():
            await self.between(response.json())
            self.closed.set()
        return response


async def test_pending_lists_every_review_open_throughout_while_others_close(prefect_api: str) -> None:
    async with get_client() as client:
        run_id = (await client.create_flow_run(_nothing)).id
    records = [_record(run_id, number) for number in range(OPEN)]
    async with open_store() as store:
        for chunk in range(0, OPEN, 20):
            await asyncio.gather(*(store.save(r) for r in records[chunk : chunk + 20]))

        ours = {r.request.id for r in records}

        async def close_some_of_the_first_page(page: list[Any]) -> None:
            # The session's server holds other tests' open reviews too, in the same id order (ids
            # are random): close only ours.
            mine = [ReviewRecord.model_validate(item["data"]) for item in page]
            for record in [r for r in mine if r.request.id in ours][:CLOSED_MEANWHILE]:
                await store.save(record.model_copy(update={"status": ReviewStatus.REJECTED}))

        async with httpx.AsyncClient(base_url=prefect_api.rstrip("/") + "/") as http:
            requester = _ClosingBetweenPages(http, close_some_of_the_first_page)
            listed = await PrefectReviewStore(requester).list_open()
            closed = {r.request.id for r in records} - {r.request.id for r in await store.list_open()}

    ids = [r.request.id for r in listed]
    assert len(closed) == CLOSED_MEANWHILE
    assert len(ids) == len(set(ids))  # each once
    assert {r.request.id for r in records} - closed <= set(ids)  # none of those open throughout skipped


async def test_pending_reads_a_page_again_when_more_close_than_its_overlap(prefect_api: str) -> None:
    # The pages are read at once; 50 of the first page close before the others are read, more
    # than the 20 records each page shares with the one before: the pages after it are read again.
    async with get_client() as client:
        run_id = (await client.create_flow_run(_nothing)).id
    records = [_record(run_id, 1000 + number) for number in range(OPEN)]
    async with open_store() as store:
        for chunk in range(0, OPEN, 20):
            await asyncio.gather(*(store.save(r) for r in records[chunk : chunk + 20]))
        ours = {r.request.id for r in records}

        async def close_50_of_the_first_page(page: list[Any]) -> None:
            mine = [ReviewRecord.model_validate(item["data"]) for item in page]
            mine = [r for r in mine if r.request.id in ours]
            assert len(mine) >= 50, "the session's other open reviews leave too few of ours"
            for record in mine[:50]:
                await store.save(record.model_copy(update={"status": ReviewStatus.REJECTED}))

        async with httpx.AsyncClient(base_url=prefect_api.rstrip("/") + "/") as http:
            requester = _ClosingBetweenPages(http, close_50_of_the_first_page)
            listed = await PrefectReviewStore(requester).list_open()
            still_open = {r.request.id for r in await store.list_open()}

    ids = [r.request.id for r in listed]
    assert len(ours - still_open) == 50
    assert len(ids) == len(set(ids))
    assert ours & still_open <= set(ids)  # none open throughout skipped
