"""`FileLock`: an exclusive operating-system lock on a file, awaited without blocking the event loop.

It serializes processes on one host only: two workers on two machines never see each other's
lock, even on a shared network folder (flock over NFS is not to be trusted). So it guards only
what lives on one host: the Slack server's decision queue file. The commit ledger does not use
it: its claims are write-once inputs on the Prefect server, which every host shares (`ledger`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

__all__ = ["FileLock"]

_POLL_SECONDS = 0.05


class FileLock:
    """An exclusive lock on a file (flock, or msvcrt on Windows), polled without blocking the loop.

    Not Prefect's FileSystemLockManager: its lock file outlives a killed holder until it expires,
    a racing reader can find it empty and fail, and it waits with `time.sleep` inside async code,
    which stalls a second commit on the same event loop until it times out. An OS lock is held by
    nobody once its process dies, however it dies.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self, timeout: float) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                await asyncio.sleep(_POLL_SECONDS)
        except BaseException:  # cancelled while waiting: do not leak the descriptor
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                _unlock(fd)
            finally:
                os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
