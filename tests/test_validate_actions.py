"""`review-gate validate-actions`: proposals checked against a real CRM file, git repository and files."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from prefect_review_gate.gates.cli import main
from prefect_review_gate.validators import World, validate_proposal

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4" failures="1" skipped="1">
<testcase classname="t" name="a"/><testcase classname="t" name="b"/>
<testcase classname="t" name="c"><failure message="boom"/></testcase>
<testcase classname="t" name="d"><skipped message="later"/></testcase>
</testsuite></testsuites>
"""
WHEEL = b"PK\x03\x04 not really a wheel, but bytes with a digest"


def git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(root), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def world_file(tmp_path: Path) -> Path:
    world = tmp_path / "world"
    (world / "sources").mkdir(parents=True)
    (world / "sources" / "call.md").write_text("Rosa confirmed 38 shops. The annual fee is $52,000.\n")
    workspace = world / "workspace"
    (workspace / "dist").mkdir(parents=True)
    (workspace / "reports").mkdir()
    git(workspace, "init", "-q", "-b", "main")
    (workspace / "README.md").write_text("pebble\n")
    git(workspace, "add", "README.md")
    git(workspace, "commit", "-q", "-m", "first")
    git(workspace, "tag", "v1.0.0")
    (workspace / "dist" / "pebble-1.0.0.whl").write_bytes(WHEEL)
    (workspace / "reports" / "junit.xml").write_text(JUNIT)
    crm = {
        "deals": [
            {"id": "D-1", "name": "Fernhill", "stage": "negotiation", "amount": 52000, "contact_ids": ["C-1"]}
        ],
        "contacts": [{"id": "C-1", "name": "Rosa", "email": "rosa@fernhill.example", "company_id": "CO-1"}],
        "companies": [{"id": "CO-1", "name": "Fernhill"}],
        "stages": ["negotiation", "closed_won"],
    }
    path = world / "world.json"
    path.write_text(json.dumps({"crm": crm, "workspace": "workspace", "sources": "sources"}))
    return path


def head(world_file: Path) -> str:
    return git(world_file.parent / "workspace", "rev-parse", "HEAD")


def clean_proposal(world_file: Path) -> dict[str, Any]:
    return {
        "task": {
            "request": "Close the deal, note it, thank Rosa, publish the release.",
            "allowed_actions": ["crm.update_deal", "crm.log_note", "email.send", "release.publish"],
        },
        "actions": [
            {
                "kind": "crm.update_deal",
                "deal_id": "D-1",
                "changes": {"stage": "closed_won", "contact_ids": ["C-1"]},
            },
            {"kind": "crm.log_note", "deal_id": "D-1", "body": "The annual fee is $52,000 [call]."},
            {
                "kind": "email.send",
                "to": ["rosa@fernhill.example"],
                "subject": "Thanks",
                "body": "38 shops [call].",
            },
            {
                "kind": "release.publish",
                "artifact": "dist/pebble-1.0.0.whl",
                "sha256": hashlib.sha256(WHEEL).hexdigest(),
                "version": "1.0.0",
            },
        ],
        "claims": [
            {
                "kind": "artifact",
                "path": "dist/pebble-1.0.0.whl",
                "sha256": hashlib.sha256(WHEEL).hexdigest(),
            },
            {"kind": "tests", "report": "reports/junit.xml", "passed": 2, "failed": 1, "skipped": 1},
            {"kind": "commit", "sha": head(world_file)[:7]},
            {"kind": "tag", "name": "v1.0.0"},
        ],
    }


def run(
    capsys: pytest.CaptureFixture[str], proposal: Any, world_file: Path, *extra: str
) -> tuple[int, str, str]:
    path = world_file.parent.parent / "proposal.json"
    path.write_text(proposal if isinstance(proposal, str) else json.dumps(proposal))
    status = main(["validate-actions", str(path), "--world", str(world_file), *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def blocks(proposal: dict[str, Any], world_file: Path) -> list[tuple[str, str]]:
    findings = validate_proposal(proposal, World.from_file(world_file))
    return [(f.code, f.pointer or "") for f in findings if f.blocking]


def test_a_true_proposal_has_no_findings(world_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, clean_proposal(world_file), world_file, "--json")
    assert (status, json.loads(out)) == (0, {"findings": [], "blocking": False})
    status, out, _ = run(capsys, clean_proposal(world_file), world_file)
    assert status == 0 and "every action and claim checked matches the world" in out


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "/task/allowed_actions",
            ["crm.update_deal", "crm.log_note", "email.send"],
            ("unrequested_action", "/actions/3/kind"),
        ),
        ("/actions/0/deal_id", "D-9", ("unknown_record", "/actions/0/deal_id")),
        (
            "/actions/0/changes/contact_ids",
            ["C-1", "C-7"],
            ("unknown_record", "/actions/0/changes/contact_ids/1"),
        ),
        ("/actions/0/changes/stage", "Closed_Won", ("invalid_value", "/actions/0/changes/stage")),
        ("/actions/0/changes/forecast", "commit", ("invalid_value", "/actions/0/changes/forecast")),
        (
            "/actions/2/to",
            ["rosa@fernhill.example", "cfo@fernhill.example"],
            ("unknown_recipient", "/actions/2/to/1"),
        ),
        ("/actions/2/body", "42 shops [call].", ("unsupported_number", "/actions/2/body")),
        ("/actions/3/artifact", "dist/pebble-1.0.1.whl", ("missing_artifact", "/actions/3/artifact")),
        ("/actions/3/sha256", "0" * 64, ("digest_mismatch", "/actions/3/sha256")),
        ("/claims/0/size", 3, ("digest_mismatch", "/claims/0/size")),
        ("/claims/0/path", "../world.json", ("missing_artifact", "/claims/0/path")),
        ("/claims/1/passed", 3, ("test_count_mismatch", "/claims/1/passed")),
        ("/claims/1/skipped", 0, ("test_count_mismatch", "/claims/1/skipped")),
        ("/claims/1/report", "reports/missing.xml", ("missing_artifact", "/claims/1/report")),
        ("/claims/2/sha", "f" * 12, ("unknown_commit", "/claims/2/sha")),
        ("/claims/2/sha", "abc", ("unknown_commit", "/claims/2/sha")),
        ("/claims/3/name", "v1.0.1", ("unknown_tag", "/claims/3/name")),
    ],
)
def test_each_fabrication_is_one_blocking_finding_at_its_pointer(
    world_file: Path, path: str, value: Any, expected: tuple[str, str]
) -> None:
    proposal = clean_proposal(world_file)
    *parents, last = path.strip("/").split("/")
    target: Any = proposal
    for token in parents:
        target = target[int(token)] if isinstance(target, list) else target[token]
    target[last] = value
    assert blocks(proposal, world_file) == [expected]


def test_text_findings_carry_a_span_inside_the_string(
    world_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proposal = clean_proposal(world_file)
    proposal["actions"][1]["body"] = 'Rosa said "we need 90 shops" [call-notes].'
    status, out, _ = run(capsys, proposal, world_file, "--json")
    body = proposal["actions"][1]["body"]
    spans = {(f["code"], body[f["start"] : f["end"]]) for f in json.loads(out)["findings"]}
    assert status == 1
    assert spans == {("unknown_source", "call-notes"), ("unsupported_quote", "we need 90 shops")}
    assert {f["pointer"] for f in json.loads(out)["findings"]} == {"/actions/1/body"}
    status, out, _ = run(capsys, proposal, world_file)
    assert "proposal.json#/actions/1/body: unknown_source" in out and "^^^^" in out


def test_pointers_escape_keys_and_unknown_kinds_are_reported_not_ignored(world_file: Path) -> None:
    proposal = clean_proposal(world_file)
    proposal["actions"][0]["changes"] = {"a/b~c": 1}
    proposal["task"]["allowed_actions"].append("calendar.invite")
    proposal["actions"].append({"kind": "calendar.invite", "when": "tomorrow"})
    proposal["claims"].append({"kind": "benchmark", "p99": 3})
    findings = validate_proposal(proposal, World.from_file(world_file))
    assert [(f.code, f.severity.value, f.pointer) for f in findings] == [
        ("invalid_value", "block", "/actions/0/changes/a~1b~0c"),
        ("unchecked_action", "warn", "/actions/4/kind"),
        ("unchecked_claim", "warn", "/claims/4"),
    ]


def test_a_workspace_inside_another_repository_does_not_borrow_its_history(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    (outer / "ws").mkdir(parents=True)
    git(outer, "init", "-q")
    (outer / "f").write_text("x")
    git(outer, "add", "f")
    git(outer, "commit", "-q", "-m", "outer")
    git(outer, "tag", "v9")
    (outer / "world.json").write_text(json.dumps({"workspace": "ws"}))
    proposal = {
        "task": {"request": "r", "allowed_actions": []},
        "claims": [{"kind": "commit", "sha": git(outer, "rev-parse", "HEAD")}, {"kind": "tag", "name": "v9"}],
    }
    assert blocks(proposal, outer / "world.json") == [
        ("unknown_commit", "/claims/0/sha"),
        ("unknown_tag", "/claims/1/name"),
    ]


def test_malformed_fields_are_findings_and_a_malformed_proposal_is_exit_two(
    world_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proposal = clean_proposal(world_file)
    broken = copy.deepcopy(proposal)
    broken["actions"][2]["to"] = "rosa@fernhill.example"
    broken["actions"][0]["changes"] = ["stage"]
    assert blocks(broken, world_file) == [
        ("malformed_action", "/actions/0/changes"),
        ("malformed_action", "/actions/2/to"),
    ]
    for text, message in [
        ("{not json", "is not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"actions": []}', '"task": {"allowed_actions"'),
    ]:
        status, out, err = run(capsys, text, world_file)
        assert (status, out) == (2, "") and message in err and err.count("\n") == 1, err
    world_file.write_text(json.dumps({"workspace": "nowhere"}))
    status, _, err = run(capsys, proposal, world_file)
    assert status == 2 and "workspace" in err and "is not a folder" in err
