"""Which earlier runs of a flow started committing the same content: the restart after a kill -9.

A flow run started again after its process was killed (an in-process run has no retry: it is a new
run) opens a new review, with new idempotency keys, of the same content. If the killed run was in
the middle of an action, approving the new review would repeat the effect. So every commit first
notes itself under its flow and content, and, for each action, looks at the most recent run noted
before it that got as far as that action (runs refused before it are skipped):

- that run's action is interrupted (claimed, no outcome, not resolved): this one refuses
  (`CommitInterrupted`) and names it, until a person resolves it;
- a person resolved it as run: this one records it as done by that run and runs nothing;
- anything else (committed, cleared, resolved as not run): this one runs as usual. A flow that
  sends the same content again next week, after a clean commit, sends it again.

The index is an artifact, `review-gate-commits-<digest of flow id and content hash>`, one version
per review that started committing. It only points at runs; what happened is read from each run's
write-once ledger records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import httpx

from prefect_review_gate.gates.commit_log import ActionLog, action_prefix, read_action_logs, review_prefix
from prefect_review_gate.gates.store import ApiRequester
from prefect_review_gate.gates.store_client import open_api
from prefect_review_gate.validators.errors import ReviewGateError
from prefect_review_gate.validators.findings import Finding, Severity

__all__ = [
    "EarlierAction",
    "EarlierCommit",
    "deciding_log",
    "earlier_commits",
    "interrupted_findings",
    "note_and_read_earlier",
]

_INDEX_TYPE = "review-gate-commit-index"
_KEEP = 50  # versions read: enough to find this review's own note among recent retries


def _index_key(flow_id: UUID, content_hash: str) -> str:
    digest = hashlib.sha256(f"{flow_id}:{content_hash}".encode()).hexdigest()[:24]
    return f"review-gate-commits-{digest}"


@dataclass(frozen=True)
class EarlierCommit:
    review_id: str
    flow_run_id: UUID


async def _notes(api: ApiRequester, flow_id: UUID, content_hash: str) -> list[EarlierCommit]:
    """The reviews that started committing this content, newest first."""
    body = {
        "artifacts": {"key": {"any_": [_index_key(flow_id, content_hash)]}},
        "sort": "CREATED_DESC",
        "limit": _KEEP,
    }
    response = await api.request("POST", "/artifacts/filter", json=body)
    response.raise_for_status()
    notes = []
    for item in response.json() or []:
        data = item.get("data")
        if isinstance(data, dict) and data.get("review_id") and data.get("flow_run_id"):
            try:
                notes.append(EarlierCommit(str(data["review_id"]), UUID(str(data["flow_run_id"]))))
            except ValueError:
                continue  # not a note of the gate's: it points at nothing
    return notes


def _older(notes: list[EarlierCommit], review_id: str) -> list[EarlierCommit]:
    own = next((n for n, note in enumerate(notes) if note.review_id == review_id), None)
    older = notes[own + 1 :] if own is not None else notes
    return [note for note in older if note.review_id != review_id]


async def earlier_commits(
    api: ApiRequester, flow_id: UUID, content_hash: str, review_id: str
) -> list[EarlierCommit]:
    """The other reviews that started committing this content before `review_id` did, newest first."""
    return _older(await _notes(api, flow_id, content_hash), review_id)


async def note_and_read_earlier(
    api: ApiRequester, flow_id: UUID, content_hash: str, review_id: str, flow_run_id: UUID
) -> list[EarlierCommit]:
    """Note that `review_id` starts committing this content (once: a retry finds its note), and
    return the reviews that did before it, newest first."""
    notes = await _notes(api, flow_id, content_hash)
    if not any(note.review_id == review_id for note in notes):
        body = {
            "key": _index_key(flow_id, content_hash),
            "type": _INDEX_TYPE,
            "description": f"review-gate: review {review_id} started committing this content",
            "data": {"review_id": review_id, "flow_run_id": str(flow_run_id)},
            # Not linked to the run: its Artifacts tab keeps one card per review, for people.
        }
        (await api.request("POST", "/artifacts/", json=body)).raise_for_status()
    return _older(notes, review_id)


@dataclass(frozen=True)
class EarlierAction:
    """The same action (index and content) in the earlier review: its idempotency key there."""

    commit: EarlierCommit
    index: int
    key: str


async def deciding_log(
    api: ApiRequester, earlier: Sequence[EarlierAction]
) -> tuple[EarlierAction, ActionLog] | None:
    """The most recent earlier run that got as far as this action, and its records of it."""
    for same in earlier:
        prefix = action_prefix(same.commit.review_id, same.index, same.key)
        log = (await read_action_logs(api, same.commit.flow_run_id, prefix + "-")).get(prefix)
        if log is not None:
            return same, log
    return None


async def interrupted_findings(flow_id: UUID, content_hash: str, review_id: str) -> list[Finding]:
    """A warning for reviewers when the most recent run that committed this content was interrupted.

    Only a warning: whatever the reviewers decide, `commit` refuses until a person resolves the
    earlier run. It is shown so that nobody approves blind; when the API cannot say, there is none.
    """
    try:
        async with open_api() as api:
            for latest in await earlier_commits(api, flow_id, content_hash, review_id):
                logs = await read_action_logs(api, latest.flow_run_id, review_prefix(latest.review_id))
                if logs:
                    break
            else:
                return []
    except (httpx.HTTPError, ReviewGateError):
        return []
    interrupted = sorted(log.prefix.rsplit("-", 2)[-2] for log in logs.values() if log.open_claim)
    if not interrupted:
        return []
    return [
        Finding(
            code="earlier_commit_interrupted",
            severity=Severity.WARN,
            message=(
                f"An earlier run of this flow (review {latest.review_id}, flow run {latest.flow_run_id}) was "
                f"interrupted while committing this same content (action {', '.join(interrupted)}): it may "
                "have happened. This review commits nothing until a person runs "
                f"`review-gate commits resolve {latest.review_id}`; if it ran, it is not run again."
            ),
        )
    ]
