"""Button values the gate signs, so a hand-made payload cannot resume an arbitrary flow run.

A value is `v1.<review id>.<content hash>.<action>.<mac>`, the mac an HMAC-SHA256 over the rest,
keyed by a key derived from the Slack signing secret: the flow (which renders the buttons) and the
server (which reads them) both know that secret, and nobody else does. Bolt has already checked that
Slack sent the request; this checks that the gate made the button.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from prefect_review_gate.gates.proofs import DecisionSigner, derive_key
from prefect_review_gate.validators.errors import InputError

__all__ = ["SLACK_CHANNEL", "ButtonAction", "ButtonValue", "decision_signer", "sign_button", "verify_button"]

SLACK_CHANNEL = "slack"  # the channel name in the proofs of decisions the Slack server forwards

_VERSION = "v1"
_PATTERN = re.compile(r"v1\.([0-9a-f]{1,64})\.([0-9a-f]{64})\.([a-z]{1,16})\.([0-9a-f]{64})")


class ButtonAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    OVERRIDE = "override"  # approve despite blocking findings, with a written reason


@dataclass(frozen=True)
class ButtonValue:
    review_id: str
    content_hash: str
    action: ButtonAction


def _key(secret: str) -> bytes:
    # A derived key: the raw signing secret is Slack's, and stays used for Slack's purpose only.
    return hmac.new(secret.encode(), b"prefect-review-gate button v1", hashlib.sha256).digest()


def _mac(secret: str, review_id: str, content_hash: str, action: str) -> str:
    message = f"{_VERSION}.{review_id}.{content_hash}.{action}".encode()
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign_button(secret: str, review_id: str, content_hash: str, action: ButtonAction) -> str:
    """The value to put on a button for `action` on this review's content."""
    if not secret:
        raise InputError("signing a Slack button needs the signing secret")
    mac = _mac(secret, review_id, content_hash, action)
    return f"{_VERSION}.{review_id}.{content_hash}.{action.value}.{mac}"


def verify_button(secret: str, value: object) -> ButtonValue:
    """The button's review, content and action. Raises `InputError` unless the gate signed it."""
    match = _PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InputError("the button value is not one the review gate made")
    review_id, content, action, mac = match.groups()
    expected = _mac(secret, review_id, content, action)
    if not hmac.compare_digest(expected, mac):
        raise InputError("the button value's signature does not match: it was altered or forged")
    try:
        typed = ButtonAction(action)
    except ValueError:
        raise InputError("the button value names no known action") from None
    return ButtonValue(review_id=review_id, content_hash=content, action=typed)


def decision_signer(secret: str) -> DecisionSigner:
    """How the Slack server vouches for the decisions it forwards, and how the gate checks them.

    Keyed, like the buttons, by a key derived from the signing secret that the flows and the server
    already share: a decision only the Slack server could have sent, after Slack told it who clicked.
    """
    if not secret:
        raise InputError("signing a decision needs the Slack signing secret")
    return DecisionSigner(SLACK_CHANNEL, derive_key(secret, "slack decision v1"))
