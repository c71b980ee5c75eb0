"""Who used the machine's CPU during a measurement: the Prefect server, PostgreSQL, the flows...

On a machine where the benchmark's flows, the Slack server and the Prefect server share two cores,
a latency figure alone cannot say whether the server is slow or merely starved. `CpuCensus`
snapshots every process's CPU time (utime + stime from /proc) and, at the end, sums the difference
by role: the role its own command line names, else its session's (every server here starts in a
session of its own, and its children, uvicorn's workers among them, stay in it).
Processes that ended during the window (the CLI's `approve` processes) are not seen: their CPU is
under "ended". A process that ended but was not reaped yet is counted under the role it had at
`start()`, or the one `name()` gave it. Linux only; elsewhere it reports nothing.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

__all__ = ["CpuCensus"]

# (role, pieces of a command line that name it), first match wins.
ROLES = (
    ("Prefect API", (" server start ",)),
    ("Prefect services", (" services start ",)),
    ("PostgreSQL", ("postgres: ", "/bin/postgres ")),
    ("Redis", ("redis-server ",)),
    ("S3 (moto)", ("moto_server ",)),
    ("flow processes", (" --_flows ", " --_worker ", " --_bare ")),
    ("review-gate serve", (" serve ",)),
)
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (session id, CPU seconds so far), for every process readable now."""
    found: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        # After the name: state ppid pgrp session ... utime(11) stime(12), counted from state.
        found[int(entry.name)] = (int(fields[3]), (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def _command(pid: int) -> str:
    try:
        return " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0"))
    except OSError:
        return ""


def _named(command: str) -> str | None:
    padded = f" {command} "
    return next((role for role, pieces in ROLES if any(p in padded for p in pieces)), None)


def _role(pid: int, session: int) -> str:
    named = _named(_command(pid)) or _named(_command(session))
    if named:
        return named
    return "this benchmark (clicks, decide())" if session == os.getsid(0) else "other"


class CpuCensus:
    """`start()` before the window, `stop()` after it; `line()` says who used how much."""

    def __init__(self) -> None:
        self._named: dict[int, str] = {}
        self._before: dict[int, tuple[int, float]] = {}
        self._children_before = 0.0
        self._started = 0.0
        self.wall_seconds = 0.0
        self.by_role: dict[str, float] = {}

    def name(self, pid: int, role: str) -> None:
        """Count `pid` under `role`: for a process that may have ended, unreaped, by `stop()` (a
        zombie's /proc entry keeps its CPU time but no command line to name it by)."""
        self._named[pid] = role

    def start(self) -> None:
        self._before = _processes()
        # Named now, while their command lines can be read: one that ends before `stop()` and is
        # not reaped yet keeps its CPU time there, but not its command line.
        for pid in self._before:
            if pid not in self._named and (role := _named(_command(pid))):
                self._named[pid] = role
        self._children_before = _children_seconds()
        self._started = time.monotonic()

    def stop(self) -> None:
        after = _processes()
        self.wall_seconds = time.monotonic() - self._started
        by_role: dict[str, float] = {}
        for pid, (session, seconds) in after.items():
            earlier = self._before.get(pid, (session, 0.0))[1]
            if seconds > earlier:
                role = self._named.get(pid) or _role(pid, session)
                by_role[role] = by_role.get(role, 0.0) + seconds - earlier
        ended = _children_seconds() - self._children_before
        if ended > 0:
            by_role["ended (CLI processes)"] = ended
        self.by_role = by_role

    def line(self) -> str:
        total = sum(self.by_role.values())
        if total <= 0:
            return "CPU: not measured here"
        ranked = sorted(self.by_role.items(), key=lambda item: -item[1])
        parts = ", ".join(f"{role} {seconds:.1f} s" for role, seconds in ranked)
        busy = total / (self.wall_seconds * (os.cpu_count() or 1)) if self.wall_seconds else 0.0
        return f"{self.wall_seconds:.1f} s, CPU {total:.1f} s ({busy:.0%} of all cores): {parts}"


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
