"""Evidence for a reviewer: the closest thing the sources do say, next to what the draft claims.

Only called for claims that failed, so it may be slower than the checks themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prefect_review_gate.validators.sources import SourceDocument
from prefect_review_gate.validators.text import NumberToken, normalize_passage
from rapidfuzz import fuzz, process

__all__ = ["Passage", "closest_id", "closest_number", "closest_passage", "closest_url"]

_CONTEXT = 240  # characters of source shown around a match
_MIN_SIMILARITY = 50.0
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
    """The known source id a mistyped or invented one most resembles."""
    match = process.extractOne(unknown, known, scorer=fuzz.WRatio, score_cutoff=60)
    return match[0] if match else None


def closest_url(key: str, known: Mapping[str, tuple[str, str]]) -> tuple[str, str] | None:
    """(source id, URL as written) of the source URL sharing the longest prefix with `key`.

    An invented URL is usually a real site with a made-up path, so the longest shared prefix shows
    the reviewer which real pages exist there; similarity breaks ties.
    """
    if not known:
        return None
    best = max(known, key=lambda other: (_shared_prefix(key, other), fuzz.ratio(key, other)))
    if _shared_prefix(key, best) < key.find("://") + 4 and fuzz.ratio(key, best) < _MIN_SIMILARITY:
        return None
    return known[best]


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
        haystack = doc.text.lower()
        if len(haystack) != len(doc.text):  # lower() changed lengths: offsets would drift
            haystack = doc.text
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
    ranked = sorted(candidates, key=lambda doc: -sum(1 for word in words if word in doc.normalized))
    return ranked[:keep]


def closest_number(
    number: NumberToken, candidates: Sequence[SourceDocument], claim: str = ""
) -> Passage | None:
    """The source figure most likely meant: near in value and said in words like the claim's.

    `claim` is the draft's sentence; a figure from a passage about the same thing (sharing words)
    beats a closer value from an unrelated line such as an image width.
    """
    claim_words = {w.lower() for w in _WORD.findall(claim)}
    best: tuple[float, SourceDocument, NumberToken] | None = None
    for doc in candidates:
        for other in doc.numbers:
            distance = _number_distance(number, other)
            if claim_words:
                window = doc.text[max(0, other.start - 120) : other.end + 120]
                words = {w.lower() for w in _WORD.findall(window)}
                distance += 1.0 - len(claim_words & words) / len(claim_words)
            if best is None or distance < best[0]:
                best = (distance, doc, other)
    if best is None:
        return None
    _, doc, other = best
    return Passage(doc.id, _context(doc.text, other.start, other.end), figure=other.text)


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
