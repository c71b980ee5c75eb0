"""Where a review's Slack messages are, kept on Prefect (a Variable per review), not in memory.

A flow suspended under a deployment re-runs in a new process after the resume; it finds the message
it posted here to update it. The server reads the same place to thread its reminders.
"""

from __future__ import annotations

from prefect.types import StrictVariableValue
from prefect.variables import Variable
from pydantic import BaseModel, Field

__all__ = ["MessageLocation", "PostedReview", "forget_posted", "load_posted", "save_posted", "variable_name"]


class MessageLocation(BaseModel):
    channel: str = Field(description="Channel (or DM) id the message is in.")
    ts: str = Field(description="The message's timestamp: its id within the channel.")


class PostedReview(BaseModel):
    review_id: str
    round: int = Field(default=0, description="The content round the messages show.")
    messages: list[MessageLocation] = Field(default_factory=list)
    reminded: bool = Field(default=False, description="Whether the deadline reminder went out.")


def variable_name(review_id: str) -> str:
    return f"review-gate-slack-{review_id}"


async def save_posted(posted: PostedReview) -> None:
    await Variable.aset(variable_name(posted.review_id), posted.model_dump(mode="json"), overwrite=True)


async def load_posted(review_id: str) -> PostedReview | None:
    value: StrictVariableValue = await Variable.aget(variable_name(review_id), default={})
    if not value:
        return None
    return PostedReview.model_validate(value)


async def forget_posted(review_id: str) -> None:
    await Variable.aunset(variable_name(review_id))
