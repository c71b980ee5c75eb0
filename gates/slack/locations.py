"""Where a review's Slack messages are: the review store's `slack` channel state (an artifact).

A flow suspended under a deployment re-runs in a new process after the resume; it finds the
messages it posted here to update them. The server reads the same place to thread its reminders
and to check that a click came from the review's own message.

The store keeps it as the latest version of the artifact `review-gate-<id>-channel-slack`
(`store.save_channel_state`), not in a Prefect Variable: a Variable holds at most 5,000
characters, about 96 DM locations, and a review sent to a 500-member group needs six times that.
A save is one write of the whole list (no chunks that could be half written), and the versions
before it stay as history.

`complete` is False from just before the first post until the locations are saved: a lookup that
finds it so knows messages may exist that it cannot name, and must not post them again.
"""

from __future__ import annotations

from prefect.types import StrictVariableValue
from prefect.variables import Variable
from pydantic import BaseModel, Field

from prefect_review_gate.gates.store_client import open_store

__all__ = ["CHANNEL", "MessageLocation", "PostedReview", "forget_posted", "load_posted", "save_posted"]

CHANNEL = "slack"  # the store's name for this channel's state


class MessageLocation(BaseModel):
    channel: str = Field(description="Channel (or DM) id the message is in.")
    ts: str = Field(description="The message's timestamp: its id within the channel.")


class PostedReview(BaseModel):
    review_id: str
    round: int = Field(default=0, description="The content round the messages show.")
    messages: list[MessageLocation] = Field(default_factory=list)
    reminded: bool = Field(default=False, description="Whether the deadline reminder went out.")
    complete: bool = Field(default=True, description="False while posting: `messages` may miss some.")
    unposted: list[str] = Field(
        default_factory=list, description="Destinations Slack refused when posting; tried again on update."
    )
    withdrawn: bool = Field(default=False, description="The messages were taken back (an edit).")


async def save_posted(posted: PostedReview) -> None:
    async with open_store() as store:
        await store.save_channel_state(posted.review_id, CHANNEL, posted.model_dump(mode="json"))


async def load_posted(review_id: str) -> PostedReview | None:
    """The review's messages, or None when it was never posted (or withdrawn).

    Raises what the Prefect client raises when Prefect cannot be read: that is not "never posted".
    """
    async with open_store() as store:
        state = await store.load_channel_state(review_id, CHANNEL)
    if state is None:
        # Reviews posted before the store kept channel state had their locations in a Variable.
        legacy: StrictVariableValue = await Variable.aget(f"review-gate-slack-{review_id}", default={})
        if not legacy:
            return None
        state = legacy if isinstance(legacy, dict) else None
    posted = PostedReview.model_validate(state)
    return None if posted.withdrawn else posted


async def forget_posted(posted: PostedReview) -> None:
    """Record that the messages were withdrawn: the next round is posted anew."""
    await save_posted(posted.model_copy(update={"messages": [], "unposted": [], "withdrawn": True}))
