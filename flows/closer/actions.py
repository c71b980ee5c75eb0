"""CLOSER's action kinds: what an approved deal update may do. All four are generic kinds.

`validate-actions` already checks them against the CRM and the sources (unknown records, recipients
who are no contact, unrequested kinds, invalid stages and fields, ungrounded note and e-mail text),
so CLOSER defines no kind of its own. The flow fills `UpdateDeal.before` from the CRM, so a
reviewer sees what each change replaces.
"""

from __future__ import annotations

from typing import get_args

from prefect_review_gate.gates.actions import Action, CreateContact, LogNote, SendEmail, UpdateDeal

__all__ = ["ACTION_KINDS", "CloserAction"]

CloserAction = UpdateDeal | LogNote | CreateContact | SendEmail
# What CLOSER may ask to commit, from the one type its proposing step returns (mypy holds the two
# together); tests/test_action_kinds.py checks each has a summary and an executor in executors.py.
ACTION_KINDS: tuple[type[Action], ...] = get_args(CloserAction)
