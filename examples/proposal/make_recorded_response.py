"""Build recorded_response.json: a proposal reply in the Messages API's wire format, with fabrications.

There is no network where this repository is built, so the reply was not captured from the API: it
is written here block by block in the shape the platform docs give for a reply with citations
enabled (text blocks, each with the char_location citations the API fills in, then one tool_use
block; `stop_details`, `usage.cache_creation` and `usage.service_tier` as a real reply carries them).
It is a reply the API could send, not one it did send:

- the API chunks a plain-text document into sentences and cites whole chunks, so every citation
  here is whole sentences of the bundled sources (`offline_model.sentence_chunks`, this project's
  reading of that rule: the API's own splitter is not published), never a clause;
- offsets count code points; the docs do not name the API's unit (see validators/claude_citations.py);
- the token counts are plausible, not measured.

The planted fabrications are in the text, where a model puts them: an inflated figure under a real
citation, an invented source marker, a changed percentage, an invented quote and an invented URL.
To replace it with a real reply, capture one (README, "First run with a real key").

    python examples/proposal/make_recorded_response.py   # rewrites recorded_response.json
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect_review_gate.flows.common.offline_model import sentence_chunks

HERE = Path(__file__).parent
SOURCES = sorted(p.stem for p in (HERE / "sources").glob("*.md"))  # the flow sends them in id order


def _cite(source: str, words: str) -> dict[str, object]:
    """A citation of the whole sentence(s) of `source` that hold `words`, as the API chunks them."""
    text = (HERE / "sources" / f"{source}.md").read_text(encoding="utf-8")
    at = text.index(words)
    chunks = [(a, b) for a, b in sentence_chunks(text) if a < at + len(words) and at < b]
    start, end = chunks[0][0], chunks[-1][1]
    return {
        "type": "char_location",
        "cited_text": text[start:end],
        "document_index": SOURCES.index(source),
        "document_title": source,
        "start_char_index": start,
        "end_char_index": end,
    }


def _text(text: str, *citations: dict[str, object]) -> dict[str, object]:
    block: dict[str, object] = {"type": "text", "text": text}
    if citations:
        block["citations"] = list(citations)
    return block


PREFECT = "Prefect is a workflow orchestration framework for building data pipelines in Python."
FEATURES = (
    "With just a few lines of code, data teams can confidently automate any data process with "
    "features such as scheduling, caching, retries, and event-based automations."
)
CLOUD = "By automating over 200 million data tasks monthly"
HTTPX = "HTTPX is a fully featured HTTP client library for Python 3."
COVERAGE = "* 100% test coverage."
BOLT = "A Python framework to build Slack apps in a flash with the latest platform features."
NGROK = "# Running ngrok is not required"

CONTENT = [
    _text(
        "# Reviewed Agent Workflows for Brightwater Logistics\n\n## Summary\n\n"
        "Brightwater wants its nightly carrier-rate agents to keep running unattended while a person "
        "signs off on every e-mail and rate change they send. We propose orchestrating the agents with "
        "Prefect, calling carrier APIs with HTTPX, and collecting approvals in Slack with Bolt.\n\n"
        "## Orchestration\n\n"
    ),
    _text(
        "Prefect is a workflow orchestration framework for building data pipelines in Python.",
        _cite("prefect", PREFECT),
    ),
    _text(" "),
    _text(
        "Teams automate processes with scheduling, caching, retries, and event-based automations.",
        _cite("prefect", FEATURES),
    ),
    _text(" "),
    # Fabrication: the source says 200 million.
    _text("Prefect Cloud automates over 500 million data tasks monthly.", _cite("prefect", CLOUD)),
    # Fabrication: an invented source, written as a marker; and an uncited figure.
    _text(
        " Approval state survives worker restarts because paused runs are checkpointed every 30 "
        "seconds [prefect-docs].\n\n## Carrier APIs\n\n"
    ),
    _text(
        "HTTPX is a fully featured HTTP client library for Python 3 with sync and async APIs.",
        _cite("httpx", HTTPX),
    ),
    _text(" "),
    # Fabrication: the source says 100%.
    _text("It ships with 99% test coverage.", _cite("httpx", COVERAGE)),
    _text(" "),
    # Fabrication: a quote the source does not hold.
    _text(
        'The maintainers describe it as "the fastest HTTP client available for Python".',
        _cite("httpx", HTTPX),
    ),
    _text("\n\n## Approvals in Slack\n\n"),
    _text(
        "Bolt is a Python framework to build Slack apps in a flash with the latest platform features.",
        _cite("slack-bolt", BOLT),
    ),
    _text(" "),
    _text(
        "With Socket Mode, running ngrok is not required, so no public URL is needed.",
        _cite("slack-bolt", NGROK),
    ),
    # Fabrication: a guide that does not exist.
    _text(
        " Reviewers answer with buttons, following https://docs.slack.dev/tools/bolt-python/approvals-guide/.\n\n"
        "## Plan\n\n"
        "- Wrap the rate agents as Prefect flows.\n"
        "- Add the review gate and Slack approvals.\n"
        "- Run both systems side by side, then switch over.\n"
    ),
    {
        "type": "tool_use",
        "id": "toolu_01FoRGEofflineRecorded01",
        "name": "submit_proposal",
        "input": {
            "title": "Reviewed Agent Workflows for Brightwater Logistics",
            "file_name": "brightwater-reviewed-agent-workflows",
        },
    },
]

RESPONSE = {
    "id": "msg_01FoRGEofflineRecordedReply",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": CONTENT,
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "stop_details": None,
    "usage": {
        "input_tokens": 7412,
        "output_tokens": 871,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    },
}

if __name__ == "__main__":
    out = HERE / "recorded_response.json"
    out.write_text(json.dumps(RESPONSE, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(out)
