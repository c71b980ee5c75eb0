"""CLOSER's agent: the request for one deal and the reading of its reply.

One Messages API call per deal. The deal's snapshot goes in as plain-text documents (the deal,
then each note), each under the id the agent cites it by (`deal-1001`, `note-5003`); the request
says which action kinds the person asked for. The agent answers with tool calls, one per proposed
action (`update_deal`, `log_note`, `create_contact`, `send_email`), or with `report_blocker` alone.

All four tools are offered whatever was asked: what the agent *may* do is the request's business,
and a kind it was not asked for must reach the validators as an `unrequested_action` finding that
reviewers see, not vanish because the tool was missing.

The boundary rules and `report_blocker` are every agent's (`flows.common.boundaries`); only their
wording for deal support is CLOSER's. No Prefect import here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_review_gate.flows.closer.actions import CloserAction
from prefect_review_gate.flows.common.boundaries import BLOCKER_TOOL, Blocker, blocker_tool, boundary_rules
from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.common.replies import invalid_call, tool_calls
from prefect_review_gate.gates.actions import CreateContact, LogNote, SendEmail, UpdateDeal

__all__ = ["BOUNDARIES", "TOOL_KINDS", "Proposal", "build_request", "read_reply"]

BOUNDARIES = boundary_rules(
    scope=(
        "Propose only the kinds of action the request allows, only for the deal you are given, and "
        "e-mail only the deal's contacts listed in its document."
    ),
    grounding=(
        "Every fact, figure, name and address must come from the deal's documents; cite them in note "
        "and e-mail bodies with [deal-<id>] or [note-<id>] before the sentence's full stop. Never "
        "invent an e-mail address, a contact, a deal id, an amount or a date; if the documents lack "
        "something the request needs, leave it out and say so."
    ),
    blocked_when=(
        "the documents do not support what is asked, a required contact or figure is missing, the "
        "request contradicts itself"
    ),
    on_block="propose no action",
)

SYSTEM = f"""\
You are CLOSER, an agent that keeps a sales team's CRM deals up to date. You propose CRM changes \
and e-mails; a person reviews every proposal before anything is written or sent, and each one is \
checked against the CRM first.

{BOUNDARIES}
How to answer: call one tool per action you propose, all in one reply, and nothing else. Deal \
fields you may change: name, stage (one of the pipeline's stages, exactly as written), amount (a \
number), contact_ids. Or call {BLOCKER_TOOL} alone when rule 3 applies.
"""


# Tool inputs. No docstrings: pydantic would send them to the model in the schema.
class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UpdateDealInput(_Input):
    deal_id: str = Field(min_length=1, description="The deal's id.")
    changes: dict[str, Any] = Field(min_length=1, description="Deal field -> new value.")


class LogNoteInput(_Input):
    deal_id: str = Field(min_length=1, description="The deal's id.")
    body: str = Field(min_length=1, description="The note, citing the documents.")


class CreateContactInput(_Input):
    name: str = Field(min_length=1, description="The person's full name.")
    email: str = Field(min_length=3, description="Their e-mail address, as the documents give it.")
    company_id: str = Field(min_length=1, description="Their company's id.")


class SendEmailInput(_Input):
    to: list[str] = Field(min_length=1, description="Recipients: addresses of the deal's contacts.")
    cc: list[str] = Field(default_factory=list, description="Copied addresses, also the deal's contacts.")
    subject: str = Field(min_length=1, description="Subject line.")
    body: str = Field(min_length=1, description="Plain-text body, citing the documents.")


_TOOLS: dict[str, tuple[type[_Input], type[CloserAction], str]] = {
    "update_deal": (UpdateDealInput, UpdateDeal, "Propose changing fields of a CRM deal."),
    "log_note": (LogNoteInput, LogNote, "Propose logging a note on a CRM deal."),
    "create_contact": (CreateContactInput, CreateContact, "Propose creating a CRM contact."),
    "send_email": (SendEmailInput, SendEmail, "Propose sending an e-mail."),
}
TOOL_KINDS = {name: model.model_fields["kind"].default for name, (_, model, _) in _TOOLS.items()}
"""Tool name -> the action kind it proposes."""

TOOLS: list[dict[str, Any]] = [
    *(
        {"name": name, "description": description, "input_schema": schema.model_json_schema()}
        for name, (schema, _, description) in _TOOLS.items()
    ),
    blocker_tool(),
]


@dataclass(frozen=True)
class Proposal:
    """The agent's answer for one deal: the actions it proposes, in the order it called the tools."""

    deal_id: str
    actions: tuple[CloserAction, ...]


def build_request(
    deal_id: str, request: str, allowed: Sequence[str], sources: Mapping[str, str]
) -> dict[str, Any]:
    """The Messages API request for one deal (without model and max_tokens: the client adds them).

    Args:
        deal_id: the deal the agent works on.
        request: what the person asked for, in their words.
        allowed: the action kinds the request allows (e.g. `crm.log_note`, `email.send`).
        sources: the deal's documents by id (`sources.deal_sources`).
    """
    documents = [
        {"type": "text", "text": f'<document id="{sid}">\n{text}</document>'}
        for sid, text in sorted(sources.items())
    ]
    kinds = ", ".join(f"{tool} ({kind})" for tool, kind in TOOL_KINDS.items() if kind in allowed) or "none"
    task = (
        f"Deal: {deal_id}\n\nRequest:\n{request.strip()}\n\n"
        f"The request allows these actions: {kinds}. Work from the documents above only, then call the tools."
    )
    return {
        "system": SYSTEM,
        "tools": TOOLS,
        # "any": the answer is tool calls (several allowed); there is no free text to keep.
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": [*documents, {"type": "text", "text": task}]}],
    }


def read_reply(message: Mapping[str, Any], deal_id: str) -> Proposal | Blocker:
    """The agent's answer from a Messages API response (as JSON).

    A `report_blocker` call wins over any other call in the same reply: rule 3 says stop, so
    nothing the agent proposed alongside it is sent for review.

    Raises:
        ModelError: the reply is not a usable answer: not a message, cut off, no tool call, an
            unknown tool, or tool input that does not fit its schema.
    """
    calls = tool_calls(message)
    if not calls:
        raise ModelError(
            f"the model proposed nothing for deal {deal_id}: no tool call and no {BLOCKER_TOOL}; "
            "nothing was sent for review"
        )
    blockers = [c for c in calls if c.get("name") == BLOCKER_TOOL]
    actions: list[CloserAction] = []
    for call in blockers[:1] or calls:
        name, arguments = call.get("name"), call.get("input")
        with invalid_call(name):
            if name == BLOCKER_TOOL:
                return Blocker.from_tool_input(arguments)
            if name not in _TOOLS:
                raise ModelError(f"the model called an unknown tool {name!r}; nothing was sent for review")
            schema, model, _ = _TOOLS[name]
            actions.append(model.model_validate(schema.model_validate(arguments).model_dump()))
    return Proposal(deal_id, tuple(actions))
