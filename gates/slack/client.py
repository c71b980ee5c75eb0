"""The Slack Web API client the gate uses, with retries, and Slack's errors mapped to `DeliveryFailed`.

Rate limits (429, honouring Retry-After), connection errors and 500/503 are retried by slack_sdk's own
retry handlers with exponential backoff; what still fails becomes one `DeliveryFailed` naming the
method and Slack's error code, never the token or the payload.
"""

from __future__ import annotations

from collections.abc import Awaitable

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from prefect_review_gate.gates.errors import DeliveryFailed

__all__ = ["SlackCallFailed", "call_slack", "web_client"]


class SlackCallFailed(DeliveryFailed):
    """A Web API call Slack answered with an error (after retries); `code` is Slack's error code."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"Slack {method} failed: {code}")
        self.method = method
        self.code = code


def web_client(
    token: str, api_url: str, *, retries: int = 3, backoff_seconds: float = 0.5, timeout: int = 10
) -> AsyncWebClient:
    """An `AsyncWebClient` for `api_url` that retries rate limits, connection and server errors."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff_seconds)
    handlers: list[AsyncRetryHandler] = [
        AsyncRateLimitErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
        AsyncConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
        AsyncServerErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
    ]
    return AsyncWebClient(token=token, base_url=api_url, timeout=timeout, retry_handlers=handlers)


async def call_slack(method: str, call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
    """Await one Web API call; anything that fails after the retries is `DeliveryFailed`."""
    try:
        return await call
    except SlackApiError as exc:
        code = exc.response.get("error") if exc.response is not None else None
        status = exc.response.status_code if exc.response is not None else "?"
        raise SlackCallFailed(method, str(code or f"HTTP {status}")) from None
    except (TimeoutError, SlackClientError, aiohttp.ClientError, OSError) as exc:
        raise DeliveryFailed(f"Slack {method} failed: cannot reach Slack ({type(exc).__name__})") from None
