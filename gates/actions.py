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

from prefect_review_gate.validators import actions as _generic
from prefect_review_gate.validators.actions import (
    GENERIC_KINDS as GENERIC_KINDS,
    Action as Action,
    ActionSummary as ActionSummary,
    CreateContact as CreateContact,
    CreateRepository as CreateRepository,
    GitPush as GitPush,
    LogNote as LogNote,
    PublishRelease as PublishRelease,
    SendEmail as SendEmail,
    SummaryField as SummaryField,
    UpdateDeal as UpdateDeal,
    action_kinds as action_kinds,
    kind_of as kind_of,
    parse_action as parse_action,
    parse_actions as parse_actions,
    summarize as summarize,
)

__all__ = ["content_hash"]
__all__ += _generic.__all__


def content_hash(actions: Sequence[Action]) -> str:
    """sha256 of the actions' canonical JSON: a decision binds to exactly this content."""
    canonical = json.dumps(
        [a.model_dump(mode="json") for a in actions],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
