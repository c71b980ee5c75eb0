"""The review store on Prefect's own client: what the gate, the CLI's decisions and the sweeps use.

Prefect's client reaches any API its settings name, the in-process one included, with its auth,
CSRF token and retries. `review-gate pending` reaches the same store through plain httpx instead
(`review_api`), because importing Prefect costs it two seconds.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import certifi
import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.context import AsyncClientContext
from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY

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
    async with _client() as client:
        yield _PrefectClientApi(client)


def _client() -> PrefectClient:
    """The flow run's (or `serve`'s) shared client; elsewhere a new one, but not a new TLS context.

    Every new `PrefectClient` builds a TLS context from the CA bundle: about 80 ms of CPU, and 0.3 s
    on a loaded machine, with the event loop blocked. Forty decisions sent at once from one process
    (stack_bench's terminal half) spent most of their wait there. The context is built once per
    process, exactly as Prefect builds it, and handed to each client.
    """
    context = AsyncClientContext.get()
    if context is not None and context.client is not None:
        return get_client()  # the shared client: passing settings would make get_client skip it
    cert_file = PREFECT_API_SSL_CERT_FILE.value() or certifi.where()
    tls = _tls_context(bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value()), cert_file)
    return get_client(httpx_settings={"verify": tls})


@lru_cache(maxsize=4)
def _tls_context(skip_verify: bool, cert_file: str) -> ssl.SSLContext:
    """Prefect's own TLS context for its client (PrefectClient.__init__), built once per setting."""
    if skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cert_file)


@asynccontextmanager
async def open_store() -> AsyncIterator[PrefectReviewStore]:
    """The review store on the Prefect API that Prefect's settings name."""
    async with open_api() as api:
        yield PrefectReviewStore(api)
