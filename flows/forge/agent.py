"""FORGE's agent: the proposal request and the reading of its reply.

One Messages API call. The sources go in as document blocks with citations enabled; the agent
writes the proposal as text (the API attaches citations to text blocks only) and then answers
through exactly one tool (`disable_parallel_tool_use`): `submit_proposal` (the proposal's name and
title) or `report_blocker`. The tool call is the structured answer; the cited text before it is the
draft. Tool input carries no citations, so the draft never goes through a tool: that would throw
its citations away.

A proposal is accepted only from `stop_reason: "tool_use"`. When the model ends its turn in prose
without the tool (`end_turn`), one follow-up turn forces `submit_proposal` and the first turn's
cited text stays the draft (`follow_up_request`, `with_follow_up`). A refusal, a truncated or a
paused reply is `flows.common.replies`' to say.

Harmless slips in the tool input are mended rather than failed: a title over 200 characters is cut,
a file name in capitals or with spaces is slugified, a `null` list reads as empty. A file name with
a path in it, or anything else off the schema, fails before review with the field and the value.

The boundary rules and `report_blocker` are every agent's (`flows.common.boundaries`); only their
wording for proposals is FORGE's.

The draft is rendered as markdown with `[source-id]` markers placed where Claude's citations end,
so the same text can be checked by `validate_draft` and published as it was reviewed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prefect_review_gate.flows.common.boundaries import BLOCKER_TOOL, Blocker, blocker_tool, boundary_rules
from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.common.replies import FINISHED, invalid_call, stop_reason, tool_calls
from prefect_review_gate.validators.findings import Finding

__all__ = [
    "BOUNDARIES",
    "SUBMIT_TOOL",
    "Proposal",
    "ProposalMeta",
    "build_request",
    "document_blocks",
    "follow_up_request",
    "needs_follow_up",
    "read_reply",
    "with_follow_up",
]

SUBMIT_TOOL = "submit_proposal"

BOUNDARIES = boundary_rules(
    scope="Write one proposal and nothing else.",
    grounding=(
        "Every fact, figure, quote and URL must come from the supplied documents and carry its "
        "citation. If the documents do not hold a fact the brief asks for, leave it out and say so; "
        "never estimate, round or invent it."
    ),
    blocked_when=(
        "the documents do not support the brief, the brief contradicts itself, something required is missing"
    ),
    on_block="write no proposal text",
)

SYSTEM = f"""\
You are FORGE, an agent that writes client proposals from source documents. A person reviews \
every proposal before it is published; your draft is checked against the documents first.

{BOUNDARIES}
How to answer: write the proposal in markdown as your reply text, citing the documents for every \
claim. Your reply text is published as the proposal, word for word: no preamble, no remarks about \
these instructions or the tools. Then call exactly one tool: {SUBMIT_TOOL} with the proposal's \
title and file name, or {BLOCKER_TOOL} (with no proposal text before it) when rule 3 applies.
"""


TITLE_MAX = 200
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class ProposalMeta(BaseModel):
    """The structured half of a proposal: what `submit_proposal` carries."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _mend(cls, data: Any) -> Any:
        """Cut a long title, slugify a file name; a path in the file name is left to fail."""
        if not isinstance(data, Mapping):
            return data
        mended = dict(data)
        title = mended.get("title")
        if isinstance(title, str) and len(title.strip()) > TITLE_MAX:
            mended["title"] = title.strip()[:TITLE_MAX].rstrip()
        name = mended.get("file_name")
        if isinstance(name, str) and not any(part in name for part in ("/", "\\", "..")):
            slug = _NOT_SLUG.sub("-", name.strip().lower().removesuffix(".md")).strip("-")[:80].rstrip("-")
            mended["file_name"] = slug or name
        return mended

    title: str = Field(min_length=1, max_length=200, description="The proposal's title.")
    file_name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,79}$",
        description="A short slug for the published file: lowercase letters, digits and dashes.",
    )


TOOLS: list[dict[str, Any]] = [
    {
        "name": SUBMIT_TOOL,
        "description": "Submit the proposal written in your reply text for human review.",
        "input_schema": ProposalMeta.model_json_schema(),
    },
    blocker_tool(),
]


@dataclass(frozen=True)
class Proposal:
    """The agent's proposal: its metadata, the rendered draft and where Claude's text maps into it."""

    meta: ProposalMeta
    draft: str
    spans: tuple[tuple[int, int, int, int, int], ...]  # (resp start, resp end, draft start, insert, len)

    def to_draft(self, finding: Finding) -> Finding:
        """A finding on Claude's response text, moved onto the rendered draft's offsets."""
        if finding.start is None or finding.end is None:
            return finding
        return finding.model_copy(update={"start": self._map(finding.start), "end": self._map(finding.end)})

    def _map(self, offset: int) -> int:
        for start, end, draft_start, insert, length in self.spans:
            if start <= offset <= end:
                moved = draft_start + (offset - start)
                return moved + length if offset - start > insert else moved
        return len(self.draft)


def document_blocks(sources: Mapping[str, str]) -> list[dict[str, Any]]:
    """Document blocks in id order, citations enabled; the title is the source id markers use."""
    return [
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
            "title": source_id,
            "citations": {"enabled": True},
        }
        for source_id, text in sorted(sources.items())
    ]


def build_request(brief: str, client: str, documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The Messages API request (without model and max_tokens, which the client's settings add)."""
    task = (
        f"Client: {client}\n\nBrief:\n{brief.strip()}\n\n"
        "Write the proposal from the documents above only, then call one tool."
    )
    return {
        "system": SYSTEM,
        "tools": TOOLS,
        # "auto": text and its citations first, then the tool call. Forcing a tool would suppress the
        # text, and with it the citations. One call at most (platform docs, "Parallel tool use").
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": [*documents, {"type": "text", "text": task}]}],
    }


FOLLOW_UP = (
    f"You ended your turn without calling a tool. Call {SUBMIT_TOOL} now with the title and file name "
    "of the proposal you wrote above; write no more text."
)


def needs_follow_up(message: Mapping[str, Any]) -> bool:
    """The model finished in prose with no tool call: one more turn may get its `submit_proposal`.

    Raises:
        ModelRefused, ModelError: a refusal, a truncated or paused reply (`replies.stop_reason`).
    """
    finished = stop_reason(message) in FINISHED
    texts = [b for b in message["content"] if isinstance(b, Mapping) and b.get("type") == "text"]
    return finished and not tool_calls(message) and any(str(b.get("text") or "").strip() for b in texts)


def follow_up_request(request: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    """The first request, the model's prose turn, and a user turn that forces `submit_proposal`."""
    turn = {"role": "assistant", "content": [_as_param(b) for b in message["content"]]}
    ask = {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]}
    return {
        **request,
        "messages": [*request["messages"], turn, ask],
        "tool_choice": {"type": "tool", "name": SUBMIT_TOOL, "disable_parallel_tool_use": True},
    }


def with_follow_up(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """One reply from the two turns: the first turn's cited text, then the follow-up's tool call.

    The draft and its citations stay the first turn's (the follow-up writes no text); the stop
    reason is the follow-up's, so a second turn without the tool is still refused.
    """
    texts = [b for b in first["content"] if isinstance(b, Mapping) and b.get("type") == "text"]
    calls = [b for b in second.get("content") or [] if isinstance(b, Mapping) and b.get("type") == "tool_use"]
    return {**second, "content": [*texts, *calls]}


def _as_param(block: Mapping[str, Any]) -> dict[str, Any]:
    """A content block of a reply as a request may send it back: fields the API left null dropped."""
    clean = {k: v for k, v in block.items() if v is not None}
    if isinstance(clean.get("citations"), list):
        clean["citations"] = [{k: v for k, v in c.items() if v is not None} for c in clean["citations"]]
    return clean


def read_reply(message: Mapping[str, Any], documents: Sequence[Mapping[str, Any]]) -> Proposal | Blocker:
    """The agent's answer from a Messages API response (as JSON): only from `stop_reason: "tool_use"`.

    Raises:
        ModelRefused: the model refused (the flow ends the run Blocked).
        ModelError: the reply is not a usable answer: truncated or paused, ended without a tool
            call, more than one call, an unknown tool, tool input that does not fit its schema
            (field and value named), or no proposal text.
    """
    reason = stop_reason(message)
    calls = tool_calls(message)
    content: list[Any] = message["content"]
    if reason != "tool_use" and not calls:
        raise ModelError(
            f"the model ended its turn ({reason}) without calling {SUBMIT_TOOL} or {BLOCKER_TOOL}; "
            "nothing was sent for review"
        )
    if len(calls) != 1:
        raise ModelError(
            f"the model answered with {len(calls)} tool calls, not exactly one of "
            f"{SUBMIT_TOOL}/{BLOCKER_TOOL}; nothing was sent for review"
        )
    call = calls[0]
    name, arguments = call.get("name"), call.get("input")
    with invalid_call(name):
        if name == BLOCKER_TOOL:
            if isinstance(arguments, Mapping) and arguments.get("missing", ()) is None:
                arguments = {**arguments, "missing": []}  # a null list says nothing is missing
            return Blocker.from_tool_input(arguments)
        if name != SUBMIT_TOOL:
            raise ModelError(f"the model called an unknown tool {name!r}; nothing was sent for review")
        meta = ProposalMeta.model_validate(arguments)
    if reason != "tool_use":
        raise ModelError(
            f"the model called {name} but its reply stopped with {reason!r}, not tool_use; "
            "nothing was sent for review"
        )
    draft, spans = _render(content, documents)
    if not draft.strip():
        raise ModelError(
            "the model submitted a proposal without writing any text; nothing was sent for review"
        )
    return Proposal(meta, draft, spans)


_TRAILING = re.compile(r"[\s.,;:!?]*$")


def _render(
    content: Sequence[Any], documents: Sequence[Mapping[str, Any]]
) -> tuple[str, tuple[tuple[int, int, int, int, int], ...]]:
    """Markdown with `[id]` markers where cited blocks end, and the offset map from response to draft."""
    titles = [str(d.get("title") or f"document-{i}") for i, d in enumerate(documents)]
    parts: list[str] = []
    spans: list[tuple[int, int, int, int, int]] = []
    response_at = draft_at = 0
    for block in content:
        if not isinstance(block, Mapping) or block.get("type") != "text":
            continue
        text = block.get("text")
        if not isinstance(text, str):
            raise ModelError("a text block of the model's reply has no text")
        ids: list[str] = []
        for citation in block.get("citations") or []:
            index = citation.get("document_index") if isinstance(citation, Mapping) else None
            if isinstance(index, int) and 0 <= index < len(titles) and titles[index] not in ids:
                ids.append(titles[index])
        # The marker goes before the block's closing punctuation, so it belongs to that sentence.
        insert = _TRAILING.search(text).start() if ids else len(text)  # type: ignore[union-attr]
        marker = f" [{', '.join(ids)}]" if ids else ""
        rendered = text[:insert] + marker + text[insert:]
        spans.append((response_at, response_at + len(text), draft_at, insert, len(marker)))
        parts.append(rendered)
        response_at += len(text)
        draft_at += len(rendered)
    return "".join(parts), tuple(spans)
