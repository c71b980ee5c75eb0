"""Capture a real FORGE reply as a new offline fixture, with one command.

    python -m prefect_review_gate.flows.forge.capture [--example examples/proposal] [--out FILE]

Sends the request the proposal flow sends (the example's brief and sources, FORGE's system prompt
and tools) through the same client (`flows.common.claude`: the official SDK, streamed, with the
retries, timeout and wall-clock limit of a run), and writes the final message as JSON: a file
`flows.common.offline_model.load_recorded` replays, so the demo and the tests can use it.

Secrets are stripped before anything is written: the API key, and anything shaped like an Anthropic
key (`sk-ant-...`), is replaced wherever it appears in the reply. The request id, model and usage go
to a `.meta.json` next to the fixture, not into it, since the fixture must stay a message.

It prints what to watch on a first run with a real key: the request id (what Anthropic's support
asks for), the stop reason, the usage and its estimated cost, and the citation findings: an
`citation_offset` finding naming UTF-16 or UTF-8 says in which unit the API counts characters.

The key comes from ANTHROPIC_API_KEY (or the Prefect Secret block `flows.common.claude` names);
ANTHROPIC_BASE_URL points it elsewhere (the tests point it at the Messages API fake).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from prefect_review_gate.flows.common.claude import ClaudeClient, Usage
from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.forge.agent import build_request, document_blocks
from prefect_review_gate.flows.forge.flow import load_sources
from prefect_review_gate.validators.claude_citations import validate_claude_citations
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["main", "strip_secrets"]

_KEY_SHAPE = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"


def strip_secrets(text: str, secrets: Sequence[str]) -> str:
    """`text` with every given secret, and anything shaped like an Anthropic key, replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPE.sub(REDACTED, text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prefect_review_gate.flows.forge.capture",
        description="Send FORGE's request for an example to the Messages API; save the reply as a fixture.",
    )
    parser.add_argument("--example", type=Path, default=Path("examples/proposal"), help="folder with "
                        "brief.md and sources/ (default: examples/proposal)")  # fmt: skip
    parser.add_argument("--client", default="Brightwater Logistics", help="who the proposal is for")
    parser.add_argument(
        "--out", type=Path, help="where to write the reply (default: <example>/captured_response.json)"
    )
    return parser


async def _capture(args: argparse.Namespace) -> int:
    example: Path = args.example.resolve()
    brief_file = example / "brief.md"
    if not brief_file.is_file():
        print(f"capture: {brief_file} is missing: pass --example DIR", file=sys.stderr)
        return 2
    sources = load_sources(str(example / "sources"))
    documents = document_blocks(sources)
    request = build_request(brief_file.read_text(encoding="utf-8"), args.client, documents)
    claude = await ClaudeClient.from_settings()
    answered = await claude.create(**request)
    reply = answered.message.model_dump(mode="json", exclude_none=True)
    secret = claude.api_key.get_secret_value()
    out: Path = args.out or example / "captured_response.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(strip_secrets(json.dumps(reply, indent=2, ensure_ascii=False), [secret]) + "\n", "utf-8")
    usage = Usage.of(answered.message)
    meta = {
        "request_id": answered.request_id,
        "model": reply.get("model"),
        "stop_reason": reply.get("stop_reason"),
        "usage": reply.get("usage"),
        "cost_usd_estimate": usage.cost_usd,
        "retries": answered.retries,
    }
    meta_file = out.with_suffix(".meta.json")
    meta_file.write_text(strip_secrets(json.dumps(meta, indent=2), [secret]) + "\n", encoding="utf-8")
    print(f"wrote {out} (and {meta_file.name})")
    print(f"request id: {answered.request_id or 'not given'}   stop reason: {reply.get('stop_reason')}")
    print(
        f"usage: {usage.input_tokens} input, {usage.output_tokens} output, "
        f"{usage.cache_creation_input_tokens} cache writes, {usage.cache_read_input_tokens} cache reads; "
        f"cost {usage.cost_text}"
    )
    findings = validate_claude_citations(reply, documents)
    print(f"citation findings: {len(findings)}")
    for finding in findings:
        print(f"  {finding.severity.value} {finding.code}: {finding.message}")
    return 0 if reply.get("stop_reason") == "tool_use" else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_capture(args))
    except (ModelError, ReviewGateError) as exc:
        print(f"capture: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
