"""Typed side effects: what an agent wants done, as data a person can read before it happens.

An agent never performs a side effect; it returns `Action`s. Each kind has a model (what the action
carries), a `preview()` (what a reviewer sees) and, in each flow's own `Executors`, an executor (what
commit runs). Flows define their own kinds by subclassing `Action` with a `kind` literal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prefect_review_gate.validators.errors import InputError

__all__ = [
    "Action",
    "CreateContact",
    "CreateRepository",
    "GitPush",
    "LogNote",
    "PublishProposal",
    "PublishRelease",
    "SendEmail",
    "UpdateDeal",
    "action_kinds",
    "content_hash",
    "parse_action",
    "parse_actions",
]

_KINDS: dict[str, type[Action]] = {}
_EXCERPT = 280


class Action(BaseModel):
    """Base of every side effect. Subclasses set `kind` as a `Literal` with a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    title: ClassVar[str] = "Action"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # Registering on subclassing lets flows define kinds with no extra call.
        super().__pydantic_init_subclass__(**kwargs)
        default = cls.model_fields["kind"].default
        if isinstance(default, str):
            _KINDS[default] = cls

    def preview(self) -> str:
        """Markdown a reviewer reads: what will happen, to whom, with what content."""
        fields = self.model_dump(mode="json", exclude={"kind"})
        lines = [f"**{self.title}** (`{self.kind}`)"]
        lines += [
            f"- {name}: {_excerpt(json.dumps(value, ensure_ascii=False))}" for name, value in fields.items()
        ]
        return "\n".join(lines)


def _excerpt(text: str, limit: int = _EXCERPT) -> str:
    """One line, at most `limit` characters: agent-written text cannot add lines to a preview."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _line(value: object) -> str:
    return _excerpt(str(value), limit=200)


class SendEmail(Action):
    kind: Literal["email.send"] = "email.send"
    title: ClassVar[str] = "Send an e-mail"
    to: list[str] = Field(min_length=1, description="Recipients' addresses.")
    cc: list[str] = Field(default_factory=list, description="Copied addresses.")
    subject: str = Field(description="Subject line.")
    body: str = Field(description="Plain-text body.")

    def preview(self) -> str:
        cc = f"\n- cc: {_line(', '.join(self.cc))}" if self.cc else ""
        return (
            f"**{self.title}** to {_line(', '.join(self.to))}{cc}\n- subject: {_line(self.subject)}\n"
            f"- body: {_excerpt(self.body)}"
        )


class UpdateDeal(Action):
    kind: Literal["crm.update_deal"] = "crm.update_deal"
    title: ClassVar[str] = "Update a CRM deal"
    deal_id: str = Field(description="The deal's id in the CRM.")
    changes: dict[str, Any] = Field(min_length=1, description="Field name -> new value.")

    def preview(self) -> str:
        changes = "\n".join(
            f"- {_line(name)} → {_line(json.dumps(value))}" for name, value in self.changes.items()
        )
        return f"**{self.title}** `{_line(self.deal_id)}`\n{changes}"


class CreateContact(Action):
    kind: Literal["crm.create_contact"] = "crm.create_contact"
    title: ClassVar[str] = "Create a CRM contact"
    name: str
    email: str
    company_id: str


class LogNote(Action):
    kind: Literal["crm.log_note"] = "crm.log_note"
    title: ClassVar[str] = "Log a note on a CRM deal"
    deal_id: str
    body: str


class PublishProposal(Action):
    kind: Literal["proposal.publish"] = "proposal.publish"
    title: ClassVar[str] = "Publish a client proposal"
    client: str = Field(description="Who the proposal is for.")
    name: str = Field(description="File or document name of the proposal.")
    body: str = Field(description="The proposal in markdown.")

    def preview(self) -> str:
        return (
            f"**{self.title}** `{_line(self.name)}` for {_line(self.client)}\n\n> {_excerpt(self.body, 600)}"
        )


class PublishRelease(Action):
    kind: Literal["release.publish"] = "release.publish"
    title: ClassVar[str] = "Publish a release"
    artifact: str
    sha256: str
    version: str


class CreateRepository(Action):
    kind: Literal["git.create_repository"] = "git.create_repository"
    title: ClassVar[str] = "Create a git repository"
    name: str


class GitPush(Action):
    kind: Literal["git.push"] = "git.push"
    title: ClassVar[str] = "Push a git branch"
    branch: str


def action_kinds() -> Mapping[str, type[Action]]:
    """Every action kind known to this process (built-in and flow-defined)."""
    return dict(_KINDS)


def parse_action(data: Mapping[str, Any]) -> Action:
    """Rebuild an action from its JSON form. Unknown kinds are an error, never silently dropped."""
    kind = data.get("kind")
    model = _KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InputError(f"unknown action kind {kind!r}; known kinds: {', '.join(sorted(_KINDS))}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"invalid {kind} action: {where}: {first['msg']}") from None


def parse_actions(items: Iterable[Mapping[str, Any]]) -> list[Action]:
    return [parse_action(item) for item in items]


def content_hash(actions: Sequence[Action]) -> str:
    """sha256 of the actions' canonical JSON: a decision binds to exactly this content."""
    canonical = json.dumps(
        [a.model_dump(mode="json") for a in actions],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
