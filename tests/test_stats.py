"""`review-gate stats`: the figures match the reviews made, outcome by outcome, on a real Prefect API.

The pure aggregation is checked on records built here; the command is checked end to end against
reviews that real gated runs opened and people (or the gate) decided (`monitoring_helpers`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.stats import compute_stats, parse_since, percentile
from prefect_review_gate.gates.store import InMemoryReviewStore, RecordVersion
from prefect_review_gate.gates.votes import Outcome, Vote
from prefect_review_gate.validators.errors import InputError
from tests.gate_helpers import run_cli
from tests.monitoring_helpers import ALPHA, BETA, make_reviews

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def _record(requester: str, opened: datetime, **update: Any) -> ReviewRecord:
    request = ReviewRequest(
        id=uuid.uuid4().hex[:12],
        flow_run_id=uuid.uuid4(),
        flow_name="f",
        requester=requester,
        actions=[],
        content_hash="h",
        policy={"reviewers": ["alice"]},
        created_at=opened,
        deadline=opened + timedelta(hours=4),
    )
    return ReviewRecord(request=request, updated_at=opened).model_copy(update=update)


def _approved(record: ReviewRecord, after: timedelta, reviewer: str = "alice") -> ReviewRecord:
    vote = Vote(
        outcome=Outcome.APPROVED,
        reviewer=reviewer,
        content_hash="h",
        channel="prefect-api",
        decided_at=record.request.created_at + after,
    )
    return record.model_copy(update={"status": ReviewStatus.APPROVED, "votes": [vote]})


def test_since_accepts_minutes_hours_days_weeks_and_refuses_the_rest() -> None:
    assert parse_since("30m") == timedelta(minutes=30)
    assert parse_since("24h") == timedelta(hours=24)
    assert parse_since("7d") == timedelta(days=7)
    assert parse_since("2w") == timedelta(weeks=2)
    for bad in ("", "7", "0d", "-1d", "7 days", "1y"):
        with pytest.raises(InputError):
            parse_since(bad)


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0


def test_time_to_decision_window_and_agent_filter() -> None:
    opened = NOW - timedelta(hours=2)
    fast = _record(ALPHA, opened)
    slow = _record(ALPHA, opened)
    old = _record(ALPHA, NOW - timedelta(days=9))
    other = _record(BETA, opened)
    versions = [
        RecordVersion(r.request.id, t, r)
        for r, t in [
            (fast, opened),
            (_approved(fast, timedelta(minutes=3)), opened + timedelta(minutes=3)),
            (slow, opened),
            (_approved(slow, timedelta(minutes=60), "bob"), opened + timedelta(minutes=60)),
            (old, old.request.created_at),
            (other, opened),
        ]
    ]
    stats = compute_stats(versions, NOW - timedelta(days=7), NOW, agent=ALPHA)
    [group] = stats.groups
    assert (group.agent, group.requested, group.approved, group.open) == (ALPHA, 2, 2, 0)
    assert sorted(group.decision_seconds) == [180.0, 3600.0]
    assert group.reviewer_share() == {"alice": 0.5, "bob": 0.5}


def test_an_unreadable_version_is_counted_not_guessed() -> None:
    record = _record(ALPHA, NOW - timedelta(hours=1))
    versions = [
        RecordVersion(record.request.id, NOW, record),
        RecordVersion("deadbeef0000", NOW, None, "unreadable"),
    ]
    stats = compute_stats(versions, NOW - timedelta(days=1), NOW + timedelta(seconds=1))
    assert stats.unreadable == 1
    assert stats.total.requested == 1


async def test_in_memory_store_pages_versions_newest_first() -> None:
    store = InMemoryReviewStore()
    records = [_record(ALPHA, NOW - timedelta(minutes=m)) for m in range(5)]
    for record in records:
        await store.save(record)
    pages = [page async for page in store.record_versions(page_size=2)]
    assert [len(p) for p in pages] == [2, 2, 1]
    created = [v.created for page in pages for v in page]
    assert created == sorted(created, reverse=True)


async def test_the_prefect_store_pages_versions_and_stops_at_the_cutoff(prefect_api: str) -> None:
    from prefect_review_gate.gates.store_client import open_store

    agent = "agent:pages-" + uuid.uuid4().hex[:6]
    async with open_store() as store:
        older = _record(agent, datetime.now(UTC))
        await store.save(older)
        await store.save(older.model_copy(update={"note": "second version"}))
        cutoff = datetime.now(UTC)
        await asyncio.sleep(0.05)
        newer = [_record(agent, datetime.now(UTC)) for _ in range(5)]
        for record in newer:
            await store.save(record)
        pages = [page async for page in store.record_versions(created_after=cutoff, page_size=2)]
    assert [len(p) for p in pages] == [2, 2, 1]  # the third page ends at the cutoff
    assert {v.review_id for p in pages for v in p} == {r.request.id for r in newer}
    assert all(v.record is not None and v.created >= cutoff for p in pages for v in p)


@pytest.fixture(scope="module")
def made(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    import anyio

    tag = "-" + uuid.uuid4().hex[:6]
    made = anyio.run(make_reviews, tmp_path_factory.mktemp("stats"), prefect_api, tag)
    return tag, made


def _group(document: dict[str, Any], agent: str) -> dict[str, Any]:
    [group] = [g for g in document["groups"] if g["agent"] == agent]
    return dict(group)


async def test_stats_match_the_reviews_made(prefect_api: str, made: Any) -> None:
    tag, created = made
    status, out, err = await run_cli("stats", "--since", "1h", "--json", api=prefect_api)
    assert status == 0, err
    document = json.loads(out)

    alpha = _group(document, ALPHA + tag)
    assert alpha["flow"] == "monitored-write"
    assert (alpha["requested"], alpha["approved"], alpha["rejected"]) == (4, 2, 1)
    assert (alpha["blocked_by_policy"], alpha["expired"], alpha["open"]) == (1, 0, 0)
    assert (alpha["with_blocking_findings"], alpha["fabrication_rate"]) == (2, 0.5)
    assert alpha["findings_by_code"] == {"unknown_recipient": 2, "uncited_number": 2}
    assert alpha["findings_per_review"] == 1.0
    [override] = alpha["overrides"]
    assert override == {
        "review_id": created.ids["alpha-override"],
        "reviewers": ["bob"],
        "reasons": ["the address is new, checked"],
    }
    assert alpha["decided"] == 3  # approved, rejected, overridden: the blocked one was never asked
    assert alpha["time_to_decision_seconds"]["p50"] is not None
    assert alpha["votes"] == {"bob": 2, "alice": 1}
    assert alpha["reviewers"] == {"bob": round(2 / 3, 4), "alice": round(1 / 3, 4)}
    assert (alpha["edits"], alpha["refused_decisions"]) == (0, {})

    beta = _group(document, BETA + tag)
    assert (beta["requested"], beta["approved"], beta["rejected"], beta["expired"]) == (3, 1, 1, 1)
    assert (beta["with_blocking_findings"], beta["fabrication_rate"]) == (1, round(1 / 3, 4))
    assert (beta["edited_reviews"], beta["edits"]) == (1, 1)
    assert beta["refused_decisions"] == {"not_a_reviewer": 1}
    assert beta["decided"] == 2
    assert beta["votes"] == {"alice": 2}


async def test_agent_filter_and_text_report(prefect_api: str, made: Any) -> None:
    tag, _ = made
    status, out, err = await run_cli("stats", "--agent", BETA + tag, api=prefect_api)
    assert status == 0, err
    assert f"{BETA}{tag} / monitored-write" in out
    assert ALPHA + tag not in out
    assert "fabrication rate 33% (1 of 3 with a blocking finding)" in out
    assert "refused decisions: not_a_reviewer 1" in out
    assert "edits: 1 in 1 review(s)" in out


async def test_bad_usage_and_unreachable_api_exit_2(prefect_api: str, tmp_path: Path) -> None:
    status, _, err = await run_cli("stats", "--since", "forever", api=prefect_api)
    assert status == 2 and "--since 'forever'" in err and len(err.splitlines()) == 1
    status, _, err = await run_cli("stats", api="http://127.0.0.1:9/api")
    assert status == 2 and "cannot reach the Prefect API" in err
