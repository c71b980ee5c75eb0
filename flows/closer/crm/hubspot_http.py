"""HubSpot's REST API over httpx: the private app's token, HubSpot's errors in words, 429s waited out.

HubSpot limits requests per portal (every app in it shares the bucket) and answers `429` with a
`Retry-After` in seconds. The client waits what it is told, but never longer than `max_wait` (a
scheduled run must not sleep for an hour on one header), and gives up after `retries` tries with a
`CrmError` that says so. 502/503/504 and dropped connections are retried the same way.

Time is injected (`sleep`), and so is the transport, so tests drive the real client against a fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from prefect_review_gate.flows.closer.crm.model import CrmError

__all__ = ["HubSpotHttp"]

_RETRIED = {429, 502, 503, 504}


class HubSpotHttp:
    """One HubSpot portal's API, as `request(method, path, ...) -> JSON`."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        retries: int = 4,
        max_wait: float = 30.0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retries = retries
        self.max_wait = max_wait
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        """The response's JSON (None for 204, or for 404 when `missing_ok`).

        Raises:
            CrmError: HubSpot refused (with its message), stayed rate limited or down through the
                retries, or could not be reached.
        """
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._client.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                if last:
                    raise CrmError(f"HubSpot could not be reached ({type(exc).__name__}): {exc}") from None
                self._sleep(self._backoff(attempt))
                continue
            if response.status_code in _RETRIED and not last:
                self._sleep(self._wait(response, attempt))
                continue
            return self._result(method, path, response, missing_ok)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After", "").strip()
        try:
            told = float(header)
        except ValueError:
            told = self._backoff(attempt)  # no usable header (or an HTTP date): back off on our own
        return min(max(told, 0.0), self.max_wait)

    def _backoff(self, attempt: int) -> float:
        return float(min(2.0**attempt * 0.5, self.max_wait))

    def _result(self, method: str, path: str, response: httpx.Response, missing_ok: bool) -> Any:
        status = response.status_code
        if status == 204:
            return None
        if status == 404 and missing_ok:
            return None
        if status < 300 or status == 207:  # 207: a batch read where some ids were not found
            try:
                return response.json()
            except ValueError:
                raise CrmError(f"HubSpot answered {method} {path} with something that is not JSON") from None
        if status in {401, 403}:
            raise CrmError(
                f"HubSpot refused the access token ({status}): check the private app's token and its "
                "scopes (crm.objects.deals, contacts, companies: read and write)"
            )
        if status == 429:
            raise CrmError(
                f"HubSpot kept rate limiting {method} {path} through {self.retries} retries; nothing more "
                "was sent. Try again later, or lower the portal's other API traffic"
            )
        raise CrmError(f"HubSpot answered {method} {path} with {status}: {_message(response)}")

    def close(self) -> None:
        self._client.close()


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:300] if message else response.reason_phrase
