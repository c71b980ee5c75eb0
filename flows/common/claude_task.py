"""The agent's Claude call as a Prefect task: persisted for the run, its tokens and cost on the run."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from prefect import Task, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.logging import get_run_logger

from prefect_review_gate.flows.common.claude import ClaudeClient, Usage
from prefect_review_gate.flows.common.run_cache import run_scoped_key

__all__ = ["ClaudeTask", "claude_task"]

ClaudeTask = Task[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]


def claude_task(agent: str, *, description: str) -> ClaudeTask:
    """The `ask-claude` task of `agent`: one Messages API call; returns the reply as JSON.

    Its result is persisted and scoped to the flow run (see `run_cache`), so a run resumed after a
    suspend does not call Claude again. The usage artifact is `<agent>-claude-usage`.

    Args:
        agent: the agent's short name, e.g. `forge`: prefixes the cache key and the artifact key.
        description: the usage artifact's description, for a person reading the run.
    """

    @task(name="ask-claude", persist_result=True, cache_key_fn=run_scoped_key(agent))
    async def ask_claude(request: dict[str, Any]) -> dict[str, Any]:
        claude = await ClaudeClient.from_settings()
        answered = await claude.create(**request)
        message = answered.message
        usage = Usage.of(message)
        request_id = answered.request_id or "not given"
        await acreate_markdown_artifact(
            markdown=f"## Claude usage\n\nRequest id `{request_id}`, stop reason `{message.stop_reason}`, "
            f"{answered.retries} retries.\n\n{usage.markdown()}",
            key=f"{agent}-claude-usage",
            description=description,
        )
        # The request id is what Anthropic's support asks for; the usage is what the call cost.
        get_run_logger().info(
            "Claude (%s): request id %s, stop reason %s, %d input, %d output tokens, %d cache writes, "
            "%d cache reads, %d retries, cost %s",
            usage.model,
            request_id,
            message.stop_reason,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens,
            answered.retries,
            usage.cost_text,
        )
        return message.model_dump(mode="json")

    return ask_claude
