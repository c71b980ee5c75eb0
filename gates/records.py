"""What a review leaves on Prefect: a record artifact per review, human artifacts, and events.

The record is a keyed artifact (`review-gate-<id>`) whose latest version holds the review's current
state; its type says whether the review is open (`review-gate`) or decided (`review-gate-closed`),
so listing open reviews is one query however many were decided (`review_api`), no worker needed.
Events (`review_gate.requested|approved|rejected|expired|committed`) name the flow run as a related
resource so Prefect automations can notify or count.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import ArtifactCreate
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.events import emit_event

from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.review_api import CLOSED_RECORD_TYPE, OPEN_RECORD_TYPE, parse_record

__all__ = [
    "emit_review_event",
    "load_record",
    "record_key",
    "save_record",
    "write_decision_artifact",
    "write_findings_artifact",
]

_NAMESPACE = uuid.UUID("8f7c2a57-3c1e-4f55-9b0c-6a0e8d1f2b44")


def record_key(review_id: str) -> str:
    return f"review-gate-{review_id}"


async def save_record(client: PrefectClient, record: ReviewRecord) -> None:
    await client.create_artifact(
        ArtifactCreate(
            key=record_key(record.request.id),
            type=OPEN_RECORD_TYPE if record.is_open else CLOSED_RECORD_TYPE,
            description=f"review-gate record: {record.status.value}",
            data=record.model_dump(mode="json"),
            flow_run_id=record.request.flow_run_id,
        )
    )


async def load_record(client: PrefectClient, review_id: str) -> ReviewRecord | None:
    """The latest state of one review, or None when no such review exists."""
    found = await client.read_latest_artifacts(
        artifact_filter=ArtifactCollectionFilter(
            key=ArtifactCollectionFilterKey(any_=[record_key(review_id)])
        ),
        limit=1,
    )
    if not found:
        return None
    return parse_record(found[0].data)


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


async def write_findings_artifact(client: PrefectClient, record: ReviewRecord) -> None:
    request = record.request
    rows = [
        {
            "severity": f.severity.value,
            "code": f.code,
            "message": f.message,
            "where": f.pointer or (f"chars {f.start}-{f.end}" if f.start is not None else ""),
            "evidence": f.evidence or "",
        }
        for f in request.findings
    ]
    await client.create_artifact(
        ArtifactCreate(
            key=f"review-gate-{request.id}-findings",
            type="table",
            description=f"Findings of review {request.id} ({len(rows)})",
            data=rows
            or [{"severity": "", "code": "", "message": "no findings", "where": "", "evidence": ""}],
            flow_run_id=request.flow_run_id,
        )
    )


async def write_decision_artifact(client: PrefectClient, record: ReviewRecord, flow_run_id: UUID) -> None:
    lines = [f"# Review {record.request.id}: {record.status.value}", "", record.note, ""]
    lines += ["| reviewer | outcome | channel | identity | when | comment | override reason | content hash |"]
    lines += ["|---|---|---|---|---|---|---|---|"]
    for vote in record.votes:
        when = vote.decided_at.isoformat() if vote.decided_at else ""
        cells = [
            vote.reviewer + (f" (in {vote.member_of})" if vote.member_of else ""),
            vote.outcome.value,
            vote.channel,
            vote.provenance,
            when,
            vote.comment,
            vote.override_reason,
        ]
        cells = [c.replace("|", "\\|").replace("\n", " ") for c in cells]
        lines.append("| " + " | ".join(cells) + f" | `{vote.content_hash[:12]}` |")
    await client.create_artifact(
        ArtifactCreate(
            key=f"review-gate-{record.request.id}-decision",
            type="markdown",
            description=f"Decision on review {record.request.id}",
            data="\n".join(lines),
            flow_run_id=flow_run_id,
        )
    )
