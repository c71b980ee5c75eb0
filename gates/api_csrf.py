"""Prefect's CSRF handshake for the plain-httpx API client (`review_api.ApiTarget.client`).

A Prefect server started with PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true answers 403 to any
POST, PUT, PATCH or DELETE without a token it issued to the sending client (`Prefect-Csrf-Token`
and `Prefect-Csrf-Client` headers; `GET /csrf-token?client=<id>` issues one). Prefect's own client
asks for a token before its first change request, whatever the server; on a server without the
protection (the default) that is one wasted round trip per client. Here the token is asked for only
once the server refused a request for want of one: the refused request never reached a route (the
middleware answers first), so sending it again with the token is safe. A token is kept per API URL
for the life of the process and renewed at its expiry or when the server no longer takes it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

__all__ = ["CsrfAuth"]

_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TOKEN_HEADER, _CLIENT_HEADER = "Prefect-Csrf-Token", "Prefect-Csrf-Client"
_RENEW_BEFORE = timedelta(seconds=30)  # a token this close to its expiry is renewed first


@dataclass
class _Token:
    client: str
    value: str
    expires: datetime | None

    def fresh(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires - _RENEW_BEFORE


# API base URL -> the token this process holds there (a CLI process, `serve`, a flow process).
_TOKENS: dict[str, _Token] = {}
_LOCK = threading.Lock()


class CsrfAuth(httpx.Auth):
    """Adds the CSRF token to change requests once the server at `api_url` has asked for one.

    `token_headers` go on the token request too (the API's Authorization), which httpx does not
    add to requests an auth flow makes.
    """

    requires_response_body = True

    def __init__(self, api_url: str, token_headers: dict[str, str]) -> None:
        self._api_url = api_url.rstrip("/") + "/"
        self._token_headers = token_headers

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.method not in _CHANGES:
            yield request
            return
        token = self._held()
        if token is not None:
            _sign(request, token)
        response = yield request
        if not _wants_token(response):
            return
        # Refused at the door: ask for a token (a new one if ours was refused) and send it again.
        issued = yield self._token_request(token.client if token is not None else str(uuid.uuid4()))
        token = _parse_token(issued)
        with _LOCK:
            _TOKENS[self._api_url] = token
        _sign(request, token)
        yield request

    def _held(self) -> _Token | None:
        with _LOCK:
            token = _TOKENS.get(self._api_url)
        return token if token is not None and token.fresh(datetime.now(UTC)) else None

    def _token_request(self, client: str) -> httpx.Request:
        return httpx.Request(
            "GET",
            httpx.URL(self._api_url + "csrf-token", params={"client": client}),
            headers=self._token_headers,
        )


def _sign(request: httpx.Request, token: _Token) -> None:
    request.headers[_TOKEN_HEADER] = token.value
    request.headers[_CLIENT_HEADER] = token.client


def _wants_token(response: httpx.Response) -> bool:
    """True for the CSRF middleware's own refusals (missing, unknown or stale token)."""
    if response.status_code != 403:
        return False
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        return False
    return detail in (
        "Missing CSRF token.",
        "Missing client identifier.",
        "Invalid CSRF token or client identifier.",
    )


def _parse_token(response: httpx.Response) -> _Token:
    """The token the server issued; raises `httpx.HTTPStatusError` when it issued none."""
    response.raise_for_status()
    try:
        body = response.json()
        expiration = body.get("expiration")
        expires = datetime.fromisoformat(expiration) if expiration else None
        token = _Token(client=str(body["client"]), value=str(body["token"]), expires=expires)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise httpx.HTTPStatusError(
            "the Prefect API asked for a CSRF token and issued none readable",
            request=response.request,
            response=response,
        ) from None
    if token.expires is not None and token.expires.tzinfo is None:
        token.expires = token.expires.replace(tzinfo=UTC)
    return token
