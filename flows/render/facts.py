"""What a build established, as data: the checkout, the artifacts with their digests, the test run.

No Prefect here: the agent's request, the checks and the tests read these without a server. The
tasks that produce them are in `workspace` and `build`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Artifact", "BuildFacts", "BuildResult", "Checkout", "TestRun"]


class Checkout(BaseModel):
    """The repository cloned into the run's workspace."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="The workspace: an absolute path to the clone.")
    repository: str = Field(description="Where it was cloned from (a path or a URL).")
    branch: str
    commit: str = Field(description="The full id of the commit built.")
    committed_at: int = Field(description="Its commit time (Unix seconds): the build's SOURCE_DATE_EPOCH.")
    previous_tag: str | None = Field(default=None, description="The newest tag reachable from it, if any.")
    changelog: str = Field(default="", description="CHANGELOG.md (or CHANGES.md, HISTORY.md), as committed.")


class Artifact(BaseModel):
    """One file the build produced."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="Relative to the workspace, e.g. `dist/pkg-1.0-py3-none-any.whl`.")
    sha256: str
    size: int


class BuildResult(BaseModel):
    """What `python -m build` produced, or why it did not."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    artifacts: tuple[Artifact, ...] = ()
    project: str = ""
    version: str = ""
    log: str = Field(default="", description="The end of the build's output, for a person.")


class TestRun(BaseModel):
    """The test suite's outcome, counted from its JUnit report."""

    __test__ = False  # not a pytest test class, despite the name
    model_config = ConfigDict(frozen=True)

    ok: bool
    report: str = Field(description="The JUnit XML report, relative to the workspace.")
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    exit_code: int
    log: str = Field(default="", description="The end of pytest's output, for a person.")

    def counts(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


class BuildFacts(BaseModel):
    """Everything the build established; the agent is given these and nothing else about the build."""

    model_config = ConfigDict(frozen=True)

    checkout: Checkout
    build: BuildResult
    tests: TestRun | None = Field(default=None, description="None when the build failed: nothing to test.")

    def failure(self) -> str | None:
        """Why this build cannot be released, for a person; None when it built and its tests passed."""
        if not self.build.ok:
            return (
                f"The build of {self.checkout.commit[:12]} failed; nothing was released.\n\n{self.build.log}"
            )
        if self.tests is None or not self.tests.ok:
            tests = self.tests
            if tests is None:
                return "The tests did not run; nothing was released."
            what = tests.counts() if tests.passed or tests.failed else f"pytest exited {tests.exit_code}"
            return (
                f"The tests of {self.checkout.commit[:12]} did not pass ({what}; report {tests.report}); "
                f"nothing was released.\n\n{tests.log}"
            )
        return None

    def artifact(self, path: str) -> Artifact | None:
        return next((a for a in self.build.artifacts if a.path == path), None)

    def for_agent(self) -> dict[str, Any]:
        """The facts as the agent's request shows them (JSON); logs and the changelog go elsewhere."""
        return {
            "repository": self.checkout.repository,
            "branch": self.checkout.branch,
            "commit": self.checkout.commit,
            "previous_tag": self.checkout.previous_tag,
            "project": self.build.project,
            "version": self.build.version,
            "artifacts": [a.model_dump() for a in self.build.artifacts],
            "tests": None
            if self.tests is None
            else self.tests.model_dump(include={"report", "passed", "failed", "skipped"}),
        }
