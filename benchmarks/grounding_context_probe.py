"""Probe of the support-in-context check on real prose: how often it blocks a true claim, how often it
catches a real figure put on the wrong subject.

Sources are the pinned benchmark set (benchmarks/data/grounding_sources.json.gz). From each source,
up to 15 sentences holding a figure are copied verbatim and cited: each is a true claim, so any
`misattributed_number` on them is a false block. Then each sentence's first figure (two digits or
more) is swapped for another figure of the same kind that the same source states elsewhere: a real
figure on the wrong subject, which should block (`misattributed_number`, or `unsupported_number` when
a unit or a word no longer matches).

Run:  .venv/bin/python benchmarks/grounding_context_probe.py
It always exits 0: it measures, it does not gate.
"""

from __future__ import annotations

import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from grounding_bench import pinned_sources

from prefect_review_gate.validators import SourceLibrary, validate_draft
from prefect_review_gate.validators.text import NumberToken, find_numbers

# A sentence: a capital, then up to 200 characters with no line break, ending on . ! or ? before a
# space (a period inside a version such as 3.11 does not end it). No code, quotes or brackets, which
# would change what the draft's parser reads.
_SENTENCE = re.compile(r"[A-Z](?:[^!?\n]|\.(?!\s)){20,200}[.!?](?=\s|$)")
_PER_SOURCE = 15


def sentences(text: str) -> list[str]:
    found = [m.group() for m in _SENTENCE.finditer(text)]
    return [s for s in found if re.search(r"\d", s) and not any(c in s for c in '`"[')][:_PER_SOURCE]


def same_kind(a: NumberToken, b: NumberToken) -> bool:
    return a.unit == b.unit and a.digits.count(".") == b.digits.count(".")


def main() -> int:
    sources = pinned_sources()
    library = SourceLibrary.from_texts(sources.texts)
    rng = random.Random(20261130)
    true_claims = false_blocks = swapped = caught = 0
    codes: Counter[str] = Counter()
    on_true: Counter[str] = Counter()  # every block on a true claim, by code
    for sid, text in sources.texts.items():
        figures = [n for n in find_numbers(text) if len(n.digits) >= 2]
        for sentence in sentences(text):
            draft = f"{sentence[:-1]} [{sid}]."
            true_claims += 1
            found = validate_draft(draft, library)
            false_blocks += any(f.code == "misattributed_number" for f in found)
            on_true.update(f.code for f in found if f.blocking)
            claimed = [n for n in find_numbers(sentence) if len(n.digits) >= 2]
            if not claimed:
                continue
            number = claimed[0]
            others = [o for o in figures if same_kind(o, number) and o.digits not in sentence]
            if not others:
                continue
            other = rng.choice(others)
            draft = f"{sentence[: number.start]}{other.text}{sentence[number.end : -1]} [{sid}]."
            end = number.start + len(other.text)
            hits = [
                f
                for f in validate_draft(draft, library)
                if f.blocking and (f.start or 0) < end and number.start < (f.end or 0)
            ]
            swapped += 1
            caught += bool(hits)
            codes.update({f.code for f in hits})
    print("grounding context probe (pinned sources)")
    print(
        f"  true claims     {true_claims} sentences copied from their cited source: "
        f"{false_blocks} misattributed_number (false blocks)"
    )
    print(f"                  all blocks on them, by code: {dict(on_true)}")
    print(
        f"  swapped figure  {swapped} sentences with a figure of the same source moved onto them: "
        f"{caught} blocked ({caught / max(swapped, 1):.0%}); by code {dict(codes)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
