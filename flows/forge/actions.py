"""FORGE's action kinds: what an approved proposal may do.

`proposal.publish_file` is FORGE's own kind; `email.send` is the generic one (its executor is the
shared SMTP sink). The destination is part of each action, so reviewers see where the proposal will
go before they approve.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, get_args

from pydantic import Field

from prefect_review_gate.gates.actions import Action, ActionSummary, SendEmail, SummaryField

__all__ = ["ACTION_KINDS", "ForgeAction", "PublishProposalFile"]


class PublishProposalFile(Action):
    """Write the proposal as `<folder>/<name>.md`."""

    kind: Literal["proposal.publish_file"] = "proposal.publish_file"
    title: ClassVar[str] = "Publish a client proposal to a folder"
    client: str = Field(description="Who the proposal is for.")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$", description="File name without .md.")
    folder: str = Field(min_length=1, description="The folder proposals are published to.")
    body: str = Field(description="The proposal in markdown, as reviewed.")

    @property
    def path(self) -> Path:
        return Path(self.folder) / f"{self.name}.md"

    def summary(self) -> ActionSummary:
        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="", value=str(self.path), literal=True),
            fields=(SummaryField(label="for", value=self.client),),
            excerpt=SummaryField(label="proposal", value=self.body),
        )


ForgeAction = PublishProposalFile | SendEmail
# What FORGE may ask to commit, from the one type its publishing step returns (mypy holds the two
# together); tests/test_action_kinds.py checks each has a summary and an executor in executors.py.
ACTION_KINDS: tuple[type[Action], ...] = get_args(ForgeAction)
