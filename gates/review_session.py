"""A reviewer's command against the review API: over httpx when the environment names the API.

With PREFECT_API_URL in the environment (and PREFECT_API_KEY or PREFECT_API_AUTH_STRING where the
server needs them) the command talks to the API over plain httpx and is done in a fraction of a
second instead of spending one of CPU on Prefect's import first. Without it, Prefect's settings (a
profile, a settings file) are asked for the API, as `reviews` does; so they are when the API
answers 401 and the environment holds no credentials (they may be in the profile). Errors map as
`review_commands` says, whichever way the command went. `run_with_review_api` is for commands that
read and decide reviews (approve, reject, show); `run_with_api_target` for those that need only
the API's address and credentials (pending).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from prefect_review_gate.gates import review_api
from prefect_review_gate.gates.review_api import ApiTarget, ReviewApi
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["run_with_api_target", "run_with_review_api"]

T = TypeVar("T")


def run_with_review_api(work: Callable[[ReviewApi], Awaitable[T]]) -> T:
    """`work` against the API: over httpx when the environment names it, else through Prefect."""

    async def over_httpx(target: ApiTarget) -> T:
        async with review_api.open_review_api(target) as api:
            return await work(api)

    return _environment_first(over_httpx, lambda: _through_prefect(work))


def run_with_api_target(work: Callable[[ApiTarget], Awaitable[T]]) -> T:
    """`work` given the API's address and credentials: the environment's, else Prefect's settings'."""

    def with_prefect_settings() -> T:
        from prefect_review_gate.gates.reviews import api_target

        target = api_target()
        return review_api.run_against(target.url, lambda: work(target))

    return _environment_first(work, with_prefect_settings)


def _environment_first(
    over_httpx: Callable[[ApiTarget], Awaitable[T]], through_prefect: Callable[[], T]
) -> T:
    """`over_httpx` with the environment's API; `through_prefect()` without one, or after a 401 to
    an environment that holds no credentials (nothing was stored: the request was refused)."""
    target = ApiTarget.from_environment()
    if target is None:
        return through_prefect()
    found = target

    async def attempt() -> T:
        try:
            return await over_httpx(found)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 401 and not (found.api_key or found.auth_string):
                raise _CredentialsElsewhere from None
            raise

    try:
        return review_api.run_against(found.url, attempt)
    except _CredentialsElsewhere:
        # A 401 stored nothing: the credentials may be in Prefect's settings (a profile), as before.
        return through_prefect()


class _CredentialsElsewhere(ReviewGateError):
    """The API wants credentials the environment does not hold; never leaves this module."""


def _through_prefect(work: Callable[[ReviewApi], Awaitable[T]]) -> T:
    from prefect_review_gate.gates import reviews
    from prefect_review_gate.gates.review_commands import run_against_api

    async def through_prefect() -> T:
        async with reviews.open_review_api() as api:
            return await work(api)

    return run_against_api(through_prefect)
