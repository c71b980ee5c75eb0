"""Action kinds: the typed side effects an agent may propose, each with its own description.

A kind is one class: its fields (what the action carries) and its `summary()` (what a reviewer must
see before it happens, as data). Every surface renders summaries with one renderer of its own
(Slack's Block Kit, the Prefect UI's markdown, the CLI's text), so no surface holds code for a kind.

The generic kinds live here, at the bottom layer, because `review-gate validate-actions` checks
them and validators import neither the gate nor Prefect; the gate re-exports them
(`prefect_review_gate.gates.actions`). A flow defines its own kinds by subclassing `Action` with a
`kind` literal and a `summary()`; subclassing registers the kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prefect_review_gate.validators.errors import InputError

__all__ = [
    "GENERIC_KINDS",
    "Action",
    "ActionSummary",
    "CreateContact",
    "CreateRepository",
    "GitPush",
    "LogNote",
    "PublishRelease",
    "SendEmail",
    "SummaryField",
    "UpdateDeal",
    "action_kinds",
    "kind_of",
    "parse_action",
    "parse_actions",
    "summarize",
]

_KINDS: dict[str, type[Action]] = {}


class SummaryField(BaseModel):
    """One labeled value of a summary, as the agent wrote it: surfaces escape and cut it."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="What the value is, e.g. `subject`; empty when the headline says it.")
    value: str
    literal: bool = Field(
        default=False, description="An id, path, digest or version: shown verbatim (monospace), not as prose."
    )


class ActionSummary(BaseModel):
    """What a reviewer must see of one action, as data rather than markup.

    Values are as given (not escaped, not cut, possibly several lines): each surface knows its own
    escaping and length limits, and agent-written text must never add lines to what it shows.
    """

    model_config = ConfigDict(frozen=True)

    headline: str = Field(description="What will happen, e.g. `Send an e-mail`.")
    destination: SummaryField | None = Field(
        default=None, description="To whom or to what: recipients, a deal, a path. Shown with the headline."
    )
    fields: tuple[SummaryField, ...] = Field(default=(), description="Other values a reviewer must check.")
    excerpt: SummaryField | None = Field(
        default=None, description="The long text that goes out (a body); surfaces show its beginning."
    )


def _as_text(value: object) -> str:
    # JSON keeps types visible to a reviewer: "1" and 1, "" and null differ.
    return json.dumps(value, ensure_ascii=False)


def _field_summary(headline: str, fields: Mapping[str, Any]) -> ActionSummary:
    """Every field as given: for a kind that describes itself no better, or one not known here."""
    return ActionSummary(
        headline=headline,
        fields=tuple(SummaryField(label=name, value=_as_text(value)) for name, value in fields.items()),
    )


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

    def summary(self) -> ActionSummary:
        """What a reviewer must see. Every shipped kind overrides this (a test checks); the default
        lists the fields as given, so a kind written elsewhere is still shown in full."""
        return _field_summary(f"{self.title} ({self.kind})", self.model_dump(mode="json", exclude={"kind"}))


def kind_of(model: type[Action]) -> str:
    """The kind string a model declares (its `kind` literal's default)."""
    default = model.model_fields["kind"].default
    if not isinstance(default, str):
        raise TypeError(f"{model.__name__} declares no kind: give `kind` a Literal default")
    return default


class SendEmail(Action):
    kind: Literal["email.send"] = "email.send"
    title: ClassVar[str] = "Send an e-mail"
    to: list[str] = Field(min_length=1, description="Recipients' addresses.")
    cc: list[str] = Field(default_factory=list, description="Copied addresses.")
    subject: str = Field(description="Subject line.")
    body: str = Field(description="Plain-text body.")

    def summary(self) -> ActionSummary:
        cc = (SummaryField(label="cc", value=", ".join(self.cc)),) if self.cc else ()
        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="to", value=", ".join(self.to)),
            fields=(*cc, SummaryField(label="subject", value=self.subject)),
            excerpt=SummaryField(label="body", value=self.body),
        )


class UpdateDeal(Action):
    kind: Literal["crm.update_deal"] = "crm.update_deal"
    title: ClassVar[str] = "Update a CRM deal"
    deal_id: str = Field(description="The deal's id in the CRM.")
    changes: dict[str, Any] = Field(min_length=1, description="Field name -> new value.")
    before: dict[str, Any] = Field(
        default_factory=dict,
        description="Field name -> its value in the CRM when the change was proposed, filled from the CRM "
        "(not by the agent) so reviewers see before and after; `validate-actions` checks it.",
    )

    def summary(self) -> ActionSummary:
        def change(name: str, value: Any) -> str:
            was = f"{_as_text(self.before[name])} " if name in self.before else ""
            return f"{was}→ {_as_text(value)}"

        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="", value=self.deal_id, literal=True),
            fields=tuple(
                SummaryField(label=name, value=change(name, value)) for name, value in self.changes.items()
            ),
        )


class CreateContact(Action):
    kind: Literal["crm.create_contact"] = "crm.create_contact"
    title: ClassVar[str] = "Create a CRM contact"
    name: str = Field(description="The person's name.")
    email: str = Field(description="Their e-mail address.")
    company_id: str = Field(description="Their company's id in the CRM.")

    def summary(self) -> ActionSummary:
        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="", value=self.name),
            fields=(
                SummaryField(label="email", value=self.email),
                SummaryField(label="company", value=self.company_id, literal=True),
            ),
        )


class LogNote(Action):
    kind: Literal["crm.log_note"] = "crm.log_note"
    title: ClassVar[str] = "Log a note on a CRM deal"
    deal_id: str = Field(description="The deal's id in the CRM.")
    body: str = Field(description="The note's text.")

    def summary(self) -> ActionSummary:
        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="", value=self.deal_id, literal=True),
            excerpt=SummaryField(label="note", value=self.body),
        )


class PublishRelease(Action):
    kind: Literal["release.publish"] = "release.publish"
    title: ClassVar[str] = "Publish a release"
    artifact: str = Field(description="The release file, relative to the build workspace.")
    sha256: str = Field(description="The file's sha256 digest, hex.")
    version: str = Field(description="The version released.")
    # Optional, so proposals written to the `validate-actions` contract stay valid: a flow that knows
    # where the file goes and what it was tested with says so, and reviewers see it.
    destination: str = Field(
        default="", description="Where the file is copied: a release folder or a PEP 503 simple index."
    )
    tests: str = Field(
        default="", description="The test run behind the release, as the build counted it (`12 passed, ...`)."
    )

    def summary(self) -> ActionSummary:
        to = (SummaryField(label="to", value=self.destination, literal=True),) if self.destination else ()
        tests = (SummaryField(label="tests", value=self.tests),) if self.tests else ()
        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="", value=self.version, literal=True),
            fields=(
                *to,
                SummaryField(label="artifact", value=self.artifact, literal=True),
                SummaryField(label="sha256", value=self.sha256, literal=True),
                *tests,
            ),
        )


class CreateRepository(Action):
    kind: Literal["git.create_repository"] = "git.create_repository"
    title: ClassVar[str] = "Create a git repository"
    name: str = Field(description="The repository's name.")

    def summary(self) -> ActionSummary:
        return ActionSummary(
            headline=self.title, destination=SummaryField(label="", value=self.name, literal=True)
        )


class GitPush(Action):
    kind: Literal["git.push"] = "git.push"
    title: ClassVar[str] = "Push a git branch"
    branch: str = Field(description="The branch pushed.")
    remote: str = Field(
        default="", description="The remote pushed to (a URL or a path), when the flow names it."
    )

    def summary(self) -> ActionSummary:
        to = (SummaryField(label="to", value=self.remote, literal=True),) if self.remote else ()
        return ActionSummary(
            headline=self.title,
            destination=SummaryField(label="", value=self.branch, literal=True),
            fields=to,
        )


GENERIC_KINDS: tuple[type[Action], ...] = (
    UpdateDeal,
    CreateContact,
    LogNote,
    SendEmail,
    PublishRelease,
    CreateRepository,
    GitPush,
)
"""The kinds of the `validate-actions` contract (docs/architecture.md): each has a rule in `proposals`."""


def action_kinds() -> Mapping[str, type[Action]]:
    """Every action kind known to this process: the generic ones and those of imported flows."""
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


def summarize(data: Mapping[str, Any]) -> ActionSummary:
    """The summary of an action in its JSON form, as every surface shows it.

    A kind defined by a flow module this process has not imported (or data its model refuses) gets
    its fields as given rather than an error: a reviewer must still see what they approve.
    """
    try:
        return parse_action(data).summary()
    except InputError:
        kind = data.get("kind", "(no kind)")
        known = isinstance(kind, str) and kind in _KINDS
        why = "fields do not fit the kind" if known else "kind not imported here"
        fields = {name: value for name, value in data.items() if name != "kind"}
        return _field_summary(f"{kind} ({why}; fields as given)", fields)
