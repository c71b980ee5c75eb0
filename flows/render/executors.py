"""What RENDER's approved actions run: tag, publish (copy once), push. Each is idempotent on its own,
beside the gate's ledger: a tag already on the commit, a file already in the index with the approved
digest, refs the remote already has are reported as done and not done again.

The tag names its repository; publish and push read the run's workspace, which the flow passes to
`agent_executors(workspace)`.

Every failure raises `ActionNotPerformed`: each either stops before anything changed, or, being
idempotent, a retry cannot repeat what a half-done attempt did (a tag, a copy or a ref already
there is found and reported), so the commit ledger may let a retry run it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect_review_gate.flows.render.actions import GitTag
from prefect_review_gate.flows.render.git import GitError, git
from prefect_review_gate.flows.render.release_index import IndexConflict, add_file
from prefect_review_gate.gates.actions import GitPush, PublishRelease
from prefect_review_gate.gates.errors import ActionNotPerformed
from prefect_review_gate.gates.executors import Executors
from prefect_review_gate.validators.workspace import Workspace

__all__ = ["agent_executors", "publish_release", "push_branch", "tag_commit"]


def tag_commit(action: GitTag, idempotency_key: str) -> dict[str, str]:
    """Create the annotated tag; a tag already on that commit is done, one on another commit is refused."""
    repository = Path(action.repository)
    try:
        git("check-ref-format", f"refs/tags/{action.tag}")
        commit = git("rev-parse", "--verify", f"{action.commit}^{{commit}}", cwd=repository)
    except GitError as exc:
        raise ActionNotPerformed(
            f"cannot tag {action.commit} as {action.tag} in {repository}: {exc.detail}"
        ) from None
    try:
        existing = git("rev-parse", "--verify", f"refs/tags/{action.tag}^{{commit}}", cwd=repository)
    except GitError:
        existing = ""
    summary = f"tag {action.tag} on {commit[:12]} in {repository}"
    if existing == commit:
        return {"tag": action.tag, "commit": commit, "note": "already tagged", "summary": summary}
    if existing:
        raise ActionNotPerformed(
            f"{repository} already has tag {action.tag} on {existing[:12]}, not {commit[:12]}; "
            "a release never moves a tag: delete it by hand or release under another name"
        )
    try:
        # "whitespace", not the default "strip": markdown headings (`## 0.2.0`) are not comments here.
        git(
            "tag",
            "--annotate",
            "--cleanup=whitespace",
            "--file=-",
            action.tag,
            commit,
            cwd=repository,
            stdin=action.message,
        )
    except GitError as exc:
        raise ActionNotPerformed(f"could not tag {commit[:12]} as {action.tag}: {exc.detail}") from None
    return {"tag": action.tag, "commit": commit, "summary": summary}


def publish_release(workspace: Path | None, action: PublishRelease, idempotency_key: str) -> dict[str, str]:
    """Copy the artifact into the release index, once, if it still has the approved digest."""
    if workspace is None:
        raise ActionNotPerformed("RENDER's executors were built without a workspace; nothing was published")
    if not action.destination:
        raise ActionNotPerformed(
            f"the release of {action.artifact} names no destination; nothing was published"
        )
    files = Workspace(workspace.resolve())
    source = files.file(action.artifact)
    if source is None:
        raise ActionNotPerformed(
            f"{action.artifact} is no longer in the workspace {workspace}; nothing was published"
        )
    if files.sha256(source) != action.sha256.lower():
        raise ActionNotPerformed(
            f"{action.artifact} no longer has the approved sha256 {action.sha256}; nothing was published"
        )
    project = source.name.split(f"-{action.version}", 1)[0]
    if project == source.name:
        raise ActionNotPerformed(
            f"{source.name} does not carry version {action.version}; nothing was published"
        )
    attempt = hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]
    try:
        target, copied = add_file(Path(action.destination), project, source, action.sha256.lower(), attempt)
    except IndexConflict as exc:
        raise ActionNotPerformed(f"{exc}; nothing was overwritten: publish under a new version") from None
    except OSError as exc:
        raise ActionNotPerformed(f"could not publish into {action.destination}: {exc.strerror}") from None
    result = {"path": str(target), "sha256": action.sha256.lower()}
    return result if copied else {**result, "note": "already published with this digest"}


def push_branch(workspace: Path | None, action: GitPush, idempotency_key: str) -> dict[str, str]:
    """Push the branch and the tags on its head to the remote; refs it already has are not pushed again."""
    if workspace is None or not action.remote:
        raise ActionNotPerformed(
            f"the push of {action.branch} names no workspace or remote; nothing was pushed"
        )
    try:
        head = git("rev-parse", "--verify", f"refs/heads/{action.branch}", cwd=workspace)
        tags = git("tag", "--points-at", head, cwd=workspace).split()
        wanted = {f"refs/heads/{action.branch}": head}
        wanted |= {f"refs/tags/{t}": git("rev-parse", f"refs/tags/{t}", cwd=workspace) for t in tags}
        listed = git("ls-remote", action.remote, *wanted, cwd=workspace)
        there = {}
        for line in listed.splitlines():
            sha, _, ref = line.partition("\t")
            there[ref] = sha
        missing = [ref for ref, sha in wanted.items() if there.get(ref) != sha]
        if missing:
            # No --force: a remote that moved on refuses, and a person decides what to do.
            git("push", "--porcelain", action.remote, *(f"{ref}:{ref}" for ref in missing), cwd=workspace)
    except GitError as exc:
        raise ActionNotPerformed(f"could not push {action.branch} to {action.remote}: {exc.detail}") from None
    result = {"remote": action.remote, "branch": action.branch, "commit": head}
    if not missing:
        return {
            **result,
            "note": "the remote already has these refs",
            "summary": f"{action.remote}: up to date",
        }
    return {
        **result,
        "pushed": " ".join(missing),
        "summary": f"pushed {' '.join(missing)} to {action.remote}",
    }


def agent_executors(workspace: str | Path | None = None) -> Executors:
    """RENDER's executors, for `commit`: a new registry each call, bound to the run's workspace."""
    root = Path(workspace) if workspace is not None else None

    def publish(action: PublishRelease, idempotency_key: str) -> dict[str, str]:
        return publish_release(root, action, idempotency_key)

    def push(action: GitPush, idempotency_key: str) -> dict[str, str]:
        return push_branch(root, action, idempotency_key)

    return Executors({"git.tag": tag_commit, "release.publish": publish, "git.push": push})
