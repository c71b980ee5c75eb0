"""The demo (`make demo`): FORGE end to end on this machine, offline unless ANTHROPIC_API_KEY is set.

    python -m prefect_review_gate.flows.demo [--approve-as NAME --override-reason TEXT | --reject-as NAME]

1. starts a temporary Prefect server (SQLite in a temporary folder, UI on 127.0.0.1) and prints its URL;
2. runs the proposal flow on the bundled sources: Claude through the official SDK, against a local
   Messages API fake replaying a recorded reply with planted fabrications (or the real API when
   ANTHROPIC_API_KEY is set);
3. prints the validators' findings and waits for a decision: in this terminal, in the Prefect UI
   (the paused run's resume form), with `review-gate approve`, or in Slack when it is configured;
4. publishes on approval and prints where the proposal is and the flow run's link.

The steps every agent's demo shares are `flows.common.demo_kit`'s; this module is FORGE's part.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.common.demo_kit import AgentDemo, DemoContext, run_demo, say
from prefect_review_gate.flows.common.offline_model import Reply, load_recorded
from prefect_review_gate.flows.forge import REQUESTER

__all__ = ["FORGE_DEMO", "main"]

REVIEWERS = ["alice", "bob"]
CLIENT = "Brightwater Logistics"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example", type=Path, default=Path("examples/proposal"), help="folder with brief.md, sources/ and "
        "recorded_response.json (default: the repository's examples/proposal)",
    )  # fmt: skip


def _check(args: argparse.Namespace) -> str:
    example: Path = args.example.resolve()
    for needed in ("brief.md", "sources"):
        if not (example / needed).exists():
            return f"{example / needed} is missing: run from the repository's root or pass --example DIR"
    return ""


def _replies(args: argparse.Namespace) -> Sequence[Reply]:
    return [Reply.message(load_recorded(args.example.resolve() / "recorded_response.json"))]


async def _start(context: DemoContext) -> Any:
    from prefect_review_gate.flows.forge.flow import proposal_flow

    example: Path = context.args.example.resolve()
    return await proposal_flow(
        brief=(example / "brief.md").read_text(encoding="utf-8"),
        sources=str(example / "sources"),
        client=CLIENT,
        reviewers=REVIEWERS,
        publish_dir=str(context.out),
        return_state=True,
    )


def _describe(pending: Any) -> None:
    from prefect_review_gate.gates.terminal import format_report, wants_color

    request = pending.record.request
    [action] = request.actions
    say("")
    target = Path(str(action.get("folder"))) / f"{action.get('name')}.md"
    say(f"The agent proposes: publish {target} for {action.get('client')}")
    say("The validators' findings on the draft (each with what the sources actually say):")
    say("")
    say(format_report("proposal", action.get("body", ""), request.findings, color=wants_color(sys.stdout)))


FORGE_DEMO = AgentDemo(
    name="FORGE",
    requester=REQUESTER,
    reviewers=REVIEWERS,
    replies=_replies,
    start=_start,
    describe=_describe,
    check=_check,
    add_arguments=_add_arguments,
    what_commits="Published",
    default_override_reason="demo: approved knowingly, to show the publish step",
)


def main(argv: Sequence[str] | None = None) -> int:
    return run_demo(FORGE_DEMO, argv, prog="python -m prefect_review_gate.flows.demo")


if __name__ == "__main__":
    sys.exit(main())
