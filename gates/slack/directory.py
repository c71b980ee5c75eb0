"""Who a Slack user is to a review: a listed reviewer, a member of a listed user group, or nobody.

Group members come from `usergroups.users.list` (scope usergroups:read), cached briefly: a burst of
clicks costs one lookup, and someone removed from a group loses the right within `ttl_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from slack_sdk.web.async_client import AsyncWebClient

from prefect_review_gate.gates.request import ReviewRequest
from prefect_review_gate.gates.slack.client import call_slack

__all__ = ["SLACK_GROUP_QUALIFIER", "SLACK_USER_QUALIFIER", "ReviewerDirectory", "group_members_of"]

SLACK_USER_QUALIFIER = "slack"
SLACK_GROUP_QUALIFIER = "slack-group"
_GROUP = f"{SLACK_GROUP_QUALIFIER}:"
_USER = f"{SLACK_USER_QUALIFIER}:"


def group_members_of(identity: str) -> str | None:
    """The group id of a `slack-group:S...` identity, or None."""
    return identity.removeprefix(_GROUP) if identity.startswith(_GROUP) else None


class ReviewerDirectory:
    """Maps Slack users to the identity they decide as, per the review's policy."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def members(self, group_id: str) -> frozenset[str]:
        """The user ids in a Slack user group. Raises `DeliveryFailed` when Slack cannot say."""
        cached = self._cache.get(group_id)
        if cached and self._clock() - cached[0] < self._ttl:
            return cached[1]
        async with self._locks.setdefault(group_id, asyncio.Lock()):
            cached = self._cache.get(group_id)
            if cached and self._clock() - cached[0] < self._ttl:
                return cached[1]
            response = await call_slack(
                "usergroups.users.list", self._client.usergroups_users_list(usergroup=group_id)
            )
            users = frozenset(str(u) for u in response.get("users") or [])
            self._cache[group_id] = (self._clock(), users)
            return users

    async def identity(self, user_id: str, request: ReviewRequest) -> tuple[str, str]:
        """Who `user_id` is to `request`: (`slack:<user>`, the listed group they are in, or '').

        Resolution only: whether that person may decide is the decision rule's (`rules`), and this
        server's signature on the decision is what makes the gate believe both parts.

        Raises:
            DeliveryFailed: a group's members could not be read from Slack (fails closed).
        """
        direct = f"{_USER}{user_id}"
        if direct in request.policy.reviewers:
            return direct, ""
        for reviewer in request.policy.reviewers:
            group = group_members_of(reviewer)
            if group is not None and user_id in await self.members(group):
                return direct, reviewer
        return direct, ""
