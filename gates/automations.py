"""The ready-made Prefect automations on the gate's `review_gate.*` events, and `automations apply`.

    review-gate: review waiting too long   a review requested (`review_gate.requested`) and not
                                           closed (`approved|rejected|expired|abandoned`) within N
                                           hours: a proactive trigger per review; notifies.
    review-gate: fabrication alert         `review_gate.fabrication_alert` (the report flow emits it
                                           when an agent's fabrication rate over the last day is
                                           above its threshold): pauses the deployment the event
                                           names and notifies with the rate, the counts and why.
    review-gate: delivery failed           `review_gate.delivery_failed` (a channel could not show
                                           or update a review): notifies.

Notifications go to a Prefect notification block the user names (`slack-webhook/reviewers`: the
reviewers' channel; any NotificationBlock works). `apply` creates each automation, or updates the
one of the same name, so running it again changes nothing but what changed. All of this runs on
Prefect's OSS server: its triggers service evaluates reactive and proactive event triggers, and
its actions service pauses deployments and sends notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from prefect.automations import (
    AutomationCore,
    EventTrigger,
    PauseDeployment,
    Posture,
    SendNotification,
)
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from prefect_review_gate.validators.errors import InputError

__all__ = [
    "DELIVERY_FAILED",
    "FABRICATION_ALERT",
    "WAITING_TOO_LONG",
    "Applied",
    "apply_automations",
    "apply_command",
    "delivery_failed",
    "fabrication_alert",
    "ready_made",
    "resolve_block",
    "waiting_too_long",
]

WAITING_TOO_LONG = "review-gate: review waiting too long"
FABRICATION_ALERT = "review-gate: fabrication alert"
DELIVERY_FAILED = "review-gate: delivery failed"
_CLOSED = ("approved", "rejected", "expired", "abandoned")
_TAGS = ["review-gate"]
# Prefect's floor for a proactive trigger's window.
_MIN_WAIT = timedelta(seconds=10)


def waiting_too_long(block_id: UUID, wait: timedelta) -> AutomationCore:
    """Notify when a review stays open longer than `wait`: one window per review, from its request."""
    if wait < _MIN_WAIT:
        raise InputError("--waiting-hours: Prefect evaluates waiting windows of 10 seconds or more")
    hours = f"{wait.total_seconds() / 3600:g}"
    return AutomationCore(
        name=WAITING_TOO_LONG,
        description=f"A review requested and not decided within {hours} h: tell the reviewers' channel.",
        tags=_TAGS,
        trigger=EventTrigger(
            posture=Posture.Proactive,
            match={"prefect.resource.id": "review-gate.review.*"},
            after={"review_gate.requested"},
            expect={f"review_gate.{outcome}" for outcome in _CLOSED},
            for_each={"prefect.resource.id"},
            threshold=1,
            within=wait,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="Review {{ event.payload.review_id }} has waited more than " + hours + " h",
                body=(
                    "Review {{ event.payload.review_id }} ({{ event.payload.actions }} action(s), "
                    "{{ event.payload.findings }} finding(s)) was requested at {{ event.occurred }} and "
                    "nobody has decided it in " + hours + " h. Flow run: {{ flow_run.name }} "
                    "{{ flow_run|ui_url }}. Decide with `review-gate show {{ event.payload.review_id }}`."
                ),
            )
        ],
    )


def fabrication_alert(block_id: UUID) -> AutomationCore:
    """Pause the agent's deployment when the report flow says its fabrication rate is too high."""
    return AutomationCore(
        name=FABRICATION_ALERT,
        description=(
            "The review-gate-report flow found an agent's fabrication rate (reviews with a blocking "
            "finding / reviews) over the last day above its threshold: pause the agent's deployment "
            "(its schedule stops) until someone resumes it, and say why."
        ),
        tags=_TAGS,
        trigger=EventTrigger(
            posture=Posture.Reactive,
            match={"prefect.resource.id": "review-gate.requester.*"},
            expect={"review_gate.fabrication_alert"},
            for_each={"prefect.resource.id", "related:deployment:prefect.resource.id"},
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            PauseDeployment(source="inferred", deployment_id=None),
            SendNotification(
                block_document_id=block_id,
                subject="Paused {{ deployment.name }}: {{ event.payload.agent }} fabricates too often",
                body=(
                    "{{ event.payload.agent }} had a blocking finding (something invented) in "
                    "{{ event.payload.with_blocking }} of its {{ event.payload.reviews }} reviews over the "
                    "last {{ event.payload.window_hours }} h: {{ event.payload.rate_percent }}%, above the "
                    "threshold of {{ event.payload.threshold_percent }}%. Its deployment "
                    "{{ deployment.name }} is paused, so its schedule creates no runs. Look at "
                    "`review-gate stats --since 24h --agent {{ event.payload.agent }}`, then resume the "
                    "deployment in the Prefect UI."
                ),
            ),
        ],
    )


def delivery_failed(block_id: UUID) -> AutomationCore:
    """Notify when a channel could not show or update a review."""
    return AutomationCore(
        name=DELIVERY_FAILED,
        description="A channel (Slack) could not show or update a review: tell whoever watches the gate.",
        tags=_TAGS,
        trigger=EventTrigger(
            posture=Posture.Reactive,
            match={"prefect.resource.id": "review-gate.review.*"},
            expect={"review_gate.delivery_failed"},
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="Review {{ event.payload.review_id }}: {{ event.payload.channel }} failed",
                body=(
                    "Could not deliver review {{ event.payload.review_id }} ({{ event.payload.channel }}): "
                    "{{ event.payload.error }}. The review stays answerable in the Prefect UI and with "
                    "`review-gate approve|reject {{ event.payload.review_id }}`. Flow run: "
                    "{{ flow_run.name }} {{ flow_run|ui_url }}"
                ),
            )
        ],
    )


def ready_made(block_id: UUID, wait: timedelta) -> list[AutomationCore]:
    return [waiting_too_long(block_id, wait), fabrication_alert(block_id), delivery_failed(block_id)]


async def resolve_block(client: PrefectClient, reference: str) -> UUID:
    """`<block type slug>/<block name>` (as `prefect block ls` shows it) -> the block document's id."""
    block_type, _, name = reference.partition("/")
    if not block_type or not name:
        raise InputError(
            f"--notify-block {reference!r}: give <block type>/<name>, e.g. slack-webhook/reviewers"
        )
    try:
        document = await client.read_block_document_by_name(name=name, block_type_slug=block_type)
    except ObjectNotFound:
        raise InputError(
            f"--notify-block {reference!r}: no such block on this Prefect API; create it first "
            "(e.g. SlackWebhook(url=...).save('reviewers') or in the UI's Blocks page)"
        ) from None
    return document.id


@dataclass(frozen=True)
class Applied:
    name: str
    automation_id: UUID
    created: bool  # False: an automation of that name existed and was updated


async def apply_automations(client: PrefectClient, block_id: UUID, wait: timedelta) -> list[Applied]:
    """Create the ready-made automations, or update the ones of the same names."""
    applied = []
    for automation in ready_made(block_id, wait):
        existing = await client.read_automations_by_name(automation.name)
        if existing:
            # Not `client.update_automation`: it sends the model with exclude_unset, which drops each
            # action's `type` (a default), and the server then reads PauseDeployment as the first
            # action its schema accepts, RunDeployment: the deployment would be run, not paused.
            # (`owner_resource` is set at creation only; the update schema refuses it.)
            response = await client.request(
                "PUT",
                "/automations/{id}",
                path_params={"id": existing[0].id},
                json=automation.model_dump(mode="json", exclude={"owner_resource"}),
            )
            response.raise_for_status()
            applied.append(Applied(automation.name, existing[0].id, created=False))
        else:
            applied.append(Applied(automation.name, await client.create_automation(automation), created=True))
    return applied


def apply_command(notify_block: str, waiting_hours: float) -> int:
    """`review-gate automations apply`: print what was created or updated; 0 when done."""
    import math
    import sys

    from prefect.client.orchestration import get_client

    from prefect_review_gate.gates import review_api
    from prefect_review_gate.gates.reviews import api_target

    if not math.isfinite(waiting_hours) or waiting_hours <= 0:
        raise InputError("--waiting-hours: give a positive number of hours, e.g. 24 or 0.5")
    wait = timedelta(hours=waiting_hours)
    target = api_target()

    async def work() -> list[Applied]:
        async with get_client() as client:
            block_id = await resolve_block(client, notify_block)
            return await apply_automations(client, block_id, wait)

    for item in review_api.run_against(target.url, work):
        verb = "created" if item.created else "updated"
        sys.stdout.write(f"{verb} {item.name!r} ({item.automation_id})\n")
    return 0
