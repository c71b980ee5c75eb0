"""Rewrites made for speed must read text exactly as the code they replaced did.

Each test keeps the replaced form next to the new one and compares them on text built from the
characters that matter to the rule, so a rewrite that drifts in a corner shows up here.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_review_gate.validators.text import _UNDERSCORE_EMPHASIS, split_ellipsis

UNDERSCORE_TEXT = st.text(alphabet="__a1 .\u00e9\u00b2\n-", max_size=16)


@settings(max_examples=500)
@given(text=UNDERSCORE_TEXT)
def test_underscore_emphasis_is_removed_as_the_look_behind_form_did(text: str) -> None:
    replaced = re.compile(r"(?<!\w)_+|_+(?!\w)")
    assert _UNDERSCORE_EMPHASIS.sub("", text) == replaced.sub("", text)


ELLIPSIS_TEXT = st.text(alphabet="ab .[]\u2026,", max_size=20)


@settings(max_examples=500)
@given(quote=ELLIPSIS_TEXT)
def test_split_ellipsis_matches_always_splitting(quote: str) -> None:
    ellipsis = re.compile(r"\s*(?:\[\s*(?:\.\s*){3}\]|\[\s*\u2026\s*\]|(?:\.\s*){3}|\u2026)\s*")
    parts = (p.strip(" .,;:!?\"'()[]") for p in ellipsis.split(quote))
    assert split_ellipsis(quote) == [p for p in parts if any(c.isalnum() for c in p)]
