"""The `expire-overdue` deployment's flow against a real Prefect API and a real overdue review."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
from gate_helpers import CLOCK_SHIFT, start_gated_write, wait_until_waiting
from prefect.client.schemas.objects import StateType

from prefect_review_gate.flows.maintenance import expire_overdue_reviews

pytestmark = pytest.mark.anyio


async def test_the_sweeper_flow_expires_an_overdue_review_and_leaves_a_fresh_one(
    prefect_api: str, tmp_path: Path
) -> None:
    policy = {"reviewers": ["alice"], "timeout": 600}
    # Opened "an hour ago" with ten minutes to decide: overdue, while the run's own timer is not due.
    CLOCK_SHIFT["sweep-overdue"] = -timedelta(hours=1)
    overdue = start_gated_write(tmp_path / "a", "sweep-overdue", policy)
    overdue_id = (await wait_until_waiting("sweep-overdue")).record.request.id
    CLOCK_SHIFT["sweep-overdue"] = timedelta(0)
    fresh = start_gated_write(tmp_path / "b", "sweep-fresh", policy)
    fresh_id = (await wait_until_waiting("sweep-fresh")).record.request.id

    expired = await expire_overdue_reviews()

    assert overdue_id in expired and fresh_id not in expired
    state = await overdue.final_state()
    assert state.type is StateType.CANCELLED and state.name == "Expired", state
    assert overdue.written() == []
    waiting = await wait_until_waiting("sweep-fresh")
    assert waiting.record.is_open
    fresh.task.cancel()  # its process goes away; nothing was committed
    with contextlib.suppress(BaseException):
        await fresh.task
    assert fresh.written() == []
