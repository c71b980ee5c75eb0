"""`python -m prefect_review_gate.flows.closer.crm seed [PATH]`: create the demo CRM (SQLite)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from prefect_review_gate.flows.closer.crm.model import CrmError
from prefect_review_gate.flows.closer.crm.seed import seed
from prefect_review_gate.flows.closer.crm.settings import CrmSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prefect_review_gate.flows.closer.crm")
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="create the demo pipeline in a SQLite file (replacing it)")
    seeding.add_argument("path", nargs="?", help="the file; default: REVIEW_GATE_CRM_PATH or its default")
    args = parser.parse_args(argv)
    path = args.path or str(CrmSettings.from_env().sqlite_path)
    try:
        crm = seed(path)
    except CrmError as exc:
        sys.stderr.write(f"seed: {exc}\n")
        return 2
    deals = crm.changed_deals(since=datetime(1970, 1, 1, tzinfo=UTC), limit=1000)
    sys.stdout.write(
        f"Seeded the demo CRM at {crm.path}: {len(deals)} deals in {len(crm.stages())} stages.\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
