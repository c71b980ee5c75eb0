"""Evidence for a reviewer: the closest thing the sources do say, next to what the draft claims.

Only called for claims that failed, so it may be slower than the checks themselves.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from prefect_review_gate.validators.sources import SourceDocument, SourceLibrary
from prefect_review_gate.validators.text import NumberToken, find_numbers, normalize_passage

__all__ = ["Passage", "closest_id", "closest_number", "closest_passage", "closest_url"]

_CONTEXT = 240  # characters of source shown around a match
_MIN_SIMILARITY = 50.0
_NUMBER_SHORTLIST = 12
_WORD = re.compile(r"[^\W_]{4,}")
_BOUNDARY = re.compile(r"(?:[.!?][\"')\]]*\s|\n\s*\n)")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Passage:
    """A passage of one source, trimmed for display."""

    source_id: str
    text: str
    figure: str = ""


def closest_id(unknown: str, known: Sequence[str]) -> str | None:
    """The known source id a mistyped or invented one most resembles (near misses like 'fastapi-docs')."""
    match = process.extractOne(unknown, known, scorer=fuzz.ratio, score_cutoff=60)
    if match is None:  # an id that extends a known one: 'orjson-benchmarks' for 'orjson'
        prefixed = [k for k in known if unknown.startswith(k) or k.startswith(unknown)]
        return max(prefixed, key=len) if prefixed else None
    return str(match[0])


def closest_url(key: str, library: SourceLibrary) -> tuple[str, str] | None:
    """(source id, URL as written) of the source URL on the same site most like `key`, if any.

    An invented URL is usually a real site with a made-up path: the real pages on that site, by
    longest shared prefix then similarity, show the reviewer what exists.
    """
    path = key.partition("://")[2]
    host = path.partition("/")[0]
    # Every needle below starts with the host: a site no source links (an invented one, the usual
    # case) is settled by one scan of the sources instead of one per needle.
    if not host or not library.urls_on(host, limit=1):
        return None
    found: dict[str, tuple[str, str]] = {}
    # Narrowest first: pages under the same path, then the same site. Popular hosts (github.com)
    # appear thousands of times; the path keeps the search small and the evidence relevant.
    sections = [path[:cut] for cut in range(len(path), len(host), -1) if path[cut - 1] == "/"]
    needles = [*sections[:3], host]
    for needle in needles:
        for source_id, url in library.urls_on(needle):
            if url.key.partition("://")[2].partition("/")[0] == host:
                found.setdefault(url.key, (source_id, url.text))
        if found:
            break
    if not found:
        return None
    # Character-wise common prefix on purpose: URLs, not file system paths.
    best = max(found, key=lambda other: (_shared_prefix(key, other), fuzz.ratio(key, other)))
    return found[best]


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def closest_passage(quote: str, candidates: Sequence[SourceDocument]) -> Passage | None:
    """The source sentence that best matches a quote, searched in the likeliest sources only."""
    needle = normalize_passage(quote)
    if not needle:
        return None
    best: tuple[float, SourceDocument, int, int] | None = None
    for doc in _likeliest(needle, candidates):
        # In lower case unless that changes lengths (offsets would drift): then as written.
        haystack = doc.text if doc.lowered is None else doc.lowered
        alignment = fuzz.partial_ratio_alignment(needle, haystack)
        if alignment is not None and (best is None or alignment.score > best[0]):
            best = (alignment.score, doc, alignment.dest_start, alignment.dest_end)
    if best is None or best[0] < _MIN_SIMILARITY:
        return None
    _, doc, start, end = best
    return Passage(doc.id, _context(doc.text, start, end))


def _likeliest(needle: str, candidates: Sequence[SourceDocument], keep: int = 3) -> list[SourceDocument]:
    """The sources sharing the most of the quote's longer words (a cheap filter before alignment)."""
    if len(candidates) <= keep:
        return list(candidates)
    words = set(_WORD.findall(needle))

    def shared(doc: SourceDocument) -> int:
        return sum(1 for word in words if word in doc.text or word.capitalize() in doc.text)

    ranked = sorted(candidates, key=shared, reverse=True)
    return ranked[:keep]


def closest_number(
    number: NumberToken, candidates: Sequence[SourceDocument], claim: str = ""
) -> Passage | None:
    """The source figure most likely meant: near in value and said in words like the claim's.

    `claim` is the draft's sentence; a figure from a passage about the same thing (sharing words)
    beats a closer value from an unrelated line such as an image width.
    """
    claim_words = _lower_words(claim)
    scored = [
        (_number_distance(number, other), doc, other)
        for doc in candidates
        for other in _numbers_near_words(doc, claim_words) or doc.numbers
    ]
    # Words are compared only for the figures nearest in value: the window scan is the costly part.
    best: tuple[float, SourceDocument, NumberToken] | None = None
    for distance, doc, other in heapq.nsmallest(_NUMBER_SHORTLIST, scored, key=lambda item: item[0]):
        if best is not None and distance >= best[0]:
            break  # in order of value: the words can only add to the rest, which cannot win
        if claim_words:
            window = doc.text[max(0, other.start - 120) : other.end + 120]
            words = _lower_words(window)
            distance += 1.0 - len(claim_words & words) / len(claim_words)
        if best is None or distance < best[0]:
            best = (distance, doc, other)
    if best is None:
        return None
    _, doc, other = best
    return Passage(doc.id, _context(doc.text, other.start, other.end), figure=other.text)


def _lower_words(text: str) -> set[str]:
    """The text's longer words in lower case."""
    if text.isascii():  # lower-casing ASCII first finds the same words, with one call for all
        return set(_WORD.findall(text.lower()))
    return {w.lower() for w in _WORD.findall(text)}


def _numbers_near_words(doc: SourceDocument, words: set[str], per_word: int = 4) -> list[NumberToken]:
    """Numbers in lines of `doc` that hold the claim's longer words: where the figure meant is said.

    Tokenizing those lines, not the whole source, keeps evidence cheap; an empty result makes the
    caller fall back to every number of the source.
    """
    lowered = doc.lowered
    if lowered is None:
        return []
    lines: set[tuple[int, int]] = set()
    # Ties in length are broken by the word itself: a set's order changes with the hash seed.
    for word in sorted(words, key=lambda w: (-len(w), w))[:8]:
        position = lowered.find(word)
        for _ in range(per_word):
            if position < 0:
                break
            start = lowered.rfind("\n", 0, position) + 1
            end = lowered.find("\n", position)
            lines.add((start, len(lowered) if end < 0 else end))
            position = lowered.find(word, position + len(word))
    return [token for start, end in sorted(lines) for token in find_numbers(doc.text, start, end)]


def _number_distance(a: NumberToken, b: NumberToken) -> float:
    unit_penalty = 0.0 if a.unit == b.unit else 1.0
    try:
        x, y = float(a.digits), float(b.digits)
    except ValueError:
        return 2.0 + unit_penalty + (100 - fuzz.ratio(a.digits, b.digits)) / 100
    scale = max(abs(x), abs(y), 1e-9)
    return unit_penalty + abs(x - y) / scale


def _context(text: str, start: int, end: int) -> str:
    """The sentence around `text[start:end]`, whitespace collapsed, at most about _CONTEXT characters."""
    window_start = max(0, start - _CONTEXT)
    cuts = [m.end() for m in _BOUNDARY.finditer(text, window_start, start)]
    left = cuts[-1] if cuts else window_start
    after = _BOUNDARY.search(text, end, min(len(text), end + _CONTEXT))
    right = after.start() + 1 if after else min(len(text), end + _CONTEXT)
    snippet = _SPACES.sub(" ", text[left:right]).strip()
    prefix = "…" if left > 0 and not cuts else ""
    suffix = "…" if right < len(text) and not after else ""
    return f"{prefix}{snippet}{suffix}"
