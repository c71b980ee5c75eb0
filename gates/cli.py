"""`review-gate`: the command line.

    review-gate validate DRAFT --sources DIR [--json]

Exit status: 0 no blocking finding, 1 blocking findings, 2 bad usage or unreadable input.
Heavy imports stay inside the commands so that `validate` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from prefect_review_gate.validators.errors import InputError

__all__ = ["main"]

EXIT_OK, EXIT_BLOCKING, EXIT_USAGE = 0, 1, 2


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
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (the console script exits with it)."""
    args = _build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except InputError as exc:
        sys.stderr.write(f"review-gate {args.command}: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
