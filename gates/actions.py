"""Typed side effects as the gate handles them: the action kinds, and the hash a decision binds to.

An agent never performs a side effect; it returns `Action`s. Each kind is one class with its fields
and its `summary()` (what a reviewer sees); its executor (what commit runs) lives in each flow's own
`Executors`. The generic kinds are defined with the validators (`validators.actions`), which check
them and may not import the gate; they are re-exported here, where flows and the gate take them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from prefect_review_gate.validators.actions import (
    GENERIC_KINDS,
    Action,
    ActionSummary,
    CreateContact,
    CreateRepository,
    GitPush,
    LogNote,
    PublishRelease,
    SendEmail,
    SummaryField,
    UpdateDeal,
    action_kinds,
    parse_action,
    parse_actions,
    summarize,
)

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
    "content_hash",
    "parse_action",
    "parse_actions",
    "summarize",
]


def content_hash(actions: Sequence[Action]) -> str:
    """sha256 of the actions' canonical JSON: a decision binds to exactly this content."""
    canonical = json.dumps(
        [a.model_dump(mode="json") for a in actions],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
