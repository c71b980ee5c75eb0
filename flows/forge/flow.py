"""FORGE: Claude writes a client proposal from source documents; validators check it; a person decides.

    sources -> Claude (citations on, one tool call) -> validators -> review gate -> publish (or nothing)

- The agent may answer `report_blocker`, or the model refuse (`stop_reason: "refusal"`): the run ends
  in a state named `Blocked` with the reason (for a refusal, the API's category and explanation).
- A reply in prose without the tool gets one follow-up turn that forces `submit_proposal`.
- A reply that cannot be used, a missing key or missing sources fail the run before any review.
- Claude's call and the draft's artifacts are tasks with persisted, run-scoped results: after a
  suspend the flow body re-runs from the top and gets them back without calling Claude again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact

from prefect_review_gate.flows.common.blocked import stop_blocked, stop_refused
from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.claude_task import claude_task
from prefect_review_gate.flows.common.errors import ModelRefused
from prefect_review_gate.flows.common.review import review_and_commit, review_policy
from prefect_review_gate.flows.common.run_cache import run_scoped_key
from prefect_review_gate.flows.common.smtp import SmtpSettings
from prefect_review_gate.flows.forge import AGENT, REQUESTER
from prefect_review_gate.flows.forge.actions import ForgeAction, PublishProposalFile
from prefect_review_gate.flows.forge.agent import (
    Proposal,
    build_request,
    document_blocks,
    follow_up_request,
    needs_follow_up,
    read_reply,
    with_follow_up,
)
from prefect_review_gate.flows.forge.executors import agent_executors
from prefect_review_gate.gates import (
    Action,
    SendEmail,
)
from prefect_review_gate.validators.claude_citations import validate_claude_citations
from prefect_review_gate.validators.errors import InputError, SourceError
from prefect_review_gate.validators.findings import Finding, Severity
from prefect_review_gate.validators.grounding import validate_draft
from prefect_review_gate.validators.sources import SourceLibrary, read_text_file

__all__ = ["REQUESTER", "check_proposal", "load_sources", "proposal_flow"]

Sink = Literal["folder", "email"]

ask_claude = claude_task(AGENT, description="Tokens and cost of the proposal agent's call")


def load_sources(sources: str | Sequence[str]) -> dict[str, str]:
    """Source texts by id, from a folder or a list of files (id: the file name without extension).

    Raises:
        SourceError: a missing or empty folder, a missing file, two files with one id.
    """
    if isinstance(sources, str):
        library = SourceLibrary.from_folder(sources)
        return {sid: library[sid].text for sid in library}
    if not sources:
        raise SourceError("no source documents were given: pass a folder or a list of files")
    texts: dict[str, str] = {}
    for item in sources:
        path = Path(item)
        if path.stem in texts:
            raise SourceError(f"two source files share the id {path.stem!r}: rename one of them")
        try:
            texts[path.stem] = read_text_file(path, "source file")
        except InputError as exc:
            raise SourceError(str(exc)) from None
    return texts


@task(name="record-draft", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def record_draft(title: str, draft: str, findings: list[dict[str, Any]]) -> None:
    """The draft and its findings, as a reviewer reads them, on the run."""
    lines = [f"# {title}", "", "## Findings", ""]
    if not findings:
        lines.append("None: every citation, quote, number and URL checked is backed by the sources.")
    for raw in findings:
        finding = Finding.model_validate(raw)
        quoted = draft[finding.start : finding.end] if finding.start is not None else ""
        where = f" — “{' '.join(quoted.split())[:120]}”" if quoted else ""
        lines.append(f"- **{finding.severity.value}** `{finding.code}`{where}: {finding.message}")
        if finding.evidence:
            lines.append(f"  - sources say: {' '.join(finding.evidence.split())[:300]}")
    lines += ["", "## Draft", "", draft]
    await acreate_markdown_artifact(
        markdown="\n".join(lines), key=f"{AGENT}-proposal-draft", description="The proposal under review"
    )


def check_proposal(
    proposal: Proposal, message: Mapping[str, Any], sources: Mapping[str, str]
) -> list[Finding]:
    """Claude's own citations and the rendered draft, both on the draft's offsets."""
    documents = document_blocks(sources)
    cited = [proposal.to_draft(f) for f in validate_claude_citations(message, documents)]
    drafted = validate_draft(proposal.draft, SourceLibrary.from_texts(sources))
    return sorted([*cited, *drafted], key=lambda f: (f.start or 0, f.end or 0, f.code))


def _publish_action(
    proposal: Proposal, client: str, sink: Sink, publish_dir: str, email_to: Sequence[str]
) -> ForgeAction:
    if sink == "email":
        if not email_to:
            raise InputError("sink 'email' needs email_to: the addresses the proposal is sent to")
        SmtpSettings.from_env()  # a sink that cannot send is found now, not after someone approved
        return SendEmail(to=list(email_to), subject=proposal.meta.title, body=proposal.draft)
    folder = str(Path(publish_dir).expanduser().resolve())
    return PublishProposalFile(
        client=client, name=proposal.meta.file_name, folder=folder, body=proposal.draft
    )


@flow(name="forge-proposal")
async def proposal_flow(
    brief: str,
    sources: str | list[str],
    client: str,
    reviewers: list[str],
    approvals_required: int = 1,
    timeout_hours: float = 4.0,
    on_blocking: Literal["require_override", "reject"] = "require_override",
    sink: Sink = "folder",
    publish_dir: str = "proposals",
    email_to: list[str] | None = None,
) -> Any:
    """Draft a client proposal with Claude from `sources`, check it, ask `reviewers`, publish on approval.

    Args:
        brief: what the client asked for.
        sources: a folder of text or markdown documents, or a list of files.
        client: who the proposal is for.
        reviewers: who may approve (names as the CLI and UI use them, or Slack ids).
        approvals_required, timeout_hours, on_blocking: the review policy.
        sink: `folder` (markdown files under `publish_dir`) or `email` (SMTP, to `email_to`).
    """
    if not brief.strip() or not client.strip():
        raise InputError("the proposal flow needs a brief and a client")
    policy = review_policy(reviewers, approvals_required, timeout_hours, on_blocking)
    texts = load_sources(sources)
    documents = document_blocks(texts)
    request = build_request(brief, client, documents)
    try:
        message = await ask_claude(request)
        if needs_follow_up(message):
            message = with_follow_up(message, await ask_claude(follow_up_request(request, message)))
        answer = read_reply(message, documents)
    except ModelRefused as refused:
        return await stop_refused(
            refused, artifact_key=f"{AGENT}-blocker", description="Why the model wrote no proposal"
        )
    if isinstance(answer, Blocker):
        return await stop_blocked(
            answer,
            artifact_key=f"{AGENT}-blocker",
            description="Why the proposal agent did not write a proposal",
        )
    findings = check_proposal(answer, message, texts)
    await record_draft(answer.meta.title, answer.draft, [f.model_dump(mode="json") for f in findings])
    action = _publish_action(answer, client, sink, publish_dir, email_to or [])
    library = SourceLibrary.from_texts(texts)

    def revalidate(actions: Sequence[Action]) -> list[Finding]:
        """A reviewer's edit is checked against the same sources before it can commit."""
        found: list[Finding] = []
        for action in actions:
            body = getattr(action, "body", None)
            if isinstance(body, str):
                found += validate_draft(body, library)
            else:
                message = f"a {action.kind} action has no proposal body to check against the sources"
                found.append(Finding(code="unexpected_action", severity=Severity.BLOCK, message=message))
        return found

    return await review_and_commit(
        [action],
        policy=policy,
        findings=findings,
        requester=REQUESTER,
        executors=agent_executors(),
        revalidate=revalidate,
    )
