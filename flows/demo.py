"""The demo (`make demo`): FORGE end to end on this machine, offline unless ANTHROPIC_API_KEY is set.

    python -m prefect_review_gate.flows.demo [--approve-as NAME --override-reason TEXT | --reject-as NAME]

1. starts a temporary Prefect server (SQLite in a temporary folder, UI on 127.0.0.1) and prints its URL;
2. runs the proposal flow on the bundled sources: Claude through the official SDK, against a local
   Messages API fake replaying a recorded reply with planted fabrications (or the real API when
   ANTHROPIC_API_KEY is set);
3. prints the validators' findings and waits for a decision: in this terminal, in the Prefect UI
   (the paused run's resume form), with `review-gate approve`, or in Slack when it is configured;
4. publishes on approval and prints where the proposal is and the flow run's link.

Prefect is imported only after the server is up and the environment points at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.common.local_server import LocalPrefectServer
from prefect_review_gate.flows.common.offline_model import OFFLINE_KEY, MessagesFake, Reply, load_recorded
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["main"]

REVIEWERS = ["alice", "bob"]
CLIENT = "Brightwater Logistics"


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prefect_review_gate.flows.demo",
        description="FORGE end to end: an agent's proposal, its fabrications caught, a person's decision.",
    )
    decide = parser.add_mutually_exclusive_group()
    decide.add_argument("--approve-as", metavar="NAME", help="approve without asking (CI): alice or bob")
    decide.add_argument("--reject-as", metavar="NAME", help="reject without asking (CI): alice or bob")
    parser.add_argument(
        "--override-reason",
        default="",
        metavar="TEXT",
        help="with --approve-as: why the findings are accepted",
    )
    parser.add_argument("--reason", default="rejected in the demo", metavar="TEXT", help="with --reject-as")
    parser.add_argument(
        "--example", type=Path, default=Path("examples/proposal"), help="folder with brief.md, sources/ and "
        "recorded_response.json (default: the repository's examples/proposal)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="where proposals are published")
    parser.add_argument(
        "--keep-server", action="store_true", help="keep the Prefect server (and its UI) up until Ctrl-C"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.approve_as and not args.override_reason.strip():
        # The bundled reply holds fabrications on purpose: approving them needs a written reason.
        args.override_reason = "demo: approved knowingly, to show the publish step"
    example: Path = args.example.resolve()
    for needed in ("brief.md", "sources"):
        if not (example / needed).exists():
            _say(f"demo: {example / needed} is missing: run from the repository's root or pass --example DIR")
            return 2
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="review-gate-demo-"))
    _say(f"Starting a local Prefect server (SQLite under {home}) ...")
    server = LocalPrefectServer(home / "prefect")
    fake: MessagesFake | None = None
    try:
        server.start()
        os.environ.update(server.env())
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        _say(f"Prefect UI: {server.ui_url}   (API {server.api_url})")
        if os.environ.get("ANTHROPIC_API_KEY", "").strip():
            _say("Claude: the Messages API, with ANTHROPIC_API_KEY")
        else:
            recorded = load_recorded(example / "recorded_response.json")
            fake = MessagesFake(Reply.message(recorded)).start()
            os.environ["ANTHROPIC_BASE_URL"] = fake.base_url
            os.environ["ANTHROPIC_API_KEY"] = OFFLINE_KEY
            _say(
                "Claude: offline. The SDK talks to a local Messages API fake replaying "
                f"{example / 'recorded_response.json'} (set ANTHROPIC_API_KEY to use the real API)."
            )
        out = (args.out / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
        code = asyncio.run(_demo(args, example, out, server))
        _say(f"Demo finished in {time.monotonic() - started:.0f} s.")
        if args.keep_server:
            # Not input(): the terminal reader thread may still hold stdin.
            _say(f"The Prefect UI stays up at {server.ui_url}; press Ctrl-C to stop it.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return code
    except ReviewGateError as exc:
        _say(f"demo: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        _flush_prefect()
        if fake is not None:
            fake.stop()
        server.stop()


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
            _say(f"(could not flush Prefect's {worker.__name__}: {type(exc).__name__})")


async def _demo(args: argparse.Namespace, example: Path, out: Path, server: LocalPrefectServer) -> int:
    from prefect_review_gate.flows.forge.flow import proposal_flow

    interactive = not (args.approve_as or args.reject_as)
    flow_run = proposal_flow(
        brief=(example / "brief.md").read_text(encoding="utf-8"),
        sources=str(example / "sources"),
        client=CLIENT,
        reviewers=REVIEWERS,
        publish_dir=str(out),
        return_state=True,
    )
    run: asyncio.Future[Any] = asyncio.ensure_future(flow_run)
    _say("Running the FORGE proposal flow: Claude drafts from the sources, then the validators check ...")
    pending = await _first_review(run)
    if pending is not None:
        _show(pending, server)
        if interactive:
            await _ask_in_terminal(pending, run)
        else:
            await _decide_from_flags(pending, args)
    state = await run
    return await _report(state, server)


async def _first_review(run: asyncio.Future[Any]) -> Any:
    from prefect_review_gate.flows.forge.flow import REQUESTER
    from prefect_review_gate.gates.reviews import list_pending

    while not run.done():
        for pending in await list_pending():
            if pending.waiting and pending.record.request.requester == REQUESTER:
                return pending
        await asyncio.sleep(0.3)
    return None


def _show(pending: Any, server: LocalPrefectServer) -> None:
    from prefect_review_gate.gates.terminal import format_report, wants_color

    request = pending.record.request
    [action] = request.actions
    _say("")
    target = Path(str(action.get("folder"))) / f"{action.get('name')}.md"
    _say(f"The agent proposes: publish {target} for {action.get('client')}")
    _say("The validators' findings on the draft (each with what the sources actually say):")
    _say("")
    _say(format_report("proposal", action.get("body", ""), request.findings, color=wants_color(sys.stdout)))
    _say(f"Review {request.id} waits for {' or '.join(request.policy.reviewers)}. Decide here, or:")
    _say(f"  - the Prefect UI: {server.ui_url}/runs/flow-run/{request.flow_run_id} (Resume)")
    script = Path(sys.executable).parent / "review-gate"  # the venv's, which may not be on PATH
    cli = str(script) if script.exists() else "review-gate"
    command = f"{cli} approve {request.id} --as alice --override-reason TEXT"
    _say(f"  - another terminal: PREFECT_API_URL={server.api_url} {command}")
    if os.environ.get("SLACK_BOT_TOKEN"):
        serve = f"PREFECT_API_URL={server.api_url} {cli} serve --socket-mode"
        _say(f"  - Slack: the review is posted there; its buttons need `{serve}` (or its HTTP mode)")
    _say("")


async def _decide_from_flags(pending: Any, args: argparse.Namespace) -> None:
    from prefect_review_gate.gates import Outcome
    from prefect_review_gate.gates.reviews import decide

    review_id = pending.record.request.id
    if args.approve_as:
        _say(f"Approving as {args.approve_as} (--approve-as), override reason: {args.override_reason}")
        await decide(
            review_id,
            Outcome.APPROVED,
            args.approve_as,
            override_reason=args.override_reason,
        )
    else:
        _say(f"Rejecting as {args.reject_as} (--reject-as): {args.reason}")
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
            _say("")
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
        why = "Override reason (why publish despite the blocking findings): " if approve else "Reason: "
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
            _say(f"Not taken: {exc}")
    if not run.done():
        _say("No terminal input: waiting for a decision in the Prefect UI, the CLI or Slack ...")


async def _report(state: Any, server: LocalPrefectServer) -> int:
    link = f"{server.ui_url}/runs/flow-run/{state.state_details.flow_run_id}"
    _say("")
    if state.is_completed():
        report = await state.aresult()
        for outcome in report.get("outcomes", []):
            result = outcome.get("result") or {}
            where = result.get("path") or result.get("message_id") or result
            _say(f"Published: {where}")
        _say(f"Flow run: {link}")
        return 0
    _say(f"The run ended {state.name}: {state.message or ''}".rstrip(": "))
    _say("Nothing was published." if state.is_cancelled() else "Nothing was published; see the run's logs.")
    _say(f"Flow run: {link}")
    return 0 if state.is_cancelled() else 1


if __name__ == "__main__":
    sys.exit(main())
