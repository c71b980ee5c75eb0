"""Rewrites made for speed must read text exactly as the code they replaced did.

Each test keeps the replaced form next to the new one and compares them on text built from the
characters that matter to the rule, so a rewrite that drifts in a corner shows up here.
"""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from prefect_review_gate.validators.markdown import _ABBREVIATIONS, _is_abbreviation, _skip_spaces
from prefect_review_gate.validators.sources import (
    SourceDocument,
    _held_around_anchor,
    _states,
    _written_forms,
    find_fragment,
    lower_case,
)
from prefect_review_gate.validators.text import (
    _SEPARATORS,
    _UNDERSCORE_EMPHASIS,
    NumberToken,
    find_numbers,
    first_number,
    split_ellipsis,
)

UNDERSCORE_TEXT = st.text(alphabet="__a1 .\u00e9\u00b2\n-", max_size=16)


@settings(max_examples=500, deadline=None)
@given(text=UNDERSCORE_TEXT)
def test_underscore_emphasis_is_removed_as_the_look_behind_form_did(text: str) -> None:
    replaced = re.compile(r"(?<!\w)_+|_+(?!\w)")
    assert _UNDERSCORE_EMPHASIS.sub("", text) == replaced.sub("", text)


ELLIPSIS_TEXT = st.text(alphabet="ab .[]\u2026,", max_size=20)


@settings(max_examples=500, deadline=None)
@given(quote=ELLIPSIS_TEXT)
def test_split_ellipsis_matches_always_splitting(quote: str) -> None:
    ellipsis = re.compile(r"\s*(?:\[\s*(?:\.\s*){3}\]|\[\s*\u2026\s*\]|(?:\.\s*){3}|\u2026)\s*")
    parts = (p.strip(" .,;:!?\"'()[]") for p in ellipsis.split(quote))
    assert split_ellipsis(quote) == [p for p in parts if any(c.isalnum() for c in p)]


# The number pattern as it was: a look-ahead and a look-behind at the number's first character.
LOOK_AHEAD_NUMBER = re.compile(
    r"""
    (?=[\d$\u20ac\u00a3\u00a5])
    (?: (?<=\bv) | (?<=\bV) | (?<![\w.,]) )
    (?P<currency>[$\u20ac\u00a3\u00a5])?
    (?P<num> \d{1,3}(?:[,\u00a0\u202f\u2009]\d{3})+(?:\.\d+)?(?!\d) | \d+(?:\.\d+)* )
    (?: (?P<pct>[ \u00a0\u202f]?%|[ \u00a0]percent\b) | (?P<mult>[x\u00d7](?![A-Za-z0-9])) )?
    """,
    re.VERBOSE,
)
NUMBER_TEXT = st.lists(
    st.sampled_from(
        [
            *"0123456789",
            *",. %x$\u20ac\u00a3\u00a5vVa_\n",
            "\u00a0",
            "\u202f",
            "\u2009",
            "\u00d7",
            "\u0663",
            " percent",
        ]
    ),
    max_size=16,
).map("".join)


def _look_ahead_tokens(text: str, start: int, end: int) -> list[tuple[int, int, str, str]]:
    tokens = []
    for m in LOOK_AHEAD_NUMBER.finditer(text, start, end):
        token_end = m.end("pct") if m.group("pct") else m.end()
        unit = "%" if m.group("pct") else ("x" if m.group("mult") else "")
        tokens.append((m.start(), token_end, m.group("num").translate(_SEPARATORS), unit))
    return tokens


@settings(max_examples=1000, deadline=None)
@given(text=NUMBER_TEXT, data=st.data())
def test_numbers_are_read_as_the_look_ahead_pattern_read_them(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    tokens = find_numbers(text, start, end)
    assert [(t.start, t.end, t.digits, t.unit) for t in tokens] == _look_ahead_tokens(text, start, end)
    assert all(t.text == text[t.start : t.end] for t in tokens)
    assert first_number(text, start, end) == (tokens[0] if tokens else None)


# Accented capitals, capital sigma (context-dependent), dotted I (lengthens), an emoji, Roman numeral
# and circled letters (cased symbols), and a lone surrogate.
CASED_TEXT = st.text(
    alphabet="aZ \u00e9\u00c9\u03a3\u03c3\u0130\u1e9e\U0001f600\u2160\u24b6\ud800", max_size=12
)


@settings(max_examples=1000, deadline=None)
@given(text=st.one_of(CASED_TEXT, st.text(max_size=30)))
def test_lower_case_is_str_lower(text: str) -> None:
    assert lower_case(text) == text.lower()


SPACED_TEXT = st.text(alphabet=" \t\n\u00a0\u2003\x1c\x85a.", max_size=10)


@settings(max_examples=500, deadline=None)
@given(text=SPACED_TEXT, data=st.data())
def test_skip_spaces_finds_what_the_non_space_pattern_found(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(text) + 1))
    end = data.draw(st.integers(0, len(text)))
    m = re.compile(r"\S").search(text, position, end)
    assert _skip_spaces(text, position, end) == (m.start() if m else end)


ABBREVIATION_TEXT = st.text(alphabet="aceEgiIUvs.t \n", max_size=30)


@settings(max_examples=500, deadline=None)
@given(text=ABBREVIATION_TEXT, data=st.data())
def test_abbreviations_are_read_as_the_word_pattern_read_them(text: str, data: st.DataObject) -> None:
    dot = data.draw(st.integers(0, len(text)))
    block_start = data.draw(st.integers(0, dot))
    next_char = data.draw(st.sampled_from("aA1 "))
    m = re.compile(r"([A-Za-z][A-Za-z.]*)$").search(text, max(block_start, dot - 24), dot)
    expected = False
    if m is not None:
        word = m.group(1).lower().rstrip(".")
        expected = (
            (not next_char.isupper())
            if word == "etc"
            else (word in _ABBREVIATIONS or (len(word) == 1 and m.group(1).isupper()))
        )
    assert _is_abbreviation(text, block_start, dot, next_char) == expected


def _holds_number_tokenizing_every_hit(text: str, number: NumberToken) -> bool:
    """holds_number before hits inside words were skipped: every hit's window tokenized; and, since
    grounding v2, a figure glued after letters ('RFC8878') read by a plain pattern."""
    for form in _written_forms(number.digits, number.unit):
        if re.search(r"(?<=[^\W\d_])" + re.escape(form) + r"(?![^\W_]|_|[.,]\d)", text):
            return True
        position = text.find(form)
        while position >= 0:
            token = first_number(text, max(0, position - 1), min(len(text), position + len(form) + 12))
            if token is not None and token.start <= position and _states(token, number):
                return True
            position = text.find(form, position + 1)
    return False


FIGURE_TEXT = st.text(alphabet="0123456789,. %$vVpyRFC_x\u00a0", max_size=24)


@settings(max_examples=1000, deadline=None)
@given(
    source=FIGURE_TEXT, claim=st.sampled_from(["3", "12", "1,234", "2.5", "40%", "3x", "$5", "v2", "1234"])
)
def test_holds_number_is_unchanged_by_skipping_hits_inside_words(source: str, claim: str) -> None:
    for number in find_numbers(claim):
        expected = _holds_number_tokenizing_every_hit(source, number)
        assert SourceDocument("a", source).holds_number(number) == expected


# The long pieces put hits near the edges of the windows searched around an anchor.
PASSAGE_PIECES = ["ab", "cd", "abcd", " ", "\n", "*", "_", "x", "y" * 150, " " * 150]
PASSAGE_TEXT = st.lists(st.sampled_from(PASSAGE_PIECES), max_size=40).map("".join)


@settings(max_examples=1000, deadline=None)
@given(text=PASSAGE_TEXT, quote=st.sampled_from(["ab cd", "cd ab", "abcd ab", "ab", "cd cd x"]))
def test_one_scan_around_the_anchor_answers_as_find_fragment(text: str, quote: str) -> None:
    words = quote.split()
    anchor = max(words, key=len)
    expected = find_fragment(text, quote, anchor, words) >= 0
    assert _held_around_anchor(text, quote, anchor, words) == expected
