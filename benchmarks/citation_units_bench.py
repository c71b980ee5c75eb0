"""Benchmark of `validate_claude_citations` when the API's offsets count UTF-16 units (issue #13).

A 1.4 MB plain-text document full of emoji, `—` and `·` (characters outside the BMP take two UTF-16
units), cited 500 times with spans counted in UTF-16 units: every citation misses as code points and
goes through the unit fallback (re-encoding, prefix decoding, a nearby search). Prints the median
time of a check over a few runs, and the time with code-point spans (no fallback) beside it.

Run:  .venv/bin/python benchmarks/citation_units_bench.py [--citations 500] [--repeat 20000]
It exits 0 whatever the figures: it measures, it does not gate.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from prefect_review_gate.validators.claude_citations import validate_claude_citations

SENTENCE = "Sales rose 7% after the launch 📈."


def _message(document: str, count: int, utf16: bool) -> dict[str, Any]:
    citations = []
    at = -1
    for _ in range(count):
        at = document.index(SENTENCE, at + 1)
        start = len(document[:at].encode("utf-16-le")) // 2 if utf16 else at
        length = len(SENTENCE.encode("utf-16-le")) // 2 if utf16 else len(SENTENCE)
        citations.append(
            {
                "type": "char_location",
                "cited_text": SENTENCE,
                "document_index": 0,
                "start_char_index": start,
                "end_char_index": start + length,
            }
        )
    return {"type": "message", "content": [{"type": "text", "text": "Sales rose.", "citations": citations}]}


def _median_ms(message: dict[str, Any], document: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        validate_claude_citations(message, [document])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--citations", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20000)
    args = parser.parse_args()
    document = ("Launch notes 🚀 — week · 😀 smiles. " + SENTENCE + " ") * args.repeat
    utf16 = _median_ms(_message(document, args.citations, utf16=True), document)
    points = _median_ms(_message(document, args.citations, utf16=False), document)
    print(f"document: {len(document):,} characters, {len(document.encode('utf-16-le')) // 2:,} UTF-16 units")
    print(f"{args.citations} citations in UTF-16 units (unit fallback): median {utf16:.0f} ms")
    print(f"{args.citations} citations in code points (no fallback):   median {points:.0f} ms")


if __name__ == "__main__":
    main()
