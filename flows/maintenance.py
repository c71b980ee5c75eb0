"""The review sweeper: expire suspended reviews past their deadline, on a schedule.

A run paused in-process expires itself at its deadline; a suspended run (from a deployment) has no
process to do that. `review-gate serve` sweeps while it runs; this flow, deployed with a schedule
in prefect.yaml, does it without Slack or any long-running process.
"""

from __future__ import annotations

from prefect import flow
from prefect.logging import get_run_logger

from prefect_review_gate.gates.reviews import sweep_reviews

__all__ = ["expire_overdue_reviews"]


@flow(name="review-gate-expire-overdue", log_prints=False)
async def expire_overdue_reviews() -> list[str]:
    """Expire waiting reviews past their deadline and close orphaned ones; return the expired ids."""
    report = await sweep_reviews()
    logger = get_run_logger()
    if report.expired:
        logger.info(
            "Expired %d review(s) past their deadline: %s", len(report.expired), ", ".join(report.expired)
        )
    if report.abandoned:
        logger.info(
            "Closed %d orphaned review(s) as abandoned: %s",
            len(report.abandoned),
            ", ".join(report.abandoned),
        )
    return report.expired
