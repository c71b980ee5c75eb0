"""CLOSER's demo (`make demo AGENT=closer`): the deal agent end to end, offline without ANTHROPIC_API_KEY.

    python -m prefect_review_gate.flows.closer.demo [--approve-as NAME --override-reason TEXT]
    python -m prefect_review_gate.flows.closer.demo [--reject-as NAME --reason TEXT]

1. seeds the demo CRM (SQLite, under --out) and starts a local SMTP server that keeps each e-mail
   as an .eml file next to it;
2. runs the deal flow over the deals changed in the last day (Northwind's renewal, Bluefin's pilot):
   Claude through the official SDK, against a local Messages API fake replaying recorded replies
   with planted fabrications (an unrequested new contact, an invented recipient, a changed figure,
   a note on a deal that does not exist), or the real API when ANTHROPIC_API_KEY is set;
3. prints the proposed actions (deal changes with their before and after values) and the findings;
4. on approval writes to the CRM and sends the e-mails, and prints what was committed.

The steps every agent's demo shares are `flows.common.demo_kit`'s; this module is CLOSER's part.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.closer import REQUESTER
from prefect_review_gate.flows.common.demo_kit import AgentDemo, DemoContext, run_demo, say, say_proposal
from prefect_review_gate.flows.common.offline_model import Reply, load_recorded

__all__ = ["CLOSER_DEMO", "REQUEST", "main"]

REVIEWERS = ["alice", "bob"]
REQUEST = (
    "Bring each deal that changed up to date: log a short note on what happened, send the deal's "
    "contacts a follow-up e-mail about the next step, and move the deal's stage when its notes show "
    "the client agreed to the next one."
)
ALLOWED = ["crm.log_note", "email.send", "crm.update_deal"]
DEALS = ("1001", "1002")  # the order the flow asks about them: their last change's


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example", type=Path, default=Path("examples/closer"), help="folder with the recorded replies "
        "deal-1001.json and deal-1002.json (default: the repository's examples/closer)",
    )  # fmt: skip


def _check(args: argparse.Namespace) -> str:
    example: Path = args.example.resolve()
    for deal in DEALS:
        if not (example / f"deal-{deal}.json").is_file():
            missing = example / f"deal-{deal}.json"
            return f"{missing} is missing: run from the repository's root or pass --example DIR"
    try:
        import aiosmtpd  # noqa: F401  (the demo's local SMTP server)
    except ImportError:
        return "the demo's local SMTP server needs aiosmtpd: run `make demo AGENT=closer` (it installs it)"
    return ""


def _replies(args: argparse.Namespace) -> Sequence[Reply]:
    return [Reply.message(load_recorded(args.example.resolve() / f"deal-{deal}.json")) for deal in DEALS]


async def _start(context: DemoContext) -> Any:
    from prefect_review_gate.flows.closer.crm.seed import seed
    from prefect_review_gate.flows.closer.flow import deal_support_flow
    from prefect_review_gate.flows.common.mail_sink import LocalMailSink

    crm = seed(context.out / "crm.sqlite")
    mail = LocalMailSink(context.out / "mail").start()
    os.environ.update({"REVIEW_GATE_CRM": "sqlite", "REVIEW_GATE_CRM_PATH": str(crm.path)})
    os.environ.update(mail.env("closer@brightwater.example"))
    say(f"Demo CRM (SQLite): {crm.path}; e-mails are kept in {mail.folder}")
    try:
        return await deal_support_flow(
            request=REQUEST,
            reviewers=REVIEWERS,
            allowed_actions=ALLOWED,
            lookback_hours=24,
            return_state=True,
        )
    finally:
        mail.stop()


def _describe(pending: Any) -> None:
    count = len(pending.record.request.actions)
    heading = f"The agent proposes {count} actions:"
    say_proposal(pending, heading, "The validators' findings (each at the value it concerns):", "proposal")


CLOSER_DEMO = AgentDemo(
    name="CLOSER",
    requester=REQUESTER,
    reviewers=REVIEWERS,
    replies=_replies,
    start=_start,
    describe=_describe,
    check=_check,
    add_arguments=_add_arguments,
    what_commits="Committed",
    default_override_reason="demo: approved knowingly, to show the commit step",
)


def main(argv: Sequence[str] | None = None) -> int:
    return run_demo(CLOSER_DEMO, argv, prog="python -m prefect_review_gate.flows.closer.demo")


if __name__ == "__main__":
    sys.exit(main())
