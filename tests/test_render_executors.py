"""RENDER's executors on real repositories and a real build: each side effect happens once, what
another commit wrote is never overwritten, and pip installs from the published index."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from render_helpers import pushes, repositories

from prefect_review_gate.flows.render.actions import GitTag
from prefect_review_gate.flows.render.build import build_workspace
from prefect_review_gate.flows.render.executors import agent_executors
from prefect_review_gate.flows.render.facts import Artifact
from prefect_review_gate.flows.render.git import git
from prefect_review_gate.flows.render.workspace import clone
from prefect_review_gate.gates.actions import GitPush, PublishRelease
from prefect_review_gate.gates.errors import DeliveryFailed


@dataclass(frozen=True)
class Built:
    workspace: Path
    remote: Path
    commit: str
    wheel: Artifact


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    repository, remote = repositories(tmp_path / "repos")
    checkout = clone(str(repository), "main", tmp_path / "workspace")
    build = build_workspace(Path(checkout.path), checkout.committed_at, isolated=False, timeout=300)
    yield Built(Path(checkout.path), remote, checkout.commit, build.artifacts[0])


def _tag(built: Built, tag: str = "v0.2.0", commit: str | None = None) -> GitTag:
    return GitTag(
        repository=str(built.workspace), tag=tag, commit=commit or built.commit, message="## 0.2.0\n"
    )


def _publish(built: Built, index: Path) -> PublishRelease:
    return PublishRelease(
        artifact=built.wheel.path, sha256=built.wheel.sha256, version="0.2.0", destination=str(index)
    )


def test_tag_publish_push_happen_once_each(built: Built, tmp_path: Path) -> None:
    run = agent_executors(built.workspace)
    index = tmp_path / "simple"
    tag, publish = _tag(built), _publish(built, index)
    push = GitPush(branch="main", remote=str(built.remote))

    first = [run[a.kind](a, f"key-{i}") for i, a in enumerate((tag, publish, push))]
    wheel = index / "tinyunits" / Path(built.wheel.path).name
    copied = wheel.stat()
    again = [run[a.kind](a, f"key-{i}") for i, a in enumerate((tag, publish, push))]

    assert "note" not in first[0] and first[1]["path"] == str(wheel) and first[2]["pushed"]
    assert [r.get("note") for r in again] == [
        "already tagged",
        "already published with this digest",
        "the remote already has these refs",
    ]
    assert git("tag", "--list", cwd=built.workspace).split() == ["v0.1.0", "v0.2.0"]
    assert git("cat-file", "-p", "v0.2.0", cwd=built.workspace).endswith("## 0.2.0")
    assert (wheel.stat().st_ino, wheel.stat().st_mtime_ns) == (copied.st_ino, copied.st_mtime_ns)
    assert pushes(built.remote) == 1
    assert git("rev-parse", "main", "v0.2.0^{commit}", cwd=built.remote).split() == [built.commit] * 2


def test_pip_installs_the_release_from_the_index(built: Built, tmp_path: Path) -> None:
    index = tmp_path / "simple"
    agent_executors(built.workspace)["release.publish"](_publish(built, index), "key")
    page = (index / "tinyunits" / "index.html").read_text(encoding="utf-8")
    assert f"#sha256={built.wheel.sha256}" in page

    # --isolated: only this index, none configured on the machine.
    download = [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--quiet"]
    subprocess.run(
        [*download, "--index-url", index.as_uri(), "-d", str(tmp_path / "got"), "tinyunits==0.2.0"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert [p.name for p in (tmp_path / "got").iterdir()] == [Path(built.wheel.path).name]


def test_nothing_is_overwritten_or_moved(built: Built, tmp_path: Path) -> None:
    run = agent_executors(built.workspace)
    index = tmp_path / "simple"
    taken = index / "tinyunits" / Path(built.wheel.path).name
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"another build")
    with pytest.raises(DeliveryFailed, match="already published with other content"):
        run["release.publish"](_publish(built, index), "key")
    assert taken.read_bytes() == b"another build"

    older = git("rev-parse", "v0.1.0^{commit}", cwd=built.workspace)
    with pytest.raises(DeliveryFailed, match="never moves a tag"):
        run["git.tag"](_tag(built, "v0.1.0"), "key")
    assert git("rev-parse", "v0.1.0^{commit}", cwd=built.workspace) == older


def test_an_artifact_changed_since_the_review_is_not_published(built: Built, tmp_path: Path) -> None:
    (built.workspace / built.wheel.path).write_bytes(b"tampered after approval")
    with pytest.raises(DeliveryFailed, match="no longer has the approved sha256"):
        agent_executors(built.workspace)["release.publish"](_publish(built, tmp_path / "simple"), "key")
    assert not (tmp_path / "simple").exists()


def test_a_remote_that_moved_on_refuses_the_push(built: Built, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git("clone", "--quiet", str(built.remote), str(other))
    (other / "NOTES.md").write_text("elsewhere\n", encoding="utf-8")
    git("add", "NOTES.md", cwd=other)
    git("-c", "user.name=Bo", "-c", "user.email=bo@example.invalid", "commit", "-qm", "elsewhere", cwd=other)
    git("push", "--quiet", "origin", "main", cwd=other)
    before = pushes(built.remote)

    with pytest.raises(DeliveryFailed, match="could not push main"):
        agent_executors(built.workspace)["git.push"](GitPush(branch="main", remote=str(built.remote)), "k")
    assert pushes(built.remote) == before  # no force: nothing of ours landed
