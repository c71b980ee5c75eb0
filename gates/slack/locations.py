"""Where a review's Slack messages are: the latest version of the artifact `review-gate-<id>-slack`.

A flow suspended under a deployment re-runs in a new process after the resume; it finds the
messages it posted here to update them. The server reads the same place to thread its reminders
and to check that a click came from the review's own message.

Why an artifact: a Prefect Variable holds at most 5,000 characters, about 96 DM locations, and a
review sent to a 500-member group needs six times that. An artifact's data has no such bound; a
save is one write of the whole list (no chunks that could be half written), the versions before
it stay as history, and the latest one is a single query, like the review's record (`records`).

`complete` is False from just before the first post until the locations are saved: a lookup that
finds it so knows messages may exist that it cannot name, and must not post them again.
"""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.types import StrictVariableValue
from prefect.variables import Variable
from pydantic import BaseModel, Field

__all__ = [
    "ARTIFACT_TYPE",
    "MessageLocation",
    "PostedReview",
    "artifact_key",
    "forget_posted",
    "load_posted",
    "save_posted",
]

ARTIFACT_TYPE = "review-gate-slack"


class MessageLocation(BaseModel):
    channel: str = Field(description="Channel (or DM) id the message is in.")
    ts: str = Field(description="The message's timestamp: its id within the channel.")


class PostedReview(BaseModel):
    review_id: str
    round: int = Field(default=0, description="The content round the messages show.")
    messages: list[MessageLocation] = Field(default_factory=list)
    reminded: bool = Field(default=False, description="Whether the deadline reminder went out.")
    flow_run_id: UUID | None = Field(default=None, description="The review's run: the artifact's run.")
    complete: bool = Field(default=True, description="False while posting: `messages` may miss some.")
    unposted: list[str] = Field(
        default_factory=list, description="Destinations Slack refused when posting; tried again on update."
    )
    withdrawn: bool = Field(default=False, description="The messages were taken back (an edit).")


def artifact_key(review_id: str) -> str:
    return f"review-gate-{review_id}-slack"


async def save_posted(posted: PostedReview) -> None:
    async with get_client() as client:
        await client.create_artifact(
            ArtifactCreate(
                key=artifact_key(posted.review_id),
                type=ARTIFACT_TYPE,
                description=f"Where review {posted.review_id}'s Slack messages are ({len(posted.messages)})",
                data=posted.model_dump(mode="json"),
                flow_run_id=posted.flow_run_id,
            )
        )


async def load_posted(review_id: str) -> PostedReview | None:
    """The review's messages, or None when it was never posted (or withdrawn).

    Raises what the Prefect client raises when Prefect cannot be read: that is not "never posted".
    """
    async with get_client() as client:
        found = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[artifact_key(review_id)])
            ),
            limit=1,
        )
    if found:
        posted = PostedReview.model_validate(found[0].data)
    else:
        # Reviews posted before the artifact kept their locations in a Variable: still theirs.
        legacy: StrictVariableValue = await Variable.aget(f"review-gate-slack-{review_id}", default={})
        if not legacy:
            return None
        posted = PostedReview.model_validate(legacy)
    return None if posted.withdrawn else posted


async def forget_posted(posted: PostedReview) -> None:
    """Record that the messages were withdrawn: the next round is posted anew."""
    await save_posted(posted.model_copy(update={"messages": [], "unposted": [], "withdrawn": True}))
