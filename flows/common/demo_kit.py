"""What every agent's demo shares: a temporary Prefect server, the offline model, a decision, a report.

An agent's demo module (`flows/<agent>/demo.py`) describes itself as an `AgentDemo` and calls
`run_demo(demo, argv)`; `make demo AGENT=<agent>` runs it. The steps are the same for every agent:

1. start a temporary Prefect server (SQLite in a temporary folder, UI on 127.0.0.1), print its URL;
2. point the official Anthropic SDK at a local Messages API fake replaying the agent's recorded
   replies (or at the real API when ANTHROPIC_API_KEY is set);
3. start the agent's flow and wait for its first review; print what the agent proposes and the
   validators' findings;
4. take a decision: in this terminal, in the Prefect UI (the paused run's resume form), with
   `review-gate approve`, in Slack when it is configured, or from `--approve-as` / `--reject-as`;
5. print what the run committed (or why nothing was), and the flow run's link.

Prefect is imported only after the server is up and the environment points at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.common.local_server import LocalPrefectServer
from prefect_review_gate.flows.common.offline_model import OFFLINE_KEY, Answer, MessagesFake
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["AgentDemo", "DemoContext", "run_demo", "say", "say_proposal"]


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def say_proposal(pending: Any, heading: str, findings_heading: str, what: str) -> None:
    """Each proposed action as `review-gate show` prints it, numbered as the findings' pointers
    count (`/actions/0`), then the findings at the values they concern. Agent text is escaped."""
    from prefect_review_gate.gates.review_text import action_lines
    from prefect_review_gate.gates.terminal import format_pointer_report, printable, wants_color

    request = pending.record.request
    say("")
    say(heading)
    for index, action in enumerate(request.actions):
        for line in action_lines(index, action):
            say(printable(line))
    say("")
    say(findings_heading)
    say("")
    document = {"actions": request.actions}
    say(format_pointer_report(what, document, request.findings, color=wants_color(sys.stdout)))


@dataclass(frozen=True)
class DemoContext:
    """What an agent's demo gets to start its flow with."""

    args: argparse.Namespace
    out: Path  # a fresh folder under --out for whatever the run writes
    server: LocalPrefectServer


@dataclass(frozen=True)
class AgentDemo:
    """One agent's demo, as `run_demo` drives it.

    Args:
        name: the agent's name for people (`FORGE`).
        requester: the identity its reviews are requested by (to find its review).
        reviewers: the plain names that may decide in the demo.
        replies: the recorded Messages API replies the offline fake plays, in order (at least one;
            the last also answers any request after them); a reply may be a `Responder`, bound to
            the request it answers.
        start: a coroutine function starting the flow with `return_state=True`.
        describe: prints what the agent proposes and its findings, given the pending review.
        check: '' when the demo can run from here, else what is missing.
        add_arguments: agent-specific options on the common parser.
        what_commits: the verb for the report (`Published`, `Committed`).
    """

    name: str
    requester: str
    reviewers: Sequence[str]
    replies: Callable[[argparse.Namespace], Sequence[Answer]]
    start: Callable[[DemoContext], Coroutine[Any, Any, Any]]
    describe: Callable[[Any], None]
    check: Callable[[argparse.Namespace], str] = lambda args: ""
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    what_commits: str = "Committed"
    default_override_reason: str = field(default="demo: approved knowingly, to show the commit step")


def _parser(demo: AgentDemo, prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"{demo.name} end to end: an agent's proposal, its fabrications caught, "
        "a person's decision.",
    )
    who = " or ".join(demo.reviewers)
    decide = parser.add_mutually_exclusive_group()
    decide.add_argument("--approve-as", metavar="NAME", help=f"approve without asking (CI): {who}")
    decide.add_argument("--reject-as", metavar="NAME", help=f"reject without asking (CI): {who}")
    parser.add_argument(
        "--override-reason", default="", metavar="TEXT", help="with --approve-as: why findings are accepted"
    )
    parser.add_argument("--reason", default="rejected in the demo", metavar="TEXT", help="with --reject-as")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="where the run writes")
    parser.add_argument(
        "--keep-server", action="store_true", help="keep the Prefect server (and its UI) up until Ctrl-C"
    )
    demo.add_arguments(parser)
    return parser


def run_demo(demo: AgentDemo, argv: Sequence[str] | None = None, prog: str = "demo") -> int:
    """Run `demo` end to end on a temporary Prefect server; the process's exit status."""
    args = _parser(demo, prog).parse_args(argv)
    if args.approve_as and not args.override_reason.strip():
        # The recorded replies hold fabrications on purpose: approving them needs a written reason.
        args.override_reason = demo.default_override_reason
    missing = demo.check(args)
    if missing:
        say(f"demo: {missing}")
        return 2
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="review-gate-demo-"))
    say(f"Starting a local Prefect server (SQLite under {home}) ...")
    server = LocalPrefectServer(home / "prefect")
    fake: MessagesFake | None = None
    try:
        server.start()
        os.environ.update(server.env())
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        say(f"Prefect UI: {server.ui_url}   (API {server.api_url})")
        if os.environ.get("ANTHROPIC_API_KEY", "").strip():
            say("Claude: the Messages API, with ANTHROPIC_API_KEY")
        else:
            *script, last = demo.replies(args)
            fake = MessagesFake(last, script=script).start()  # the last reply answers whatever follows
            os.environ["ANTHROPIC_BASE_URL"] = fake.base_url
            os.environ["ANTHROPIC_API_KEY"] = OFFLINE_KEY
            say(
                "Claude: offline. The SDK talks to a local Messages API fake replaying recorded replies "
                "(set ANTHROPIC_API_KEY to use the real API)."
            )
        out = (args.out / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
        code = asyncio.run(_run(demo, DemoContext(args, out, server)))
        say(f"Demo finished in {time.monotonic() - started:.0f} s.")
        if args.keep_server:
            # Not input(): the terminal reader thread may still hold stdin.
            say(f"The Prefect UI stays up at {server.ui_url}; press Ctrl-C to stop it.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return code
    except ReviewGateError as exc:
        say(f"demo: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        _flush_prefect()
        if fake is not None:
            fake.stop()
        server.stop()
        # The server's database, logs and results (about 5 MB): what the run committed is under --out.
        shutil.rmtree(home, ignore_errors=True)


def _flush_prefect() -> None:
    """Send the run's last logs and events before the server goes away, not into a closed port."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=5)
        except Exception as exc:  # best effort at shutdown: the demo's outcome is already known
            say(f"(could not flush Prefect's {worker.__name__}: {type(exc).__name__})")


async def _run(demo: AgentDemo, context: DemoContext) -> int:
    args = context.args
    run: asyncio.Future[Any] = asyncio.ensure_future(demo.start(context))
    say(f"Running {demo.name}: Claude proposes, then the validators check ...")
    pending = await _first_review(run, demo.requester)
    if pending is not None:
        demo.describe(pending)
        _how_to_decide(pending, context.server)
        if args.approve_as or args.reject_as:
            await _decide_from_flags(pending, args)
        else:
            await _ask_in_terminal(pending, run)
    state = await run
    return await _report(state, context.server, demo.what_commits)


async def _first_review(run: asyncio.Future[Any], requester: str) -> Any:
    from prefect_review_gate.gates.reviews import list_pending

    while not run.done():
        for pending in await list_pending():
            if pending.waiting and pending.record.request.requester == requester:
                return pending
        await asyncio.sleep(0.3)
    return None


def _how_to_decide(pending: Any, server: LocalPrefectServer) -> None:
    request = pending.record.request
    say(f"Review {request.id} waits for {' or '.join(request.policy.reviewers)}. Decide here, or:")
    say(f"  - the Prefect UI: {server.flow_run_url(request.flow_run_id)} (menu ⋮, Resume)")
    say(f"    (every review waiting: {server.waiting_reviews_url})")
    script = Path(sys.executable).parent / "review-gate"  # the venv's, which may not be on PATH
    cli = str(script) if script.exists() else "review-gate"
    override = " --override-reason TEXT" if request.blocking else ""
    command = f"{cli} approve {request.id} --as {request.policy.reviewers[0]}{override}"
    say(f"  - another terminal: PREFECT_API_URL={server.api_url} {command}")
    if os.environ.get("SLACK_BOT_TOKEN"):
        serve = f"PREFECT_API_URL={server.api_url} {cli} serve --socket-mode"
        say(f"  - Slack: the review is posted there; its buttons need `{serve}` (or its HTTP mode)")
    say("")


async def _decide_from_flags(pending: Any, args: argparse.Namespace) -> None:
    from prefect_review_gate.gates import Outcome
    from prefect_review_gate.gates.reviews import decide

    review_id = pending.record.request.id
    if args.approve_as:
        say(f"Approving as {args.approve_as} (--approve-as), override reason: {args.override_reason}")
        await decide(review_id, Outcome.APPROVED, args.approve_as, override_reason=args.override_reason)
    else:
        say(f"Rejecting as {args.reject_as} (--reject-as): {args.reason}")
        await decide(review_id, Outcome.REJECTED, args.reject_as, comment=args.reason)


class _Lines:
    """Lines typed in the terminal, read by a daemon thread so that a decision elsewhere can win."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            line = sys.stdin.readline()
            self.loop.call_soon_threadsafe(self.queue.put_nowait, line.rstrip("\n") if line else None)
            if not line:
                return

    async def ask(self, prompt: str, run: asyncio.Future[Any]) -> str | None:
        """The answer, or None when the run ended first (decided elsewhere) or stdin closed."""
        sys.stdout.write(prompt)
        sys.stdout.flush()
        answer = asyncio.ensure_future(self.queue.get())
        done, _ = await asyncio.wait({answer, run}, return_when=asyncio.FIRST_COMPLETED)
        if answer not in done:
            answer.cancel()
            say("")
            return None
        return answer.result()


async def _ask_in_terminal(pending: Any, run: asyncio.Future[Any]) -> None:
    from prefect_review_gate.gates import Outcome
    from prefect_review_gate.gates.reviews import decide

    request = pending.record.request
    lines = _Lines()
    while not run.done():
        choice = await lines.ask("Approve or reject? [a/r]: ", run)
        if choice is None:
            break
        if choice.strip().lower() not in {"a", "approve", "r", "reject"}:
            continue
        approve = choice.strip().lower().startswith("a")
        name = await lines.ask(f"Your name ({', '.join(request.policy.reviewers)}): ", run)
        if name is None:
            break
        why = "Override reason (why commit despite the blocking findings): " if approve else "Reason: "
        reason = await lines.ask(why if (request.blocking or not approve) else "Comment (optional): ", run)
        if reason is None:
            break
        try:
            if approve:
                override = reason if request.blocking else ""
                await decide(request.id, Outcome.APPROVED, name.strip(), override_reason=override)
            else:
                await decide(request.id, Outcome.REJECTED, name.strip(), comment=reason)
            return
        except (InputError, ReviewGateError) as exc:
            say(f"Not taken: {exc}")
    if not run.done():
        say("No terminal input: waiting for a decision in the Prefect UI, the CLI or Slack ...")


async def _report(state: Any, server: LocalPrefectServer, what_commits: str) -> int:
    link = server.flow_run_url(state.state_details.flow_run_id)
    say("")
    if state.is_completed():
        report = await state.aresult()
        for outcome in report.get("outcomes", []):
            result = outcome.get("result") or {}
            # A published file's path, a sent e-mail's id, or the one line an executor wrote for people.
            where = result.get("path") or result.get("message_id") or result.get("summary") or result
            say(f"{what_commits}: {where}")
        say(f"Flow run: {link}")
        return 0
    say(f"The run ended {state.name}: {state.message or ''}".rstrip(": "))
    nothing = f"Nothing was {what_commits.lower()}."
    say(nothing if state.is_cancelled() else f"{nothing[:-1]}; see the run's logs.")
    say(f"Flow run: {link}")
    return 0 if state.is_cancelled() else 1
