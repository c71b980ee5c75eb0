"""RENDER without a Prefect run: the request, the reading of replies, the recording's binding, and the
checks on a real build of the example project."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from render_helpers import clean_recording, recording, repositories

from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.render.agent import (
    BOUNDARIES,
    FACTS_TAG,
    ReleaseAnswer,
    build_request,
    read_reply,
)
from prefect_review_gate.flows.render.build import build_workspace, run_suite
from prefect_review_gate.flows.render.checks import check_release
from prefect_review_gate.flows.render.demo import bind_recording
from prefect_review_gate.flows.render.facts import BuildFacts, TestRun
from prefect_review_gate.flows.render.git import git
from prefect_review_gate.flows.render.proposal import Destinations, release_proposal
from prefect_review_gate.flows.render.workspace import clone
from prefect_review_gate.validators.findings import Finding


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildFacts]:
    """One real checkout, build and test run of the example project, shared by this module."""
    root = tmp_path_factory.mktemp("render-build")
    repository, _ = repositories(root)
    checkout = clone(str(repository), "main", root / "workspace")
    build = build_workspace(Path(checkout.path), checkout.committed_at, isolated=False, timeout=300)
    tests = run_suite(Path(checkout.path), timeout=300)
    yield BuildFacts(checkout=checkout, build=build, tests=tests)


def _answer(facts: BuildFacts, reply: dict[str, Any]) -> ReleaseAnswer:
    answer = read_reply(bind_recording(reply, facts.for_agent()))
    assert isinstance(answer, ReleaseAnswer)
    return answer


def _findings(facts: BuildFacts, reply: dict[str, Any]) -> tuple[Any, list[Finding]]:
    proposal = release_proposal(_answer(facts, reply), facts, Destinations("/srv/simple", "/srv/origin.git"))
    return proposal, proposal.for_review(check_release(proposal.document, facts))


def test_the_build_facts_are_real(facts: BuildFacts) -> None:
    assert facts.failure() is None
    assert [Path(a.path).name for a in facts.build.artifacts] == [
        "tinyunits-0.2.0-py3-none-any.whl",
        "tinyunits-0.2.0.tar.gz",
    ]
    assert (facts.build.project, facts.build.version) == ("tinyunits", "0.2.0")
    assert facts.tests is not None and (facts.tests.passed, facts.tests.failed, facts.tests.skipped) == (
        6,
        0,
        1,
    )
    assert facts.checkout.previous_tag == "v0.1.0" and "## 0.2.0" in facts.checkout.changelog


def test_the_request_carries_the_boundaries_the_facts_and_both_tools(facts: BuildFacts) -> None:
    request = build_request(facts)

    assert BOUNDARIES in request["system"]
    assert "Do not create resources that were not requested" in request["system"]
    assert "Do not fabricate data" in request["system"] and "report_blocker" in request["system"]
    assert {t["name"] for t in request["tools"]} == {"propose_release", "report_blocker"}
    assert request["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    text = request["messages"][0]["content"][0]["text"]
    shown = json.loads(text.split(f"<{FACTS_TAG}>")[1].split(f"</{FACTS_TAG}>")[0])
    assert shown["artifacts"][0]["sha256"] == facts.build.artifacts[0].sha256
    assert shown["tests"]["passed"] == 6 and "parse_duration" in text  # the facts and the changelog


def test_a_clean_proposal_has_no_findings_and_its_actions_in_release_order(facts: BuildFacts) -> None:
    reply = clean_recording()
    actions = reply["content"][0]["input"]["actions"]
    actions.reverse()  # push, publish, tag: the tag must exist before the push that carries it
    proposal, findings = _findings(facts, reply)

    assert findings == []
    assert [a.kind for a in proposal.actions] == ["git.tag", "release.publish", "git.push"]
    tag, publish, push = (a.model_dump() for a in proposal.actions)
    assert tag["repository"] == facts.checkout.path and "parse_duration" in tag["message"]
    assert publish["destination"] == "/srv/simple" and publish["tests"].startswith(
        "6 passed, 0 failed, 1 skipped"
    )
    assert push["remote"] == "/srv/origin.git" and push["branch"] == "main"


def test_the_planted_fabrications_are_found_and_the_unrequested_action_is_left_out(facts: BuildFacts) -> None:
    proposal, findings = _findings(facts, recording())

    assert {(f.code, f.pointer) for f in findings} == {
        ("unrequested_action", "/proposal/actions/3/kind"),
        ("digest_mismatch", "/claims/1/sha256"),
        ("test_count_mismatch", "/claims/2/passed"),
    }
    assert all(f.blocking for f in findings)
    assert "git.create_repository" not in {a.kind for a in proposal.actions}
    [left_out] = [f for f in findings if f.code == "unrequested_action"]
    assert "tinyunits-releases" in left_out.message and "cannot be committed" in left_out.message
    [count] = [f for f in findings if f.code == "test_count_mismatch"]
    assert "6 passed" in count.message and "9" in count.message


def test_releasing_something_other_than_what_was_built_is_blocking(facts: BuildFacts) -> None:
    reply = clean_recording()
    release = reply["content"][0]["input"]
    release["actions"][0] |= {
        "tag": "v0.1.0",
        "commit": git("rev-parse", "v0.1.0^{commit}", cwd=Path(facts.checkout.path)),
    }
    release["actions"][1] |= {"version": "0.3.0", "artifact": "CHANGELOG.md"}
    release["actions"][2] |= {"branch": "release"}
    _, findings = _findings(facts, reply)

    assert {(f.code, f.pointer) for f in findings} >= {
        ("untested_commit", "/actions/0/commit"),
        ("tag_exists", "/actions/0/tag"),
        ("version_mismatch", "/actions/0/tag"),
        ("version_mismatch", "/actions/1/version"),
        ("unbuilt_artifact", "/actions/1/artifact"),
        ("unbuilt_branch", "/actions/2/branch"),
    }


def test_a_claim_of_success_over_failed_tests_is_blocking(facts: BuildFacts) -> None:
    assert facts.tests is not None
    failed = facts.model_copy(
        update={"tests": facts.tests.model_copy(update={"ok": False, "failed": 1, "exit_code": 1})}
    )
    assert isinstance(failed.tests, TestRun) and "did not pass" in (failed.failure() or "")
    proposal = release_proposal(
        _answer(facts, clean_recording()), failed, Destinations("/srv/simple", "/srv/o.git")
    )
    findings = check_release(proposal.document, failed)

    preconditions = {f.pointer for f in findings if f.code == "failed_precondition"}
    assert {"/actions/0/kind", "/actions/1/kind", "/actions/2/kind", "/claims/2"} <= preconditions


def test_a_blocker_is_read() -> None:
    reply = copy.deepcopy(recording())
    reply["content"] = [
        {
            "type": "tool_use",
            "id": "toolu_b",
            "name": "report_blocker",
            "input": {"reason": "No 0.2.0 entry."},
        }
    ]
    assert read_reply(reply) == Blocker("No 0.2.0 entry.")


def _unusable() -> dict[str, dict[str, Any]]:
    base = recording()
    cut = copy.deepcopy(base) | {"stop_reason": "max_tokens"}
    untooled = copy.deepcopy(base) | {"content": [{"type": "text", "text": "Released!"}]}
    twice = copy.deepcopy(base)
    twice["content"] = base["content"] * 2
    unknown_tool = copy.deepcopy(base)
    unknown_tool["content"][0]["name"] = "publish_now"
    no_notes = copy.deepcopy(base)
    del no_notes["content"][0]["input"]["release_notes"]
    unknown_kind = copy.deepcopy(base)
    unknown_kind["content"][0]["input"]["actions"].append({"kind": "pypi.upload", "artifact": "dist/x.whl"})
    return {
        "not-a-message": {"type": "error"},
        "cut-off": cut,
        "no-tool": untooled,
        "two-tools": twice,
        "unknown-tool": unknown_tool,
        "invalid-input": no_notes,
        "unknown-kind": unknown_kind,
    }


@pytest.mark.parametrize("name", sorted(_unusable()))
def test_an_unusable_reply_is_a_model_error(name: str) -> None:
    with pytest.raises(ModelError, match=r"nothing was sent for review|max_tokens"):
        read_reply(_unusable()[name])


def test_an_allowed_action_that_does_not_fit_its_kind_is_a_model_error(facts: BuildFacts) -> None:
    reply = clean_recording()
    del reply["content"][0]["input"]["actions"][1]["sha256"]
    with pytest.raises(ModelError, match=r"invalid release.publish action: sha256"):
        release_proposal(_answer(facts, reply), facts, Destinations("/srv/simple", "/srv/o.git"))


def test_a_placeholder_with_no_fact_behind_it_is_refused() -> None:
    assert bind_recording(
        {"n": "{{tests.passed}}", "s": "v{{version}}"}, {"tests": {"passed": 6}, "version": "1"}
    ) == {
        "n": 6,
        "s": "v1",
    }
    with pytest.raises(KeyError, match="commits"):
        bind_recording(["{{commits}}"], {"commit": "abc"})


def test_every_surface_shows_the_release_artifact_version_digest_tests_and_destinations(
    facts: BuildFacts,
) -> None:
    from prefect_review_gate.gates.action_text import summary_markdown, summary_plain
    from prefect_review_gate.gates.actions import summarize
    from prefect_review_gate.gates.slack.render import action_mrkdwn

    proposal = release_proposal(
        _answer(facts, clean_recording()), facts, Destinations("/srv/simple", "/srv/origin.git")
    )
    tag, publish, push = (a.model_dump(mode="json") for a in proposal.actions)
    wheel = facts.build.artifacts[0]
    for render in (
        lambda a: summary_plain(summarize(a)),
        # The Prefect UI's markdown escapes punctuation (`parse\_duration`): read it as rendered.
        lambda a: summary_markdown(summarize(a)).replace("\\", ""),
        action_mrkdwn,
    ):
        shown = render(publish)
        for value in ("0.2.0", wheel.path, wheel.sha256, "6 passed, 0 failed, 1 skipped", "/srv/simple"):
            assert value in shown, (value, shown)
        assert "/srv/origin.git" in render(push) and "main" in render(push)
        assert (
            "v0.2.0" in render(tag)
            and facts.checkout.commit in render(tag)
            and "parse_duration" in render(tag)
        )
