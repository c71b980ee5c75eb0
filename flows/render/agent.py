"""RENDER's agent: the release request and the reading of its reply.

One Messages API call. The request holds the build's facts (commit, version, artifacts with their
digests, test counts) and the changelog; the agent writes the release notes and proposes the release
through exactly one tool: `propose_release` (notes, actions, claims) or `report_blocker`. No
citations are involved, so the tool is forced (`any`), one call only.

The agent names only what it releases (tag name and commit, artifact, digest, version, branch);
where things go (the repository, the release index, the remote) is the flow's, from its parameters.

The boundary rules and `report_blocker` are every agent's (`flows.common.boundaries`); only their
wording for releases is RENDER's. No Prefect import here, so its tests run without a server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_review_gate.flows.common.boundaries import BLOCKER_TOOL, Blocker, blocker_tool, boundary_rules
from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.common.replies import invalid_call, tool_calls
from prefect_review_gate.flows.render.actions import ACTION_KINDS
from prefect_review_gate.flows.render.facts import BuildFacts
from prefect_review_gate.validators.actions import action_kinds, kind_of

__all__ = [
    "ALLOWED_ACTIONS",
    "BOUNDARIES",
    "FACTS_TAG",
    "PROPOSE_TOOL",
    "ReleaseAnswer",
    "build_request",
    "read_reply",
]

PROPOSE_TOOL = "propose_release"
FACTS_TAG = "build_facts"  # the request's facts sit between <build_facts> tags, as JSON
ALLOWED_ACTIONS: tuple[str, ...] = tuple(kind_of(model) for model in ACTION_KINDS)

BOUNDARIES = boundary_rules(
    scope=(
        "Propose only the release actions the task lists (git.tag, release.publish, git.push), for "
        "the artifacts this build produced, and nothing else: no repositories, branches or extra files."
    ),
    grounding=(
        "Every commit id, tag, version, digest, size and test count you write must be copied from the "
        "build facts; the release notes describe only what the changelog lists for this version. "
        "Never estimate, round or invent a value, and never claim more tests than the report holds."
    ),
    blocked_when=(
        "the changelog has no entry for the built version, the facts contradict each other, "
        "something the release needs is missing"
    ),
    on_block="propose no actions and write no release notes",
)

SYSTEM = f"""\
You are RENDER, an agent that prepares software releases. The build has already run: you get its \
facts (the commit built, the version, every artifact with its sha256 and size, the test counts from \
the JUnit report) and the project's changelog. A person reviews every release before anything is \
tagged, published or pushed; your proposal and your claims are checked against the workspace first.

{BOUNDARIES}
How to answer: call exactly one tool. {PROPOSE_TOOL} with the release notes (markdown, for the \
people who install the release), the actions and your claims about what was built and tested; or \
{BLOCKER_TOOL} when rule 3 applies.
"""


# What `propose_release` carries. No docstring: pydantic would send it to the model in the schema.
class ReleaseAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release_notes: str = Field(
        min_length=1, description="The release notes in markdown, from the changelog entry of this version."
    )
    actions: list[dict[str, Any]] = Field(
        min_length=1,
        description=(
            "The release, in order. Objects with a `kind`: `git.tag` {tag, commit}; `release.publish` "
            "{artifact (path as in the facts), sha256, version}, one per artifact to publish; "
            "`git.push` {branch}."
        ),
    )
    claims: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "What you state was built and tested, each checked against the workspace. Objects with a "
            "`kind`: `artifact` {path, sha256, size}; `tests` {report, passed, failed, skipped}; "
            "`commit` {sha}; `tag` {name} (an existing tag, e.g. the previous release)."
        ),
    )


TOOLS: list[dict[str, Any]] = [
    {
        "name": PROPOSE_TOOL,
        "description": "Propose the release (notes, actions, claims) for human review.",
        "input_schema": ReleaseAnswer.model_json_schema(),
    },
    blocker_tool(),
]


def build_request(facts: BuildFacts) -> dict[str, Any]:
    """The Messages API request (without model and max_tokens, which the client's settings add)."""
    changelog = facts.checkout.changelog.strip() or "(the repository has no changelog)"
    task = (
        f"<{FACTS_TAG}>\n{json.dumps(facts.for_agent(), indent=2)}\n</{FACTS_TAG}>\n\n"
        f"<changelog>\n{changelog}\n</changelog>\n\n"
        f"Task: release version {facts.build.version} of {facts.build.project} from commit "
        f"{facts.checkout.commit} on branch {facts.checkout.branch}. Allowed actions: "
        f"{', '.join(ALLOWED_ACTIONS)}. Write the release notes, then call one tool."
    )
    return {
        "system": SYSTEM,
        "tools": TOOLS,
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": [{"type": "text", "text": task}]}],
    }


def read_reply(message: Mapping[str, Any]) -> ReleaseAnswer | Blocker:
    """The agent's answer from a Messages API response (as JSON).

    Raises:
        ModelError: the reply is not a usable answer: truncated, no tool call or more than one, an
            unknown tool, tool input that does not fit its schema, or an action of no known kind.
    """
    calls = tool_calls(message)
    if len(calls) != 1:
        raise ModelError(
            f"the model answered with {len(calls)} tool calls, not exactly one of "
            f"{PROPOSE_TOOL}/{BLOCKER_TOOL}; nothing was sent for review"
        )
    name, arguments = calls[0].get("name"), calls[0].get("input")
    with invalid_call(name):
        if name == BLOCKER_TOOL:
            return Blocker.from_tool_input(arguments)
        if name != PROPOSE_TOOL:
            raise ModelError(f"the model called an unknown tool {name!r}; nothing was sent for review")
        answer = ReleaseAnswer.model_validate(arguments)
    known = action_kinds()
    for index, action in enumerate(answer.actions):
        kind = action.get("kind")
        # A known kind the task did not allow (git.create_repository) is the validators' to flag and
        # the reviewer's to see; a kind nothing knows cannot even be shown as an action.
        if not isinstance(kind, str) or kind not in known:
            raise ModelError(
                f"the model's action {index} has kind {kind!r}, which no validator or executor knows; "
                "nothing was sent for review"
            )
    return answer
