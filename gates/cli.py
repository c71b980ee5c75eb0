"""`review-gate`: the command line.

    review-gate validate DRAFT --sources DIR [--json]
    review-gate validate-actions PROPOSAL --world WORLD [--json]
    review-gate pending [--json]
    review-gate show ID [--json]
    review-gate approve ID --as NAME [--comment TEXT] [--override-reason TEXT]
    review-gate reject ID --as NAME --reason TEXT
    review-gate expire
    review-gate commits show ID [--json]
    review-gate commits resolve ID --as NAME --ran|--did-not-run [--reason TEXT] [--action N]
    review-gate serve [--host HOST] [--port PORT] [--socket-mode]
    review-gate stats [--since 7d] [--agent NAME] [--json]
    review-gate automations apply --notify-block TYPE/NAME [--waiting-hours N]

`validate` and `validate-actions` exit status: 0 no blocking finding, 1 blocking findings, 2 bad
usage or unreadable input.

The review commands talk to the Prefect API that PREFECT_API_URL names. Exit status:
    0  done
    1  refused: the review is already decided, NAME may not decide it (not a listed reviewer, or
       the requester), NAME already approved it, or its run is not waiting for a decision; also
       an unexpected error from the API, reported in one line
    2  bad usage: an unknown review id, a missing or empty option, approving a review with
       blocking findings without --override-reason, or PREFECT_API_URL unset or unreachable
    3  the Prefect API stayed busy (503, 429) through the retries: nothing was decided
Errors are one line on stderr.

Heavy imports stay inside the commands so that `validate` starts fast: Prefect is imported only by
the review commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from prefect_review_gate.gates.errors import ApiBusy
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["main"]

EXIT_OK, EXIT_BLOCKING, EXIT_USAGE = 0, 1, 2
EXIT_REFUSED = 1  # the review commands' "no": a decision that cannot be taken as asked
EXIT_BUSY = 3  # the Prefect API stayed busy: nothing was decided, trying again later may work


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error, as the validate contract asks."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (try --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="review-gate", description="A review gate for AI agents' side effects.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    validate = commands.add_parser(
        "validate",
        help="check a draft's citations, quotes, numbers and URLs against its sources",
        description="Check a markdown draft against a folder of source documents. "
        "Exit 0: nothing blocks; 1: blocking findings; 2: bad usage or unreadable input.",
    )
    validate.add_argument("draft", type=Path, metavar="DRAFT", help="the markdown draft to check")
    validate.add_argument(
        "--sources", type=Path, required=True, metavar="DIR", help="folder of text or markdown sources"
    )
    validate.add_argument("--json", action="store_true", help="print findings as JSON (the stable contract)")
    validate.set_defaults(handler=_validate)
    actions = commands.add_parser(
        "validate-actions",
        help="check an agent's proposed actions and claims against a CRM snapshot and workspace",
        description="Check PROPOSAL.json (task, actions, claims) against WORLD.json (CRM, workspace, "
        "sources). Exit 0: nothing blocks; 1: blocking findings; 2: bad usage or unreadable input.",
    )
    actions.add_argument("proposal", type=Path, metavar="PROPOSAL", help="the proposal JSON file")
    actions.add_argument("--world", type=Path, required=True, metavar="WORLD", help="the world JSON file")
    actions.add_argument("--json", action="store_true", help="print findings as JSON (the stable contract)")
    actions.set_defaults(handler=_validate_actions)
    _add_review_commands(commands)
    _add_serve_command(commands)
    _add_monitoring_commands(commands)
    return parser


def _add_review_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    where = " Talks to the Prefect API named by PREFECT_API_URL."
    pending = commands.add_parser(
        "pending",
        help="list open reviews: age, requester, actions, findings, approvals, whether the run waits",
        description="List open reviews, oldest first." + where,
    )
    pending.add_argument("--json", action="store_true", help="print the list as JSON")
    pending.set_defaults(handler=_pending)

    show = commands.add_parser(
        "show",
        help="show one review: actions, findings with evidence, policy, deadline, votes",
        description="Show one review in full, decided or not." + where,
    )
    show.add_argument("review_id", metavar="ID", help="the review id, as `pending` lists it")
    show.add_argument("--json", action="store_true", help="print the review record as JSON")
    show.set_defaults(handler=_show)

    approve = commands.add_parser(
        "approve",
        help="approve a waiting review as a listed reviewer",
        description="Approve a review: its run resumes and, once the policy's approvals are in, "
        "commits the actions." + where,
    )
    _add_decision_arguments(approve)
    approve.add_argument("--comment", default="", metavar="TEXT", help="why you approve")
    approve.add_argument(
        "--override-reason",
        default="",
        metavar="TEXT",
        help="required when the review has blocking findings: why they are acceptable",
    )
    approve.set_defaults(handler=_approve)

    reject = commands.add_parser(
        "reject",
        help="reject a waiting review: nothing commits",
        description="Reject a review: its run ends in state Rejected and commits nothing." + where,
    )
    _add_decision_arguments(reject)
    reject.add_argument("--reason", required=True, metavar="TEXT", help="why, for the requester")
    reject.set_defaults(handler=_reject)

    expire = commands.add_parser(
        "expire",
        help="close every waiting review past its deadline as expired",
        description="Resume every waiting review past its deadline with an expired decision: "
        "its run ends in state Expired and commits nothing." + where,
    )
    expire.set_defaults(handler=_expire)
    _add_commits_commands(commands, where)


def _add_commits_commands(commands: argparse._SubParsersAction[_Parser], where: str) -> None:
    commits = commands.add_parser(
        "commits",
        help="where a review's approved actions stand; resolve one that was interrupted",
        description="The commit ledger of a review: `show` where each action stands, `resolve` an action "
        "whose process died mid-way (it is never run again until a person says whether it ran)." + where,
    )
    sub = commits.add_subparsers(dest="commits_command", required=True, parser_class=_Parser)
    show = sub.add_parser("show", help="print where each action of the review stands")
    show.add_argument("review_id", metavar="ID", help="the review id")
    show.add_argument("--json", action="store_true", help="print as JSON")
    show.set_defaults(handler=_commits_show)
    resolve = sub.add_parser(
        "resolve",
        help="say whether an interrupted action ran, after checking the real system",
        description="Record, once, who checked an interrupted action and whether it ran: --ran makes "
        "every later commit replay it as done; --did-not-run lets the next commit run it.",
    )
    resolve.add_argument("review_id", metavar="ID", help="the review id")
    resolve.add_argument("--as", dest="resolver", required=True, metavar="NAME", help="who checked it")
    said = resolve.add_mutually_exclusive_group(required=True)
    said.add_argument("--ran", dest="ran", action="store_true", help="it happened: never run it again")
    said.add_argument("--did-not-run", dest="ran", action="store_false", help="it did not happen: it may run")
    resolve.add_argument("--reason", default="", metavar="TEXT", help="what you checked")
    resolve.add_argument("--action", type=int, default=None, metavar="N", help="only action N (default: all)")
    resolve.set_defaults(handler=_commits_resolve)


def _commits_show(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import commits_command

    return commits_command.show(args.review_id, as_json=args.json)


def _commits_resolve(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import commits_command

    return commits_command.resolve(args.review_id, args.resolver, args.ran, args.reason, args.action)


def _add_decision_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("review_id", metavar="ID", help="the review id, as `pending` lists it")
    parser.add_argument(
        "--as", dest="reviewer", required=True, metavar="NAME", help="who decides, as the policy lists it"
    )


def _validate(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates.terminal import format_report, wants_color
    from prefect_review_gate.validators import SourceLibrary, has_blocking, validate_draft
    from prefect_review_gate.validators.sources import read_text_file

    draft = read_text_file(args.draft, "draft")
    library = SourceLibrary.from_folder(args.sources)
    findings = validate_draft(draft, library)
    blocking = has_blocking(findings)
    if args.json:
        document = {"findings": [f.to_contract() for f in findings], "blocking": blocking}
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(format_report(str(args.draft), draft, findings, color=wants_color(sys.stdout)))
    return EXIT_BLOCKING if blocking else EXIT_OK


def _validate_actions(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates.terminal import format_pointer_report, wants_color
    from prefect_review_gate.validators import World, has_blocking, validate_proposal
    from prefect_review_gate.validators.world import load_json

    proposal = load_json(args.proposal, "proposal")
    findings = validate_proposal(proposal, World.from_file(args.world))
    blocking = has_blocking(findings)
    if args.json:
        entries = [{**f.to_contract(), "pointer": f.pointer} for f in findings]
        sys.stdout.write(json.dumps({"findings": entries, "blocking": blocking}, ensure_ascii=False) + "\n")
    else:
        report = format_pointer_report(str(args.proposal), proposal, findings, color=wants_color(sys.stdout))
        sys.stdout.write(report)
    return EXIT_BLOCKING if blocking else EXIT_OK


# The review commands import Prefect, through review_commands, only once they run; pending, show,
# approve and reject not at all when PREFECT_API_URL is in the environment.


def _pending(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import pending_command

    return pending_command.pending(as_json=args.json)


def _show(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import show_command

    return show_command.show(args.review_id, as_json=args.json)


def _approve(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import decide_command

    return decide_command.approve(args.review_id, args.reviewer, args.comment, args.override_reason)


def _reject(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import decide_command

    return decide_command.reject(args.review_id, args.reviewer, args.reason)


def _expire(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import review_commands

    return review_commands.expire()


def _add_serve_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve Slack's interactivity requests: review buttons and modals resume runs",
        description="Run the Slack interaction server (Bolt): HTTP at /slack/events, or Socket Mode. "
        "Needs SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (and SLACK_APP_TOKEN for --socket-mode); "
        "decisions go to the Prefect API named by PREFECT_API_URL. Exit 2 when not configured.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on; 0 picks a free one")
    serve.add_argument("--socket-mode", action="store_true", help="connect to Slack over Socket Mode instead")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates.slack.serve import run_serve

    return run_serve(args.host, args.port, args.socket_mode)


def _add_monitoring_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    where = " Talks to the Prefect API named by PREFECT_API_URL."
    stats = commands.add_parser(
        "stats",
        help="per agent and flow: outcomes, fabrication rate, findings, overrides, time to decision",
        description="Figures of the reviews opened in a window: outcomes, the fabrication rate (reviews "
        "with a blocking finding / reviews), findings by code, overrides and their reasons, time to "
        "decision p50/p95, edits, refused decisions by reason, the reviewers' share. Exit 0: printed; "
        "2: bad usage or the API unset or unreachable; 3: the API stayed busy." + where,
    )
    stats.add_argument(
        "--since", default="7d", metavar="AGE", help="how far back: 30m, 24h, 7d, 2w (default 7d)"
    )
    stats.add_argument("--agent", default=None, metavar="NAME", help="one requester only, e.g. agent:closer")
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=_stats)

    automations = commands.add_parser(
        "automations",
        help="create the ready-made Prefect automations on the gate's events",
        description="Prefect automations on the review_gate.* events." + where,
    )
    verbs = automations.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    apply = verbs.add_parser(
        "apply",
        help="create or update: review waiting too long, fabrication alert, delivery failed",
        description="Create the three ready-made automations, or update those of the same names: a "
        "review waiting longer than --waiting-hours notifies; an agent whose fabrication rate is above "
        "the report flow's threshold gets its deployment paused, with a notification saying why; a "
        "failed channel delivery notifies. Exit 0: applied; 2: bad usage, an unknown block, or the API "
        "unset or unreachable." + where,
    )
    apply.add_argument(
        "--notify-block",
        required=True,
        metavar="TYPE/NAME",
        help="the notification block for the reviewers' channel, e.g. slack-webhook/reviewers",
    )
    apply.add_argument(
        "--waiting-hours", type=float, default=24.0, metavar="N", help="how long a review may wait (24)"
    )
    apply.set_defaults(handler=_automations_apply)


def _stats(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import stats_command

    return stats_command.stats(args.since, args.agent, args.json)


def _automations_apply(args: argparse.Namespace) -> int:
    from prefect_review_gate.gates import automations

    return automations.apply_command(args.notify_block, args.waiting_hours)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (the console script exits with it)."""
    args = _build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except InputError as exc:
        _error(args.command, exc)
        return EXIT_USAGE
    except ApiBusy as exc:
        _error(args.command, exc)
        return EXIT_BUSY
    except ReviewGateError as exc:
        _error(args.command, exc)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    return status


def _error(command: str, exc: Exception) -> None:
    from prefect_review_gate.gates.terminal import printable

    # Messages can quote what agents and reviewers wrote: one line, with no control characters.
    message = printable(" ".join(str(exc).splitlines()))
    sys.stderr.write(f"review-gate {command}: {message}\n")


if __name__ == "__main__":
    sys.exit(main())
