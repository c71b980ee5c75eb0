"""The release proposal checked before anyone is asked: against the workspace and the build's facts.

- `validate_proposal` (the `validate-actions` rules): digests recomputed, JUnit counts, commits and
  tags asked to git, missing artifacts, unrequested actions;
- RENDER's own rules, on what only this build knows (block):

  failed_precondition  a release, or a success claim, over a failed build or test run   /actions/i/kind
  untested_commit      a tag on a commit other than the one built and tested              /actions/i/commit
  tag_exists           a tag name the repository already has (a release never moves one)  /actions/i/tag
  version_mismatch     a version, or a tag without the version, other than the build's    /actions/i/version
  unbuilt_artifact     a workspace file this build did not produce                        /actions/i/artifact
  unbuilt_branch       a push of a branch other than the one built                        /actions/i/branch

The flow ends `Blocked` before the agent when the build or tests fail; `failed_precondition` keeps
that true of anything checked here too (an edit, a caller with other facts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.render.facts import BuildFacts
from prefect_review_gate.validators.findings import Finding, Severity
from prefect_review_gate.validators.proposals import validate_proposal
from prefect_review_gate.validators.sources import SourceLibrary
from prefect_review_gate.validators.workspace import Workspace
from prefect_review_gate.validators.world import Crm, World

__all__ = ["check_release"]

Rule = Callable[[Mapping[str, Any], str, BuildFacts, Workspace], list[Finding]]


def check_release(document: Mapping[str, Any], facts: BuildFacts) -> list[Finding]:
    """Findings on a proposal document (task, actions, claims) for this build, in document order."""
    workspace = Workspace.open(Path(facts.checkout.path))
    world = World(crm=Crm(), workspace=workspace, sources=SourceLibrary.from_texts({}))
    own = {kind for kind in _RULES}
    # `validate-actions` cannot check git.tag (RENDER's own kind) and says so; the rules below do.
    findings = [
        f
        for f in validate_proposal(document, world)
        if not (f.code == "unchecked_action" and _kind_at(document, f.pointer) in own)
    ]
    failure = facts.failure()
    for index, action in enumerate(document.get("actions", [])):
        at = f"/actions/{index}"
        if not isinstance(action, Mapping):
            continue
        if failure is not None:
            first_line = failure.splitlines()[0]
            message = f"{first_line} A release cannot be proposed over it."
            findings.append(_block("failed_precondition", f"{at}/kind", message))
        rule = _RULES.get(str(action.get("kind")))
        if rule is not None:
            findings += rule(action, at, facts, workspace)
    if failure is not None:
        for index, claim in enumerate(document.get("claims", [])):
            if isinstance(claim, Mapping) and claim.get("kind") in ("tests", "artifact"):
                message = "The build or its tests failed; a claim of what it produced or passed cannot stand."
                findings.append(_block("failed_precondition", f"/claims/{index}", message))
    return findings


def _kind_at(document: Mapping[str, Any], pointer: str | None) -> str | None:
    parts = (pointer or "").split("/")
    if len(parts) >= 3 and parts[1] == "actions" and parts[2].isdigit():
        actions = document.get("actions", [])
        index = int(parts[2])
        if index < len(actions) and isinstance(actions[index], Mapping):
            return str(actions[index].get("kind"))
    return None


def _tag(action: Mapping[str, Any], at: str, facts: BuildFacts, workspace: Workspace) -> list[Finding]:
    findings = []
    commit, built = action.get("commit"), facts.checkout.commit
    if not isinstance(commit, str) or len(commit) < 7 or not built.startswith(commit.lower()):
        message = (
            f"RENDER built and tested {built[:12]}; the tag would mark {commit!r}, which it did not test."
        )
        findings.append(_block("untested_commit", f"{at}/commit", message))
    tag = action.get("tag")
    if isinstance(tag, str) and workspace.has_tag(tag):
        message = f"The repository already has a tag {tag!r}; a release never moves an existing tag."
        findings.append(_block("tag_exists", f"{at}/tag", message))
    version = facts.build.version
    if isinstance(tag, str) and version and version not in tag:
        message = f"The tag {tag!r} does not name the version built, {version}."
        findings.append(_block("version_mismatch", f"{at}/tag", message))
    return findings


def _publish(action: Mapping[str, Any], at: str, facts: BuildFacts, workspace: Workspace) -> list[Finding]:
    findings = []
    version = action.get("version")
    if version != facts.build.version:
        message = f"The build produced version {facts.build.version}, not {version!r}."
        findings.append(_block("version_mismatch", f"{at}/version", message))
    artifact = action.get("artifact")
    # A missing file is already `missing_artifact`: nothing to compare, nothing more to report.
    if isinstance(artifact, str) and workspace.file(artifact) and facts.artifact(artifact) is None:
        built = ", ".join(a.path for a in facts.build.artifacts) or "nothing"
        message = f"{artifact} is in the workspace but this build did not produce it (it built {built})."
        findings.append(_block("unbuilt_artifact", f"{at}/artifact", message))
    return findings


def _push(action: Mapping[str, Any], at: str, facts: BuildFacts, workspace: Workspace) -> list[Finding]:
    branch = action.get("branch")
    if branch == facts.checkout.branch:
        return []
    message = f"The build ran on branch {facts.checkout.branch!r}; {branch!r} was not built or tested."
    return [_block("unbuilt_branch", f"{at}/branch", message)]


_RULES: dict[str, Rule] = {"git.tag": _tag, "release.publish": _publish, "git.push": _push}


def _block(code: str, pointer: str, message: str) -> Finding:
    return Finding(code=code, severity=Severity.BLOCK, message=message, pointer=pointer)
