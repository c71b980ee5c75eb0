"""`review-gate-report`: the monitoring figures as Prefect artifacts, each agent's fabrication rate as events.

Deployed daily (prefect.yaml). Each run:

- publishes `review-gate stats` for the last `since_hours` as a markdown artifact under the key
  `review-gate-report` (a small chart per agent, then details) and a table artifact under
  `review-gate-report-table`: the same keys every run, so the UI's Artifacts page keeps the
  history, one version a day;
- emits `review_gate.fabrication_rate` for every agent with reviews in the last
  `fabrication_window_hours`, about the agent (`review-gate.requester.<name>`), with the rate, the
  counts and the deployments its reviews came from as related resources;
- emits `review_gate.fabrication_alert` when that rate is above `fabrication_threshold` (and the
  agent had at least `min_reviews`), once per deployment of the agent, naming it as the related
  `prefect.deployment`: the ready-made automation (gates/automations.py) pauses that deployment
  and says why. The comparison is made here because a Prefect event trigger counts events and
  matches labels; it cannot compare a number in a payload with a threshold.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.events import emit_event
from prefect.logging import get_run_logger

from prefect_review_gate.gates.stats import GroupStats, compute_stats
from prefect_review_gate.gates.stats_command import read_versions
from prefect_review_gate.gates.stats_text import markdown_report, stats_table_rows
from prefect_review_gate.gates.store_client import open_store
from prefect_review_gate.validators.errors import InputError

__all__ = ["ALERT_EVENT", "RATE_EVENT", "REPORT_KEY", "TABLE_KEY", "review_gate_report"]

REPORT_KEY = "review-gate-report"
TABLE_KEY = "review-gate-report-table"
RATE_EVENT = "review_gate.fabrication_rate"
ALERT_EVENT = "review_gate.fabrication_alert"


@flow(name="review-gate-report", log_prints=False)
async def review_gate_report(
    since_hours: float = 24 * 7,
    fabrication_window_hours: float = 24,
    fabrication_threshold: float = 0.5,
    min_reviews: int = 3,
) -> dict[str, Any]:
    """Publish the report artifacts and the fabrication events; return the figures as JSON."""
    if since_hours <= 0 or fabrication_window_hours <= 0:
        raise InputError("since_hours and fabrication_window_hours must be positive")
    if not 0 <= fabrication_threshold < 1:
        raise InputError("fabrication_threshold is a share of reviews: at least 0 and below 1")
    now = datetime.now(UTC)
    report_since = now - timedelta(hours=since_hours)
    window_since = now - timedelta(hours=fabrication_window_hours)
    async with open_store() as store:
        versions = await read_versions(store, min(report_since, window_since))
    stats = compute_stats(versions, report_since, now)
    recent = compute_stats(versions, window_since, now)

    await acreate_markdown_artifact(
        markdown_report(stats),
        key=REPORT_KEY,
        description=f"Review gate report: {stats.total.requested} review(s) in the last {since_hours:g} h",
    )
    rows = stats_table_rows(stats)
    await acreate_table_artifact(
        rows or [{"agent": "", "flow": "", "requested": 0}],
        key=TABLE_KEY,
        description=f"Review gate figures per agent and flow, last {since_hours:g} h",
    )
    alerts = [
        _announce(group, fabrication_window_hours, fabrication_threshold, min_reviews)
        for group in recent.agents()
    ]
    alerted = [name for name in alerts if name]
    if alerted:
        get_run_logger().warning(
            "Fabrication rate above %.0f%% over the last %g h: %s",
            fabrication_threshold * 100,
            fabrication_window_hours,
            ", ".join(alerted),
        )
    return {**stats.to_json(), "fabrication_alerts": alerted}


def _announce(group: GroupStats, window_hours: float, threshold: float, min_reviews: int) -> str:
    """Emit the agent's rate, and its alert when above the threshold; the agent's name if alerted."""
    above = group.requested >= min_reviews and group.fabrication_rate > threshold
    payload = {
        "agent": group.agent,
        "rate": round(group.fabrication_rate, 4),
        "rate_percent": round(group.fabrication_rate * 100),
        "reviews": group.requested,
        "with_blocking": group.with_blocking,
        "window_hours": window_hours,
        "threshold": threshold,
        "threshold_percent": round(threshold * 100),
        "min_reviews": min_reviews,
        "above": above,
    }
    resource = {
        "prefect.resource.id": f"review-gate.requester.{group.agent}",
        "prefect.resource.name": group.agent,
    }
    deployments = [
        {"prefect.resource.id": f"prefect.deployment.{d}", "prefect.resource.role": "deployment"}
        for d in sorted(group.deployment_ids, key=str)
    ]
    emit_event(event=RATE_EVENT, resource=resource, related=deployments, payload=payload)
    if not above:
        return ""
    # One alert per deployment: the automation pauses the deployment its triggering event names.
    for related in [[d] for d in deployments] or [[]]:
        emit_event(event=ALERT_EVENT, resource=resource, related=related, payload=payload)
    return group.agent
