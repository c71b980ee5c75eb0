"""A build workspace as evidence: its files, their digests, JUnit reports, and its git history.

Read-only and offline. Git is asked through `git` itself (plumbing commands only, no hooks run); a
workspace that is no repository simply knows no commit and no tag, so such claims fail closed.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from prefect_review_gate.validators.errors import InputError

__all__ = ["TestCounts", "Workspace", "file_sha256"]

_HEX_ID = re.compile(r"[0-9a-fA-F]{7,64}")
_GIT_TIMEOUT_SECONDS = 20


def file_sha256(path: Path) -> str:
    """The file's sha256, read once in 1 MiB blocks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TestCounts:
    """Test outcomes counted from a JUnit report's testcase elements."""

    __test__ = False  # not a pytest test class, despite the name

    passed: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class Workspace:
    root: Path
    # A release and the claim about it name the same file: each file is hashed once per workspace,
    # keyed by its size and modification time so that a file changed meanwhile is hashed again.
    _digests: dict[tuple[Path, int, int], str] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def open(cls, root: Path) -> Workspace:
        if not root.is_dir():
            raise InputError(f"workspace {root} is not a folder")
        return cls(root.resolve())

    def file(self, relative: str) -> Path | None:
        """The file at `relative` inside the workspace, or None (absent, a folder, or outside it)."""
        if not relative or Path(relative).is_absolute():
            return None
        path = (self.root / relative).resolve()
        # A claim cannot point out of the workspace (`../../etc/passwd`), symlinks included.
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = file_sha256(path)
        return self._digests[key]

    @staticmethod
    def test_counts(report: Path) -> TestCounts | None:
        """Counts from a JUnit XML report (pytest's layout), or None when it is not one."""
        try:
            root = ElementTree.parse(report).getroot()
        except (ElementTree.ParseError, OSError):
            return None
        if root.tag not in ("testsuites", "testsuite"):
            return None
        passed = failed = skipped = 0
        for case in root.iter("testcase"):
            children = {child.tag for child in case}
            if children & {"failure", "error"}:
                failed += 1
            elif "skipped" in children:
                skipped += 1
            else:
                passed += 1
        return TestCounts(passed, failed, skipped)

    def has_commit(self, sha: str) -> bool:
        """True when a commit's id starts with `sha` (7 to 64 hex digits, unambiguous)."""
        if not _HEX_ID.fullmatch(sha) or not self._is_repository:
            return False
        return self._git("rev-parse", "--verify", "--quiet", f"{sha.lower()}^{{commit}}")

    def has_tag(self, name: str) -> bool:
        if not name or name.startswith("-") or not self._is_repository:
            return False
        return self._git("show-ref", "--verify", "--quiet", f"refs/tags/{name}")

    @cached_property
    def _is_repository(self) -> bool:
        return self._git("rev-parse", "--git-dir")

    def _git(self, *args: str) -> bool:
        git = shutil.which("git")
        if git is None:
            raise InputError("`git` is not on the PATH: commit and tag claims cannot be checked")
        try:
            result = subprocess.run(
                [git, "-C", str(self.root), *args],
                capture_output=True,
                timeout=_GIT_TIMEOUT_SECONDS,
                check=False,
                env={
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_TERMINAL_PROMPT": "0",
                    # A workspace that is no repository must not borrow the history of one it sits in.
                    "GIT_CEILING_DIRECTORIES": str(self.root.parent),
                },
            )
        except subprocess.TimeoutExpired:
            raise InputError(f"git took over {_GIT_TIMEOUT_SECONDS} s in workspace {self.root}") from None
        return result.returncode == 0
