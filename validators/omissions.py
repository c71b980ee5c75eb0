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

__all__ = ["Omission", "find_omission"]

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


@dataclass(frozen=True, slots=True)
class Omission:
    """What the quote leaves out, as the source writes it (normalized), and whether it negates."""

    words: str
    negation: bool
    where: str  # 'inside' (an ellipsis), 'before' or 'after' the quote


def _last_before(lowered: str, fragment: str, first: int, before: int) -> int:
    """The last word-aligned copy of `fragment` starting in [first, before), at least `first`."""
    last = first
    position = find_word_aligned(lowered, fragment, first + 1, before)
    while position >= 0:
        last = position
        position = find_word_aligned(lowered, fragment, position + 1, before)
    return last


def find_omission(lowered: str, fragments: list[str]) -> Omission | None:
    """The meaning-changing text a quote made of `fragments` skips in a lower-cased source, if any.

    Only a copy found as written is read: then the skipped text is exactly known. None when the
    quote skips nothing that negates or qualifies.
    """
    position = find_word_aligned(lowered, fragments[0])
    if position < 0:
        return None
    start = position
    end = position + len(fragments[0])
    for index, fragment in enumerate(fragments[1:]):
        following = find_word_aligned(lowered, fragment, end, end + _MAX_GAP + len(fragment))
        if following < 0:
            return None
        # The copy of the piece before that sits nearest: "fast ... small" skips what lies between
        # the last 'fast' and 'small', not everything from the first 'fast' on.
        previous = _last_before(lowered, fragments[index], end - len(fragments[index]), following)
        end = previous + len(fragments[index])
        gap = " ".join(lowered[end:following].split())
        negation = _NEGATION.search(gap)
        if negation or _QUALIFIER.search(gap):
            return Omission(gap, negation is not None, "inside")
        end = following + len(fragment)
    before = _BEFORE.search(lowered, max(0, start - 20), start)
    if before:
        return Omission(before.group(1), True, "before")
    after = _EDGE.match(lowered, end, min(len(lowered), end + 120))
    if after:
        return Omission(" ".join(after.group(1).split()), False, "after")
    return None
