"""`review-gate stats`: the monitoring figures of the reviews opened in a window.

Reads every version of the review records through the store (`record_versions`, a page of 200 at a
time, newest first, stopping at the window's start) over plain httpx, like `review-gate pending`:
Prefect is imported only when PREFECT_API_URL is not in the environment.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

from prefect_review_gate.gates import review_api
from prefect_review_gate.gates.review_api import ApiTarget
from prefect_review_gate.gates.stats import ReviewStats, compute_stats, parse_since, versions_cutoff
from prefect_review_gate.gates.stats_text import text_report
from prefect_review_gate.gates.store import PrefectReviewStore, RecordVersion

__all__ = ["read_stats", "read_versions", "stats"]


async def read_versions(store: PrefectReviewStore, since: datetime) -> list[RecordVersion]:
    """Every record version of the reviews opened since `since`, read page by page."""
    versions: list[RecordVersion] = []
    async for page in store.record_versions(created_after=versions_cutoff(since)):
        versions += page
    return versions


async def read_stats(
    store: PrefectReviewStore, window: timedelta, agent: str | None, now: datetime
) -> ReviewStats:
    """The figures of the reviews opened in the `window` before `now`."""
    since = now - window
    return compute_stats(await read_versions(store, since), since, now, agent)


def stats(since: str, agent: str | None, as_json: bool) -> int:
    """Print the figures. Raises `InputError` for a bad --since or an unset or unreachable API."""
    window = parse_since(since)
    if agent is not None and not agent.strip():
        from prefect_review_gate.validators.errors import InputError

        raise InputError("--agent: give the requester's name as the reviews record it, e.g. agent:closer")
    target = ApiTarget.from_environment()
    if target is None:
        from prefect_review_gate.gates.reviews import api_target

        target = api_target()
    found = target
    now = datetime.now(UTC)

    async def work() -> ReviewStats:
        async with found.client() as client:
            return await read_stats(PrefectReviewStore(client), window, agent, now)

    result = review_api.run_against(found.url, work)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(text_report(result))
    return 0
