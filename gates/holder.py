"""`Holder`: which process claimed an action, and whether that process is known to be gone.

The commit ledger's claim on the Prefect server says who holds an action; a racing commit waits for
the holder's outcome while the holder may be alive. Only a holder on this same machine can be
known dead (its process id is gone, or now belongs to a process started later); a holder on
another host is never presumed dead, so its racer waits and then refuses rather than guess.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["Holder", "this_host"]

# Claims held by live tasks of this process: a claim of this process that is not in here was
# dropped by a task that was cancelled mid-action, and may have happened.
_ACTIVE: set[str] = set()


def this_host() -> str:
    """This machine: its host name and, on Linux, its boot id (a reboot kills every holder)."""
    boot = Path("/proc/sys/kernel/random/boot_id")
    try:
        boot_id = boot.read_text(encoding="ascii").strip()
    except OSError:
        boot_id = ""
    return f"{socket.gethostname()}/{boot_id}" if boot_id else socket.gethostname()


def _stat(pid: int) -> list[str]:
    """Fields 3 onwards of /proc/PID/stat (Linux), or [] where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return []
    # The command name (field 2) may hold spaces and parentheses, so split after its end.
    return stat.rsplit(")", 1)[-1].split()


def _started(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (field 22), or None where unknown."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else None


class Holder(BaseModel):
    """The process that claimed an action: where it runs, and a token for this one claim."""

    host: str
    pid: int
    started: str | None = Field(default=None, description="Process start (ticks since boot): pid reuse.")
    token: str = Field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def current(cls) -> Holder:
        pid = os.getpid()
        return cls(host=this_host(), pid=pid, started=_started(pid))

    def hold(self) -> None:
        _ACTIVE.add(self.token)

    def let_go(self) -> None:
        _ACTIVE.discard(self.token)

    def host_is_here(self) -> bool:
        return self.host == this_host()

    def is_known_dead(self) -> bool:
        """True only when this holder is certainly gone; a holder on another host never is."""
        if not self.host_is_here():
            return False
        if self.pid == os.getpid() and self.started == _started(self.pid):
            return self.token not in _ACTIVE
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            pass
        fields = _stat(self.pid)
        if fields and fields[0] in {"Z", "X"}:  # killed, not yet reaped by its parent
            return True
        started = fields[19] if len(fields) > 19 else None
        return started is not None and self.started is not None and started != self.started

    def describe(self) -> str:
        return f"process {self.pid} on {self.host.split('/', 1)[0]}"
