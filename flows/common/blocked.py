"""How an agent flow ends when its task cannot be done: `Blocked`, with the reason on the run.

Either the agent reports a blocker (`stop_blocked`), or the flow finds before asking the agent that a
precondition of the task failed, such as a build or its tests (`stop_unmet_precondition`).

`AgentBlocked` (the error tree's name for this outcome) gives the state's name; this module gives
every agent the same log line, artifact and final state, so a `Blocked` run reads alike in each.
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.logging import get_run_logger
from prefect.states import Cancelled

from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.errors import AgentBlocked, ModelRefused

__all__ = ["blocked_state", "stop_blocked", "stop_refused", "stop_unmet_precondition"]


def blocked_state(blocked: AgentBlocked) -> State[Any]:
    """The run's final state when the agent reports a blocker: Cancelled, named `Blocked`.

    Cancelled like Rejected and Expired: the run did what it should (it stopped and said why), and
    flow retries must not ask the agent again.
    """
    return Cancelled(name=blocked.state_name, message=f"The agent reported a blocker: {blocked.reason}")


async def stop_blocked(blocker: Blocker, *, artifact_key: str, description: str) -> State[Any]:
    """Log the blocker, record it as an artifact on the run, and return the `Blocked` state.

    Call it from the flow body (it needs a run context) and return what it returns; nothing is sent
    for review.
    """
    blocked = AgentBlocked(blocker.describe())
    get_run_logger().warning("The agent reported a blocker; nothing is sent for review: %s", blocked)
    await acreate_markdown_artifact(
        markdown=f"## The agent stopped\n\n{blocker.describe()}\n\nNothing was sent for review.",
        key=artifact_key,
        description=description,
    )
    return blocked_state(blocked)


async def stop_unmet_precondition(reason: str, *, artifact_key: str, description: str) -> State[Any]:
    """End the run `Blocked` before the agent is asked: a precondition of its task failed.

    For what the flow itself established (a build that failed, tests that did not pass): the run
    never reaches a reviewer as a success, and the agent is not asked to make something of it. Call
    it from the flow body and return what it returns.
    """
    blocked = AgentBlocked(reason)
    summary = reason.strip().splitlines()[0] if reason.strip() else "a precondition failed"
    get_run_logger().warning("Blocked before the agent was asked; nothing is sent for review: %s", summary)
    await acreate_markdown_artifact(
        markdown=f"## Blocked before the agent was asked\n\n```\n{reason.strip()}\n```\n\n"
        "Nothing was sent for review.",
        key=artifact_key,
        description=description,
    )
    return Cancelled(name=blocked.state_name, message=f"Blocked before review: {summary}")


async def stop_refused(refused: ModelRefused, *, artifact_key: str, description: str) -> State[Any]:
    """End the run `Blocked` on a model refusal, with the API's category and explanation on the run.

    A refusal is the model's policy answer, not a crash and not a blocker the agent chose: retrying
    the same request gets the same answer, so the run stops here and says what the API said.
    """
    get_run_logger().warning("The model refused the request; nothing is sent for review: %s", refused)
    category = refused.category or "not given"
    explanation = refused.explanation or "none given"
    await acreate_markdown_artifact(
        markdown=f"## The model refused\n\n- category: `{category}`\n- explanation: {explanation}\n\n"
        "Nothing was sent for review.",
        key=artifact_key,
        description=description,
    )
    return Cancelled(name=refused.state_name, message=f"Blocked: {refused.reason}")
