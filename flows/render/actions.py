"""RENDER's action kinds: what an approved release may do.

`git.tag` is RENDER's own kind (its release notes are the tag's message); `release.publish` and
`git.push` are the generic kinds that `validate-actions` checks. Each carries its destination (the
repository, the release index, the remote), so reviewers see where the release goes; the flow sets
the destinations from its parameters, never the agent.
"""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import Field

from prefect_review_gate.gates.actions import Action, ActionSummary, GitPush, PublishRelease, SummaryField

__all__ = ["ACTION_KINDS", "GitTag", "RenderAction"]


class GitTag(Action):
    """Create the annotated tag `tag` on `commit` in `repository`, with the release notes as its message."""

    kind: Literal["git.tag"] = "git.tag"
    title: ClassVar[str] = "Tag a release commit"
    repository: str = Field(min_length=1, description="The repository the tag is created in.")
    tag: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,99}$", description="The tag's name, e.g. `v1.2.0`."
    )
    commit: str = Field(
        pattern=r"^[0-9a-f]{7,64}$", description="The commit tagged: the one built and tested."
    )
    message: str = Field(min_length=1, description="The tag's message: the release notes, as reviewed.")

    def summary(self) -> ActionSummary:
        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="", value=self.tag, literal=True),
            fields=(
                SummaryField(label="commit", value=self.commit, literal=True),
                SummaryField(label="in", value=self.repository, literal=True),
            ),
            excerpt=SummaryField(label="release notes", value=self.message),
        )


RenderAction = GitTag | PublishRelease | GitPush
# What RENDER may ask to commit, in the order a release happens: tag, publish, then push (which
# carries the tag to the remote). tests/test_action_kinds.py checks each has a summary and an executor.
ACTION_KINDS: tuple[type[Action], ...] = get_args(RenderAction)
