"""Quote edits that flip the meaning: what an ellipsis, or the quote's edge, leaves out of the source.

"orjson ... will ... support PyPy" is made of words the source has, in order, out of "does not and
will not support PyPy"; "should be enabled" stops just before "with caution". The words are all
there, so only the text the quote skips tells. A negation skipped inside a quote turns a sentence
into its opposite; a qualifier skipped, or one right at the quote's edge, may.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prefect_review_gate.validators.sources import find_word_aligned

__all__ = ["Omission", "edges_suspect", "find_omission", "may_omit"]

_NEGATION = re.compile(
    r"\b(?:not|never|no|cannot|can't|won't|don't|doesn't|isn't|aren't|without|nor|none)\b|n't\b"
)
_QUALIFIER = re.compile(
    r"\b(?:only|unless|except|excluding|but not|with caution|carefully|if|provided that|as long as|"
    r"at most|at least|up to|rarely|sometimes|may|might|experimental|deprecated)\b"
)
_EDGE = re.compile(
    r"[\s,;:(\-]*((?:with caution|unless|except|only if|only when|but not|but never)\b[^.;\n]*)"
)
_BEFORE = re.compile(r"\b(not|never|no|cannot|without|n't)\W*$")
_MAX_GAP = 400
_EDGE_HINTS = (
    "caution",
    "unless",
    "except",
    "only if",
    "only when",
    "but not",
    "but never",
    "not ",
    "never ",
)
_OMISSION_HINTS = (
    "not", "never", "no", "cannot", "without", "nor", "none", "only", "unless", "except", "caution",
    "carefully", "if", "provided", "as long as", "at most", "at least", "up to", "rarely", "sometimes",
    "may", "might", "experimental", "deprecated", "n't",
)  # fmt: skip
_OMISSION_WORDS = (
    "not", "never", "no", "cannot", "without", "nor", "none", "only", "unless", "except", "excluding",
    "caution", "carefully", "if", "provided", "as long as", "at most", "at least", "up to", "rarely",
    "sometimes", "may", "might", "experimental", "deprecated",
)  # fmt: skip
_ANY_OMISSION_WORD = re.compile(r"\b(?:" + "|".join(_OMISSION_WORDS) + r")\b|n't\b", re.I)


@dataclass(frozen=True, slots=True)
class Omission:
    """What the quote leaves out, as the source writes it (normalized), and whether it negates."""

    words: str
    negation: bool
    where: str  # 'inside' (an ellipsis), 'before' or 'after' the quote


def edges_suspect(lowered: str | None, fragment: str, position: int | None = None) -> bool:
    """Whether a one-piece quote may have a negation or qualifier at its edges in the source: looked
    for around its first copy as written, so most quotes are settled without normalizing a window.
    A copy found only through line breaks or markup is suspect when the text around its longest
    word's first copy holds one of those words at all (plain substring tests: finding the copy
    again would cost more than all the other checks of the quote)."""
    if lowered is None:
        return False
    if position is None:  # not known yet: the first copy as written
        position = find_word_aligned(lowered, fragment)
    if position < 0:
        anchor = max(fragment.split(), key=len, default="")
        hit = lowered.find(anchor) if anchor else -1
        for _ in range(4):  # the first few copies of the anchor: the quote's is usually among them
            if hit < 0:
                return False
            around = lowered[max(0, hit - len(fragment) - 25) : hit + len(fragment) + 120]
            if any(word in around for word in _EDGE_HINTS):
                return True
            hit = lowered.find(anchor, hit + 1)
        return False
    end = position + len(fragment)
    return bool(
        _BEFORE.search(lowered, max(0, position - 25), position) or _EDGE.match(lowered, end, end + 120)
    )


def may_omit(raw_window: str) -> bool:
    """Whether a stretch of source holds any word an omission could be about: when it does not,
    nothing the quote skips there can negate or qualify, and it need not be normalized."""
    lowered = raw_window.lower()
    return any(word in lowered for word in _OMISSION_HINTS) and _omission_word_in(raw_window, lowered)


def _omission_word_in(raw_window: str, lowered: str) -> bool:
    """`_ANY_OMISSION_WORD.search(raw_window) is not None`, tried only where one of its words starts.

    Every match starts with one of the words (or n't), case aside; in ASCII text those are where
    the lower-cased text holds them. The pattern searched whole (a case-blind alternation after \\b)
    is tried at each of a window's ~1,000 positions; a few str.find calls skip to the candidates.
    Text that is not ASCII is searched whole: `re.I` matches a few non-ASCII letters to ASCII ones.
    """
    if not raw_window.isascii():
        return _ANY_OMISSION_WORD.search(raw_window) is not None
    for word in (*_OMISSION_WORDS, "n't"):
        at = lowered.find(word)
        while at >= 0:
            if _ANY_OMISSION_WORD.match(raw_window, at):
                return True
            at = lowered.find(word, at + 1)
    return False


def _last_before(text: str, fragment: str, first: int, before: int) -> int:
    """The last word-aligned copy of `fragment` starting in [first, before), or -1."""
    last = -1
    position = find_word_aligned(text, fragment, first, before)
    while position >= 0:
        last = position
        position = find_word_aligned(text, fragment, position + 1, before)
    return last


def _tightest(text: str, fragments: list[str]) -> list[int] | None:
    """Where each fragment sits, chained back from a copy of the last one, each the nearest before
    the next: "fast ... small" skips what lies between the last 'fast' and 'small'."""
    last = find_word_aligned(text, fragments[-1])
    for _ in range(5):
        if last < 0:
            return None
        positions = [last]
        for fragment in reversed(fragments[:-1]):
            following = positions[0]
            found = _last_before(text, fragment, max(0, following - _MAX_GAP - len(fragment)), following)
            if found < 0 or found + len(fragment) > following:
                break
            positions.insert(0, found)
        if len(positions) == len(fragments):
            return positions
        last = find_word_aligned(text, fragments[-1], last + 1)
    return None


def find_omission(text: str, fragments: list[str]) -> Omission | None:
    """The meaning-changing text a quote made of `fragments` skips in a normalized source text.

    None when the quote skips nothing that negates or qualifies, or is not found in the text.
    """
    positions = _tightest(text, fragments)
    if positions is None:
        return None
    for fragment, start, following in zip(fragments, positions, positions[1:], strict=False):
        gap = text[start + len(fragment) : following].strip(" .,;:")
        negation = _NEGATION.search(gap)
        if negation and any(_NEGATION.search(f) for f in fragments):
            continue  # "does not ... support": the quote keeps a negation of its own
        if negation or _QUALIFIER.search(gap):
            return Omission(gap, negation is not None, "inside")
    start, end = positions[0], positions[-1] + len(fragments[-1])
    before = _BEFORE.search(text, max(0, start - 20), start)
    if before:
        return Omission(before.group(1), True, "before")
    after = _EDGE.match(text, end, min(len(text), end + 120))
    if after:
        return Omission(" ".join(after.group(1).split()), False, "after")
    return None
