"""The review's events: `review_gate.<event>` for Prefect's event feed and automations.

Events (`review_gate.requested|vote|refused|edited|approved|rejected|expired|abandoned|
delivery_failed`, and `.committed` from commit) are about the review as a resource and name its flow
run and requester as related resources, so automations can notify, count and filter by agent.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect.events import emit_event

from prefect_review_gate.gates.request import ReviewRecord

__all__ = ["emit_review_event"]

_NAMESPACE = uuid.UUID("8f7c2a57-3c1e-4f55-9b0c-6a0e8d1f2b44")


def emit_review_event(
    event: str, record: ReviewRecord, payload: dict[str, Any] | None = None, sequence: str = ""
) -> None:
    """Emit `review_gate.<event>` about a review, related to its flow run.

    The event id is derived from the review, the event and `sequence`, so a flow that re-runs after a
    suspend replays the same ids instead of announcing the same thing twice.
    """
    request = record.request
    emit_event(
        event=f"review_gate.{event}",
        resource={
            "prefect.resource.id": f"review-gate.review.{request.id}",
            "prefect.resource.name": f"review {request.id}",
        },
        related=[
            {
                "prefect.resource.id": f"prefect.flow-run.{request.flow_run_id}",
                "prefect.resource.role": "flow-run",
            },
            {
                "prefect.resource.id": f"review-gate.requester.{request.requester}",
                "prefect.resource.role": "requester",
            },
        ],
        payload={
            "review_id": request.id,
            "status": record.status.value,
            "content_hash": request.content_hash,
            "actions": len(request.actions),
            "findings": len(request.findings),
            **(payload or {}),
        },
        id=uuid.uuid5(_NAMESPACE, f"{request.id}:{request.round}:{event}:{sequence}"),
    )
