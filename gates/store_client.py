"""The review store on Prefect's own client: what the gate, the CLI's decisions and the sweeps use.

Prefect's client reaches any API its settings name, the in-process one included, with its auth,
CSRF token and retries. `review-gate pending` reaches the same store through plain httpx instead
(`review_api`), because importing Prefect costs it two seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from prefect.client.orchestration import PrefectClient, get_client

from prefect_review_gate.gates.store import ApiRequester, PrefectReviewStore

__all__ = ["open_api", "open_store"]


class _PrefectClientApi:
    """`ApiRequester` over a `PrefectClient`."""

    def __init__(self, client: PrefectClient) -> None:
        self._client = client

    async def request(self, method: str, path: str, /, *, json: Any = None) -> httpx.Response:
        # Prefect types `path` as a literal of its known routes; the store's paths are among them.
        return await self._client.request(method, path, json=json)  # type: ignore[arg-type]


@asynccontextmanager
async def open_api() -> AsyncIterator[ApiRequester]:
    """The Prefect API that Prefect's settings name, as an `ApiRequester` (the commit ledger's)."""
    async with get_client() as client:
        yield _PrefectClientApi(client)


@asynccontextmanager
async def open_store() -> AsyncIterator[PrefectReviewStore]:
    """The review store on the Prefect API that Prefect's settings name."""
    async with open_api() as api:
        yield PrefectReviewStore(api)
