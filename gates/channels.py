"""The channel interface: how a review reaches people, and how it is kept true after each decision.

The Prefect UI needs no channel (the paused run's resume form is the review); Slack and others
implement `ReviewChannel`. A channel that fails raises `DeliveryFailed`: the gate records it and the
review stays open and answerable elsewhere. A channel never decides anything itself.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from prefect_review_gate.gates.request import ReviewRecord

__all__ = ["ReviewChannel"]


@runtime_checkable
class ReviewChannel(Protocol):
    """Something that shows reviews to people: a Slack channel, a terminal, a mailbox."""

    name: str

    async def notify(self, record: ReviewRecord) -> None:
        """A review opened: show it, with a way to answer where the channel supports one."""

    async def update(self, record: ReviewRecord) -> None:
        """A vote was counted or the review ended (from any channel): show where it stands now."""

    async def withdraw(self, record: ReviewRecord) -> None:
        """The review no longer stands as shown (its content was replaced): take the ask back."""
