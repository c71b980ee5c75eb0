"""Who said it: a real quote credited to someone the source does not credit it to.

A sentence that names a speaker ("Acme's CTO Jane Roe said", "according to Globex") makes a claim
the quote's words alone do not: the source must say it near that name. The speaker is read only
where a reader reads one, next to a verb of saying or after 'according to'; a name that is the
cited source's own (its id) says where the quote is from, which the citation already checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from prefect_review_gate.validators.sources import find_word_aligned
from prefect_review_gate.validators.text import find_urls

__all__ = ["named_speakers", "names_not_near"]

_SAYS = re.compile(
    r"\b(?:said|says|say|wrote|writes|told|tells|explained|explains|noted|notes|stated|states"
    r"|puts? it|according to|quoted|quoting)\b",
    re.I,
)
_SAYS_HINTS = (
    "said", "says", "say ", "wrote", "writes", "told", "tells", "explain", "noted", "notes", "stated",
    "states", "put it", "puts it", "according to", "quot",
)  # fmt: skip
# The hints as one pattern on the lower-cased sentence: one scan instead of a test per hint.
_SAYS_HINT = re.compile("|".join(re.escape(hint) for hint in _SAYS_HINTS))
_CAPITALIZED = re.compile(r"\b[A-Z][\w&\u2019'-]*")
_MARKER = re.compile(r"\[[^\]\n]*\]")
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
_POSSESSIVE = re.compile(r"(?:\u2019|')s$")
# Capitalized words that name no one: sentence openers, titles, roles, the usual document words.
_NOT_NAMES = frozenset(
    [
        "the", "a", "an", "as", "at", "in", "on", "it", "its", "this", "that", "our", "their", "his",
        "her", "we", "they", "one", "per", "when", "while", "after", "before", "for", "from", "with",
        "since", "and", "but", "or", "so", "then", "also", "here", "there", "according", "cto", "ceo",
        "cfo", "vp", "head", "lead", "senior", "principal", "engineer", "engineers", "developer",
        "developers", "maintainer", "maintainers", "team", "docs", "documentation", "readme",
        "changelog", "release", "notes", "blog", "faq", "guide", "author", "authors", "project",
        "company", "mr", "ms", "mrs", "dr", "prof",
    ]
)  # fmt: skip
_WINDOW = 800


def named_speakers(sentence: str, quotes: Sequence[tuple[int, int]]) -> list[str]:
    """The capitalized name words (lower case) of a sentence that credits a quote to someone, outside
    its quotes and markers; none when no verb of saying or 'according to' credits anyone."""
    # Most sentences credit no one: settled by substring tests before any pattern or copying.
    lowered = sentence.lower()
    if not _SAYS_HINT.search(lowered) or not _SAYS.search(sentence):
        return []
    hidden = [*quotes, *((url.start, url.end) for url in find_urls(sentence))]
    for start, end in hidden:
        sentence = sentence[:start] + " " * (end - start) + sentence[end:]
    sentence = _MARKER.sub(" ", _LINK_TARGET.sub(" ", sentence))
    if not _SAYS.search(sentence):
        return []
    names: list[str] = []
    for m in _CAPITALIZED.finditer(sentence):
        word = _POSSESSIVE.sub("", m.group()).strip(".,'\u2019-").lower()
        if len(word) >= 3 and word not in _NOT_NAMES and word not in names:
            names.append(word)
    return names


def names_not_near(lowered: str, position: int, length: int, names: Sequence[str]) -> list[str]:
    """The name words not written next to the quote found at `position` (`length` characters)."""
    fragment = " " * length
    # The quote's paragraph and the one on each side (where a byline or a lead-in sits), at most
    # _WINDOW characters each way: a neighbouring testimonial's speaker is not this one's.
    low, high = max(0, position - _WINDOW), min(len(lowered), position + len(fragment) + _WINDOW)
    start = lowered.rfind("\n\n", low, position)
    start = lowered.rfind("\n\n", low, start) if start > low else low
    end = lowered.find("\n\n", position + len(fragment), high)
    end = lowered.find("\n\n", end + 2, high) if end >= 0 else high
    window = lowered[max(start, low) : high if end < 0 else end]
    return [name for name in names if find_word_aligned(window, name) < 0]
