"""Write the grounding v2 labeled cases (issue #15) from the templates below and source_texts/.

Each case folder gets the shared eval layout (../shared/eval/grounding): `draft.md`, `sources/`,
`labels.json`. A template marks each planted fabrication inline as ⟦code|severity:text⟧; `severity`
is the least a finding must weigh to count as catching it (`block` or `warn`). Sentences left
unmarked are clean, traps included: a figure right in its context that the source also states
elsewhere, ellipses that keep the meaning, footnotes and table headers that do support their rows.

Run:  python tests/grounding_cases/build.py   (rewrites every case identically)
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

HERE = Path(__file__).parent
TEXTS = HERE / "source_texts"
MARK = re.compile(r"⟦([a-z_]+)\|(block|warn):(.*?)⟧", re.S)

CASES: dict[str, tuple[str, list[str], str]] = {
    "changelog-and-benchmarks": (
        "dependency review of charset-normalizer: releases, dates, benchmark table, footnotes, lists",
        ["charset-normalizer.md"],
        """\
# Dependency review: charset-normalizer

## Releases

Release 3.5.0 added explicit support for Python 3.15 [charset-normalizer]. Explicit support for
Python 3.15 arrived in ⟦misattributed_number|warn:3.4.9⟧ [charset-normalizer].

The regression in the fallback path that led to a decode error was fixed in 3.4.9, and 3.4.8 was
yanked because of it [charset-normalizer]. The wall import time due to cascade codec imports was
fixed in ⟦misattributed_number|warn:3.4.7⟧ [charset-normalizer].

Release 3.4.9 came out on July 7, 2026, and 3.5.1 on 2026-08-15 [charset-normalizer]. Release 3.5.0,
which added explicit support for Python 3.15, shipped on ⟦unsupported_date|block:August 13, 2026⟧
[charset-normalizer].

## Speed

Charset-normalizer takes 0.4 ms per file on average[^perf]. Its accuracy in that run is
⟦unsupported_number|block:99 %⟧[^perf].

| Package | 99th percentile [charset-normalizer] | 50th percentile |
|---|---|---|
| chardet | 2.7 ms | 0.2 ms |
| charset-normalizer | ⟦unsupported_number|block:1.7⟧ ms | 0.2 ms |

At the 99th percentile charset-normalizer needs 1.9 ms per file [charset-normalizer]. Chardet's 95th
percentile is ⟦unsupported_number|block:1.0⟧ s per file [charset-normalizer].

The benchmark notes say [charset-normalizer]:

- stats come from 477 files with default parameters;
- the comparison used Chardet ⟦unsupported_number|block:7.9⟧;
- the host CPU is a 13th gen Intel mobile CPU.

The benchmark corpus holds ⟦unsupported_number|block:447⟧ files. Stats are generated using default
parameters [charset-normalizer].

Our own spot check covered ⟦uncited_number|warn:12⟧ files.

## Command line

The CLI's force flag will “⟦altered_quote|warn:replace file without asking if you are sure, use this flag⟧”
[charset-normalizer]. The threshold option sets a “custom maximum amount of chaos allowed in decoded
content” [charset-normalizer].

[^perf]: The performance section of [charset-normalizer].
""",
    ),
    "json-library-quotes": (
        "orjson notes: single curly quotes, ellipses that keep or flip the meaning, figures in words, URLs",
        ["orjson.md"],
        """\
# JSON library notes

orjson calls itself a ‘Fast, correct Python JSON library supporting dataclasses, datetimes, and
numpy’ [orjson]. The maintainers also write ‘⟦unsupported_quote|block:orjson supports PyPy and
free-threading today⟧’ [orjson].

Its stance on PyPy is blunt: “orjson does not ... support PyPy” [orjson]. A summary elsewhere read
“⟦altered_quote|block:orjson ... will ... support PyPy⟧” [orjson]. File handling is out of scope:
“Reading from and writing to files ... is not provided by the library” [orjson].

For speed, `orjson.loads()` is about two times as fast as `json` [orjson], and `orjson.dumps()`
something like 10x as fast [orjson]. A slide deck put it the other way round: `orjson.loads()` is
something like ⟦misattributed_number|block:10x⟧ as fast as `json` [orjson]. One blog post claims
`orjson.dumps()` is roughly ⟦unsupported_number|block:twenty times⟧ as fast as `json` [orjson].

It supports CPython 3.10 through 3.15 [orjson]. The project lives at http://github.com/ijl/orjson
[orjson]; a PyPy fork would live at ⟦unknown_url|block:https://github.com/ijl/orjson-pypy⟧ [orjson].
""",
    ),
    "exit-codes": (
        "GNU timeout's exit codes: a real figure given to the wrong condition",
        ["coreutils-timeout.txt"],
        """\
# Runbook: job timeouts

GNU timeout exits with status 124 if COMMAND times out and --preserve-status is not specified
[coreutils-timeout]. Our alerting therefore treats ⟦misattributed_number|warn:125⟧ as the status
for a COMMAND that times out when --preserve-status is not specified [coreutils-timeout].

When COMMAND cannot be found the status is 127 [coreutils-timeout]. A KILL signal gives 137, that is
128+9 [coreutils-timeout].
""",
    ),
    "testimonials": (
        "FastAPI testimonials: real quotes credited to the right and to the wrong company",
        ["fastapi.md"],
        """\
# Framework choice: who uses FastAPI

Cisco's Deon Pillsbury wrote that FastAPI is “beautifully designed, simple to use and highly
scalable” [fastapi]. Kabir Khan of Microsoft said he was “planning to use it for all of my team's
ML services at Microsoft” [fastapi].

Netflix engineers wrote that FastAPI is “⟦misattributed_quote|warn:beautifully designed, simple to use
and highly scalable⟧” [fastapi]. According to Uber, “⟦misattributed_quote|warn:Netflix is pleased to
announce the open-source release of our crisis management orchestration framework⟧” [fastapi].
""",
    ),
    "clean-glued-figures": (
        "clean: figures the sources write glued to letters, a footnote naming its source, http for https",
        ["rfc3339-validator.md", "colorama.md", "orjson.md"],
        """\
# Small dependencies (clean)

rfc3339-validator is a pure Python RFC 3339 validator [rfc3339-validator]. Julien Stuyck suggested
Python 3 compatible updates to the colorama README[^credits], and Ben Hoyt fixed a crash under
64-bit Windows[^credits].

orjson runs on CPython 3.10, 3.11, 3.12, 3.13, 3.14 and 3.15 [orjson]; its wheels run on x86-64-v1
(2003) or later [orjson]. Its code is at http://github.com/ijl/orjson [orjson].

orjson lists what it serializes natively [orjson]:

- dataclass, datetime, numpy and UUID instances;
- it is something like 10x as fast as `json` when serializing.

[^credits]: The thanks section of colorama's README, colorama.
""",
    ),
}


def build(root: Path = HERE) -> None:
    for name, (description, sources, template) in CASES.items():
        folder = root / name
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "sources").mkdir(parents=True)
        for source in sources:
            shutil.copyfile(TEXTS / source, folder / "sources" / source)
        draft, labels = render(template)
        (folder / "draft.md").write_text(draft, encoding="utf-8")
        doc = {"description": description, "fabrications": labels}
        (folder / "labels.json").write_text(
            json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def render(template: str) -> tuple[str, list[dict[str, object]]]:
    """The draft without marks, and a label per mark (offsets into the draft)."""
    parts: list[str] = []
    labels: list[dict[str, object]] = []
    position = 0
    length = 0
    for m in MARK.finditer(template):
        before = template[position : m.start()]
        parts.append(before)
        length += len(before)
        text = m.group(3)
        labels.append(
            {
                "start": length,
                "end": length + len(text),
                "code": m.group(1),
                "severity": m.group(2),
                "text": text,
            }
        )
        parts.append(text)
        length += len(text)
        position = m.end()
    parts.append(template[position:])
    return "".join(parts), labels


if __name__ == "__main__":
    build()
