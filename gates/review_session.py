"""One reviewer's command against the review API: over httpx when the environment names the API.

With PREFECT_API_URL in the environment (and PREFECT_API_KEY or PREFECT_API_AUTH_STRING where the
server needs them) the command talks to the API over plain httpx (`review_api.open_review_api`)
and is done in a fraction of a second instead of spending one of CPU on Prefect's import first.
Without it, Prefect's settings (a profile, a settings file) are asked for the API, as `reviews`
does; so they are when the API answers 401 and the environment holds no credentials (they may be
in the profile). Errors map as `review_commands` says, whichever way the command went.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from prefect_review_gate.gates import review_api
from prefect_review_gate.gates.review_api import ApiTarget, ReviewApi
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["run_with_review_api"]

T = TypeVar("T")


def run_with_review_api(work: Callable[[ReviewApi], Awaitable[T]]) -> T:
    """`work` against the API: over httpx when the environment names it, else through Prefect."""
    target = ApiTarget.from_environment()
    if target is None:
        return _through_prefect(work)
    found = target

    async def over_httpx() -> T:
        try:
            async with review_api.open_review_api(found) as api:
                return await work(api)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 401 and not (found.api_key or found.auth_string):
                raise _CredentialsElsewhere from None
            raise

    try:
        return review_api.run_against(found.url, over_httpx)
    except _CredentialsElsewhere:
        # A 401 stored nothing: the credentials may be in Prefect's settings (a profile), as before.
        return _through_prefect(work)


class _CredentialsElsewhere(ReviewGateError):
    """The API wants credentials the environment does not hold; never leaves this module."""


def _through_prefect(work: Callable[[ReviewApi], Awaitable[T]]) -> T:
    from prefect_review_gate.gates import reviews
    from prefect_review_gate.gates.review_commands import run_against_api

    async def through_prefect() -> T:
        async with reviews.open_review_api() as api:
            return await work(api)

    return run_against_api(through_prefect)
