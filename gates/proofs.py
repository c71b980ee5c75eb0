"""Signed decisions: how a channel that verified who acted vouches for the decision it forwards.

A decision reaches the run as a run input anyone with API access could have written. A channel
that checked the person itself (the Slack server: Slack's signed request carries the user id)
adds a proof: an HMAC-SHA256 over everything the decision says, keyed by a secret only that
channel's server and the gate hold. The gate checks it (`DecisionIntake.verifies`) before a
channel-qualified identity counts; without a valid proof such an identity counts for nothing.

A proof is `v1.<channel>.<issued unix seconds>.<hex mac>`. It covers the review, the content
hash, the outcome, the reviewer, the group it was found in, the comment and override reason, and
the edit, so none of them can be changed after signing. A copied proof is only good for the same
vote on the same review and content, which the decision rule counts once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from prefect_review_gate.gates.identity import qualifier

__all__ = [
    "DecisionIntake",
    "DecisionSigner",
    "ProofClaims",
    "derive_key",
    "read_proof",
    "vouching_channel",
]

_VERSION = "v1"
_PROOF = re.compile(r"v1\.([a-z][a-z0-9_-]{0,31})\.([0-9]{1,12})\.([0-9a-f]{64})")


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose from a channel's secret, so the secret itself keeps its own use."""
    return hmac.new(secret.encode(), f"prefect-review-gate {purpose}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class ProofClaims:
    """What a signed decision says, in the order the mac covers it."""

    review_id: str
    content_hash: str
    outcome: str
    reviewer: str
    member_of: str
    comment: str
    override_reason: str
    edited_actions: list[dict[str, Any]] | None

    def message(self, channel: str, issued: int) -> bytes:
        edit = json.dumps(self.edited_actions, sort_keys=True, separators=(",", ":"))
        fields = [
            _VERSION,
            channel,
            str(issued),
            self.review_id,
            self.content_hash,
            self.outcome,
            self.reviewer,
            self.member_of,
            self.comment,
            self.override_reason,
            edit,
        ]
        # Length-prefixed so that no field can borrow characters from its neighbour.
        return b"".join(f"{len(f)}:{f}".encode() for f in fields)


@dataclass(frozen=True)
class DecisionSigner:
    """Signs decisions for one channel. Held by the channel's server (e.g. `review-gate serve`)."""

    channel: str
    key: bytes

    def sign(self, claims: ProofClaims, issued_at: datetime | None = None) -> str:
        issued = int((issued_at or datetime.now(UTC)).timestamp())
        mac = hmac.new(self.key, claims.message(self.channel, issued), hashlib.sha256).hexdigest()
        return f"{_VERSION}.{self.channel}.{issued}.{mac}"

    def verify(self, claims: ProofClaims, proof: str) -> bool:
        parsed = read_proof(proof)
        if parsed is None or parsed[0] != self.channel:
            return False
        expected = hmac.new(self.key, claims.message(self.channel, parsed[1]), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parsed[2])


def read_proof(proof: str) -> tuple[str, int, str] | None:
    """(channel, issued unix seconds, mac) of a well-formed proof, or None."""
    match = _PROOF.fullmatch(proof)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), match.group(3)


@runtime_checkable
class DecisionIntake(Protocol):
    """A channel that verifies who decided, as the gate inside the run sees it.

    Passed to `request_review` among its `channels`; the gate asks it whether a decision's proof
    is its own and whether it vouches for an identity's qualifier (`slack` for `slack:U1`).
    """

    name: str

    def vouches_for(self, qualifier: str) -> bool:
        """True when this channel is the one that verifies identities with this qualifier."""

    def verifies(self, claims: ProofClaims, proof: str) -> bool:
        """True when `proof` is this channel's valid signature over `claims`."""


def vouching_channel(
    claims: ProofClaims, proof: str, identities: Sequence[str], intakes: Sequence[DecisionIntake]
) -> str | None:
    """The channel whose valid proof over `claims` vouches for every qualified identity, or None.

    An asserted name needs no channel; a `slack:` id needs the channel that verifies `slack` ids,
    and a proof from any other channel (or none) leaves it unverified.
    """
    parsed = read_proof(proof) if proof else None
    if parsed is None:
        return None
    intake = next((i for i in intakes if i.name == parsed[0]), None)
    if intake is None or not intake.verifies(claims, proof):
        return None
    if any(qualifier(i) and not intake.vouches_for(qualifier(i)) for i in identities if i):
        return None
    return intake.name
