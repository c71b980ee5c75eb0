"""The README holds together: every in-page link has its heading, every image and file it links
exists, and no line of prose is repeated (a bad merge once replaced two agents' sections with one
repeated line, and nothing noticed)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _prose_lines() -> list[str]:
    lines, fenced = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.strip() and not line.startswith(("|", "#", "![")):
            lines.append(line.strip())
    return lines


def test_every_in_page_link_has_its_heading() -> None:
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)}
    missing = [a for a in re.findall(r"\]\(#([^)]+)\)", README) if a not in anchors]
    assert missing == []


def test_every_linked_file_and_image_exists() -> None:
    prose = re.sub(r"`[^`\n]*`", "", README)  # `[text](url)` in a code span is an example, not a link
    targets = re.findall(r"\]\(((?!https?:|#|mailto:)[^)\s]+)\)", prose)
    missing = [t for t in targets if not (ROOT / t.split("#")[0]).exists()]
    assert missing == []


def test_no_prose_line_is_repeated() -> None:
    repeated = [line for line, n in Counter(_prose_lines()).items() if n > 1 and len(line) > 40]
    assert repeated == []


def test_each_agent_has_its_section() -> None:
    for heading in ("## Proposal flow (FORGE)", "## Deal support flow (CLOSER)", "## Build flow (RENDER)"):
        assert f"\n{heading}\n" in README
