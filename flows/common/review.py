"""What every agent's flow shares around its gate: the policy from its parameters, then asking its
reviewers and committing what they approved, once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from prefect.client.schemas.objects import State
from pydantic import ValidationError

from prefect_review_gate.flows.common.channels import review_channels
from prefect_review_gate.gates import Action, OnBlocking, ReviewPolicy, commit, outcome_state, request_review
from prefect_review_gate.gates.errors import ReviewClosed
from prefect_review_gate.gates.executors import Executor
from prefect_review_gate.gates.gate import Revalidate
from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.findings import Finding

__all__ = ["review_and_commit", "review_policy"]


def review_policy(
    reviewers: list[str], approvals_required: int, timeout_hours: float, on_blocking: str
) -> ReviewPolicy:
    """The policy a flow's parameters describe. Raises `InputError`, before anything else runs."""
    if on_blocking not in set(OnBlocking):
        choices = ", ".join(mode.value for mode in OnBlocking)
        raise InputError(
            f"the review policy is invalid: on_blocking is {on_blocking!r}, not one of {choices}"
        )
    try:
        return ReviewPolicy(
            reviewers=reviewers,
            approvals_required=approvals_required,
            timeout=timedelta(hours=timeout_hours),
            on_blocking=OnBlocking(on_blocking),
        )
    except ValidationError as exc:
        raise InputError(f"the review policy is invalid: {exc.errors()[0]['msg']}") from None


async def review_and_commit(
    actions: Sequence[Action],
    *,
    policy: ReviewPolicy,
    findings: Sequence[Finding],
    requester: str,
    executors: Mapping[str, Executor],
    revalidate: Revalidate | None = None,
) -> dict[str, Any] | State[Any]:
    """The commit report as JSON, or the run's final state when the review closed unapproved.

    Reviewers are asked in the Prefect UI and the CLI always, and in Slack when it is configured.
    A rejected or expired review commits nothing and ends the run Cancelled, named for why.
    """
    verdict = await request_review(
        actions,
        policy=policy,
        findings=findings,
        requester=requester,
        revalidate=revalidate,
        channels=review_channels(),
    )
    try:
        report = await commit(verdict, executors=executors)
    except ReviewClosed as closed:
        return outcome_state(closed)
    return report.model_dump(mode="json")
