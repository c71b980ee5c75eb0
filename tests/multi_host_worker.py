"""A worker on one "host" of the multi-host tests: it commits every verdict in a file, racing another.

Run as `python -m multi_host_worker VERDICTS HOST` (tests/ on PYTHONPATH) in its own process group,
with its own PREFECT_HOME and result storage; only the Prefect API is shared. Each action appends a
line to a shared file with O_APPEND, the count the tests check. Prints one JSON line per verdict:
{"review_id", "replayed"} or {"review_id", "error", "message"}.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path
from typing import Literal

from gated_flows import HANG_MID_ACTION, verdict_from_json

from prefect_review_gate.gates import Action, Executors, commit

__all__ = ["EXECUTORS", "HANG_MID_ACTION", "HostAppend"]

EXECUTORS = Executors()


class HostAppend(Action):
    """Appends `line` and the host's name to `path` (O_APPEND: one write, never interleaved)."""

    kind: Literal["test.host_append"] = "test.host_append"
    path: str
    line: str
    delay: float = 0.2  # long enough for the two hosts' commits of one action to overlap


@EXECUTORS.register("test.host_append")
async def append_line(action: HostAppend, key: str) -> dict[str, str]:
    await asyncio.sleep(action.delay)
    host = os.environ.get("REVIEW_GATE_TEST_HOST", "?")
    fd = os.open(action.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{action.line} {host}\n".encode())
    finally:
        os.close(fd)
    if os.environ.get(HANG_MID_ACTION) == "1":
        await asyncio.Event().wait()  # the side effect happened; this process is killed right here
    return {"line": action.line, "host": host}


async def _commit_all(verdicts: list[dict[str, object]], seed: int) -> None:
    order = list(verdicts)
    random.Random(seed).shuffle(order)
    gate = asyncio.Semaphore(10)

    async def one(data: dict[str, object]) -> None:
        verdict = verdict_from_json(data)
        async with gate:
            try:
                report = await commit(verdict, executors=EXECUTORS)
                line = {"review_id": verdict.review_id, "replayed": report.outcomes[0].replayed}
            except Exception as exc:
                line = {"review_id": verdict.review_id, "error": type(exc).__name__, "message": str(exc)}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    await asyncio.gather(*(one(v) for v in order))


def main(verdicts_path: str, seed: int) -> None:
    verdicts = json.loads(Path(verdicts_path).read_text(encoding="utf-8"))
    asyncio.run(_commit_all(verdicts, seed))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
