"""Check an agent's proposal (its side effects and its claims) against what exists.

`review-gate validate-actions` (docs/architecture.md): every finding carries an RFC 6901 pointer into the
proposal at the offending value. Codes, all `block`:

  unrequested_action   a kind the task did not allow                       /actions/i/kind
  unknown_record       a deal, contact or company id not in the CRM         /actions/i/deal_id ...
  invalid_value        a deal field that does not exist, a stage not listed /actions/i/changes/<key>
  unknown_recipient    an address that is no CRM contact's                  /actions/i/to/j
  missing_artifact     an artifact or report that is not a workspace file   /claims/i/path ...
  digest_mismatch      sha256 or size differs from the file                 /claims/i/sha256 ...
  test_count_mismatch  counts differ from the JUnit report                  /claims/i/passed ...
  unknown_commit       no commit starts with the claimed id                 /claims/i/sha
  unknown_tag          no tag of that name                                  /claims/i/name
  malformed_action     a field of the wrong type, or missing                /actions/i/<field>
and, in text fields (note and e-mail bodies), the grounding codes of `validate` with start/end
inside that string. Kinds and claims this module does not know are reported (`warn`), not ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prefect_review_gate.validators.actions import (
    Action,
    CreateContact,
    CreateRepository,
    GitPush,
    LogNote,
    PublishRelease,
    SendEmail,
    UpdateDeal,
    kind_of,
)
from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.findings import Finding, Severity
from prefect_review_gate.validators.grounding import validate_draft
from prefect_review_gate.validators.world import DEAL_FIELDS, World

__all__ = ["validate_proposal"]

Check = Callable[[Mapping[str, Any], str, World], list[Finding]]


def validate_proposal(proposal: Any, world: World) -> list[Finding]:
    """Check a decoded PROPOSAL.json against `world`; findings in the proposal's order.

    Raises `InputError` when the proposal is not shaped as the contract says (no task, actions not
    a list...): that is unreadable input, not a finding.
    """
    allowed, actions, claims = _shape(proposal)
    findings: list[Finding] = []
    for index, action in enumerate(actions):
        at = f"/actions/{index}"
        if not isinstance(action, dict) or not isinstance(action.get("kind"), str):
            findings.append(_block("malformed_action", at, "An action must be an object with a string kind."))
            continue
        kind = action["kind"]
        if kind not in allowed:
            message = (
                f"The task did not ask for `{kind}`; it allows: {', '.join(sorted(allowed)) or 'nothing'}."
            )
            findings.append(_block("unrequested_action", f"{at}/kind", message))
        check = _ACTION_CHECKS.get(kind)
        if check is None:
            findings.append(_warn("unchecked_action", f"{at}/kind", f"No validator knows `{kind}` actions."))
        else:
            findings += check(action, at, world)
    for index, claim in enumerate(claims):
        at = f"/claims/{index}"
        kind = claim.get("kind") if isinstance(claim, dict) else None
        check = _CLAIM_CHECKS.get(kind) if isinstance(kind, str) else None
        if check is None or not isinstance(claim, dict):
            findings.append(_warn("unchecked_claim", at, f"No validator knows claims of kind {kind!r}."))
        else:
            findings += check(claim, at, world)
    return findings


def _shape(proposal: Any) -> tuple[set[str], list[Any], list[Any]]:
    if not isinstance(proposal, dict):
        raise InputError("the proposal must be a JSON object with task, actions and claims")
    task = proposal.get("task")
    if not isinstance(task, dict) or not isinstance(task.get("allowed_actions"), list):
        raise InputError('the proposal needs "task": {"allowed_actions": [kind, ...]}')
    actions, claims = proposal.get("actions", []), proposal.get("claims", [])
    if not isinstance(actions, list) or not isinstance(claims, list):
        raise InputError('the proposal\'s "actions" and "claims" must be lists')
    return {k for k in task["allowed_actions"] if isinstance(k, str)}, actions, claims


# --- actions ---------------------------------------------------------------------------------------


def _update_deal(action: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    findings = _deal_exists(action, at, world)
    changes = action.get("changes")
    if not isinstance(changes, dict):
        return [*findings, _block("malformed_action", f"{at}/changes", "`changes` must be an object.")]
    for key, value in changes.items():
        where = f"{at}/changes/{_escape(key)}"
        if key not in DEAL_FIELDS:
            fields = ", ".join(sorted(DEAL_FIELDS))
            findings.append(
                _block("invalid_value", where, f"A deal has no field `{key}`; its fields: {fields}.")
            )
        elif key == "stage" and value not in world.crm.stages:
            stages = ", ".join(sorted(world.crm.stages))
            findings.append(
                _block("invalid_value", where, f"{value!r} is not a CRM stage; stages: {stages}.")
            )
        elif key == "contact_ids":
            findings += _contacts_exist(value, where, world)
        elif key == "amount" and (isinstance(value, bool) or not isinstance(value, int | float)):
            findings.append(_block("invalid_value", where, f"A deal's amount is a number, not {value!r}."))
    return findings + _before_values(action, changes, at, world)


def _before_values(
    action: Mapping[str, Any], changes: Mapping[str, Any], at: str, world: World
) -> list[Finding]:
    """`before` (optional) shows reviewers what a change replaces: it must be what the CRM holds."""
    before = action.get("before", {})
    if not isinstance(before, dict):
        return [_block("malformed_action", f"{at}/before", "`before` must be an object.")]
    deal_id = action.get("deal_id")
    deal = world.crm.deals.get(deal_id) if isinstance(deal_id, str) else None  # unknown: flagged above
    findings = []
    for key, value in before.items():
        where = f"{at}/before/{_escape(key)}"
        if key not in changes:
            findings.append(
                _block("invalid_value", where, f"`before` names `{key}`, which the action does not change.")
            )
        elif deal is not None and key in DEAL_FIELDS and deal.get(key) != value:
            held = deal.get(key)
            message = f"The CRM holds {held!r} for `{key}`, not {value!r}: the before value shown is wrong."
            findings.append(_block("invalid_value", where, message))
    return findings


def _log_note(action: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    return _deal_exists(action, at, world) + _grounded_text(action, "body", at, world)


def _create_contact(action: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    return _record_exists(action, "company_id", world.crm.companies, "company", at)


def _send_email(action: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    findings: list[Finding] = []
    for field in ("to", "cc"):
        addresses = action.get(field, [] if field == "cc" else None)
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            findings.append(
                _block("malformed_action", f"{at}/{field}", f"`{field}` must be a list of addresses.")
            )
            continue
        for index, address in enumerate(addresses):
            if address not in world.crm.emails:
                message = f"{address} is no CRM contact's address: the recipient may be invented."
                findings.append(_block("unknown_recipient", f"{at}/{field}/{index}", message))
    return findings + _grounded_text(action, "body", at, world)


def _publish_release(action: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    return _file_matches(action, "artifact", at, world)


def _unchecked(action: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    return []  # a known kind whose fields hold nothing the world can contradict


# The rules check the JSON as the agent wrote it, not the parsed model: a wrong field must become a
# finding with a pointer to it (malformed_action), and fields a model does not know are no finding.
_RULES: dict[type[Action], Check] = {
    UpdateDeal: _update_deal,
    LogNote: _log_note,
    CreateContact: _create_contact,
    SendEmail: _send_email,
    PublishRelease: _publish_release,
    CreateRepository: _unchecked,
    GitPush: _unchecked,
}
_ACTION_CHECKS: dict[str, Check] = {kind_of(model): check for model, check in _RULES.items()}


def _deal_exists(action: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    return _record_exists(action, "deal_id", world.crm.deals, "deal", at)


def _record_exists(
    action: Mapping[str, Any], field: str, records: Mapping[str, Any], what: str, at: str
) -> list[Finding]:
    """`action[field]` is the id of one of `records` (a CRM table), or one finding says why not."""
    record_id = action.get(field)
    if not isinstance(record_id, str):
        return [_block("malformed_action", f"{at}/{field}", f"`{field}` must be a string.")]
    if record_id not in records:
        return [_block("unknown_record", f"{at}/{field}", f"No {what} {record_id!r} in the CRM.")]
    return []


def _contacts_exist(ids: Any, at: str, world: World) -> list[Finding]:
    if not isinstance(ids, list):
        return [_block("invalid_value", at, "`contact_ids` must be a list of contact ids.")]
    return [
        _block("unknown_record", f"{at}/{index}", f"No contact {contact!r} in the CRM.")
        for index, contact in enumerate(ids)
        if not isinstance(contact, str) or contact not in world.crm.contacts
    ]


def _grounded_text(action: Mapping[str, Any], field: str, at: str, world: World) -> list[Finding]:
    text = action.get(field)
    if not isinstance(text, str):
        return [_block("malformed_action", f"{at}/{field}", f"`{field}` must be a string.")]
    where = f"{at}/{field}"
    return [f.model_copy(update={"pointer": where}) for f in validate_draft(text, world.sources)]


# --- claims ----------------------------------------------------------------------------------------


def _artifact(claim: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    return _file_matches(claim, "path", at, world)


def _tests(claim: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    report = _workspace_file(claim, "report", at, world)
    if isinstance(report, Finding):
        return [report]
    counts = world.workspace.test_counts(report) if world.workspace else None
    if counts is None:
        return [_block("missing_artifact", f"{at}/report", f"{claim['report']} is not a JUnit XML report.")]
    findings = []
    for field in ("passed", "failed", "skipped"):
        if field not in claim and field == "skipped":
            continue  # compared only when claimed
        claimed, actual = claim.get(field), getattr(counts, field)
        if claimed != actual or isinstance(claimed, bool):
            message = f"The report has {actual} {field} test(s), not {claimed!r}."
            findings.append(_block("test_count_mismatch", f"{at}/{field}", message))
    return findings


def _commit(claim: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    sha = claim.get("sha")
    if isinstance(sha, str) and world.workspace is not None and world.workspace.has_commit(sha):
        return []
    where = "the workspace" if world.workspace is not None else "any workspace (the world names none)"
    return [_block("unknown_commit", f"{at}/sha", f"No commit of {where} has the id {sha!r}.")]


def _tag(claim: Mapping[str, Any], at: str, world: World) -> list[Finding]:
    name = claim.get("name")
    if isinstance(name, str) and world.workspace is not None and world.workspace.has_tag(name):
        return []
    return [_block("unknown_tag", f"{at}/name", f"The workspace repository has no tag {name!r}.")]


_CLAIM_CHECKS: dict[str, Check] = {"artifact": _artifact, "tests": _tests, "commit": _commit, "tag": _tag}


def _file_matches(item: Mapping[str, Any], field: str, at: str, world: World) -> list[Finding]:
    """A file named by `item[field]` exists and matches the item's sha256 (and size, when given)."""
    path = _workspace_file(item, field, at, world)
    if isinstance(path, Finding):
        return [path]  # nothing to compare the digest with: no second finding
    findings = []
    claimed = item.get("sha256")
    actual = world.workspace.sha256(path) if world.workspace else ""
    if not isinstance(claimed, str) or claimed.lower() != actual:
        message = f"{item[field]} has sha256 {actual}, not {claimed!r}."
        findings.append(_block("digest_mismatch", f"{at}/sha256", message))
    if "size" in item and item["size"] != path.stat().st_size:
        message = f"{item[field]} is {path.stat().st_size} bytes, not {item['size']!r}."
        findings.append(_block("digest_mismatch", f"{at}/size", message))
    return findings


def _workspace_file(item: Mapping[str, Any], field: str, at: str, world: World) -> Path | Finding:
    """The workspace file `item[field]` names, or a `missing_artifact` finding."""
    relative = item.get(field)
    if not isinstance(relative, str):
        return _block("malformed_action", f"{at}/{field}", f"`{field}` must be a path in the workspace.")
    if world.workspace is None:
        return _block(
            "missing_artifact", f"{at}/{field}", f"{relative}: the world names no workspace to find it in."
        )
    path = world.workspace.file(relative)
    if path is None:
        return _block("missing_artifact", f"{at}/{field}", f"{relative} is not a file in the workspace.")
    return path


# --- findings --------------------------------------------------------------------------------------


def _escape(token: str) -> str:
    """One RFC 6901 reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def _block(code: str, pointer: str, message: str) -> Finding:
    return Finding(code=code, severity=Severity.BLOCK, message=message, pointer=pointer)


def _warn(code: str, pointer: str, message: str) -> Finding:
    return Finding(code=code, severity=Severity.WARN, message=message, pointer=pointer)
