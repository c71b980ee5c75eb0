"""A second decision channel, built only on the gate's public seams: proof that adding one needs no
change to the core.

An approval tool elsewhere (a ticket system, a mobile app) knows who its user is and POSTs
`{"review_id", "outcome", "user", "comment", "override_reason"}` to `/decisions`, signed with a
secret it shares with this intake (`X-Signature: sha256=<hex hmac of the body>`). The intake checks
the signature, names the person `hook:<user>`, lets the decision rule speak first
(`reviews.decide` applies it) and forwards the decision signed as channel `webhook`. Inside the run,
`WebhookIntake` is the `DecisionIntake` that lets the gate believe `hook:` identities.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from aiohttp import web

from prefect_review_gate.gates import reviews
from prefect_review_gate.gates.decision import Outcome
from prefect_review_gate.gates.proofs import DecisionSigner, ProofClaims, derive_key
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.validators import InputError, ReviewGateError, UnauthorizedReviewer

CHANNEL = "webhook"
QUALIFIER = "hook"


def decision_signer(secret: str) -> DecisionSigner:
    return DecisionSigner(CHANNEL, derive_key(secret, "webhook decision v1"))


class WebhookIntake:
    """The gate's side: a `ReviewChannel` with nothing to show, and a `DecisionIntake` for `hook:`."""

    name = CHANNEL

    def __init__(self, secret: str) -> None:
        self._signer = decision_signer(secret)

    def vouches_for(self, qualifier: str) -> bool:
        return qualifier == QUALIFIER

    def verifies(self, claims: ProofClaims, proof: str) -> bool:
        return self._signer.verify(claims, proof)

    async def notify(self, record: ReviewRecord) -> None:
        """The approval tool polls `review-gate pending --json`; nothing to push."""

    async def update(self, record: ReviewRecord) -> None:
        """Nothing to keep up to date."""

    async def withdraw(self, record: ReviewRecord) -> None:
        """Nothing to take back."""


def body_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_app(sender_secret: str, decision_secret: str) -> web.Application:
    """The intake's HTTP side: verify the sender, then decide through the same rule and API."""
    signer = decision_signer(decision_secret)

    async def decisions(request: web.Request) -> web.Response:
        body = await request.read()
        if not hmac.compare_digest(
            body_signature(sender_secret, body), request.headers.get("X-Signature", "")
        ):
            return web.json_response({"error": "bad signature"}, status=401)
        try:
            data: dict[str, Any] = json.loads(body)
            outcome = Outcome(data["outcome"])
            user = str(data["user"]).strip()
            review_id = str(data["review_id"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "not a decision"}, status=400)
        if not user:
            return web.json_response({"error": "not a decision"}, status=400)
        try:
            await reviews.decide(
                review_id,
                outcome,
                f"{QUALIFIER}:{user}",
                comment=str(data.get("comment") or ""),
                override_reason=str(data.get("override_reason") or ""),
                signer=signer,
            )
        except UnauthorizedReviewer as exc:
            return web.json_response({"error": str(exc)}, status=403)
        except InputError as exc:
            return web.json_response({"error": str(exc)}, status=422)
        except ReviewGateError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response({"sent": True}, status=202)

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post("/decisions", decisions)
    return app
