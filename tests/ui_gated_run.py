"""A gated run for the browser test, in a process of its own: `python tests/ui_gated_run.py OUT LINE`.

Two approvals from alice and bob are needed and a finding blocks, so the Prefect UI's form must ask
for a reason, and a second approval from the same person is refused by the gate's rule.
"""

from __future__ import annotations

import asyncio
import sys

from gate_helpers import gated_write

POLICY = {"reviewers": ["alice", "bob"], "approvals_required": 2, "timeout": 1800}


def main(out: str, line: str) -> int:
    state = asyncio.run(gated_write(out, line, POLICY, with_findings=True, return_state=True))
    print(f"final state: {state.type.value}", flush=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
