"""The grounding validator, one test per tolerance and per markdown trap (docs/architecture.md contract)."""

from __future__ import annotations

import pytest

from prefect_review_gate.validators import Finding, Severity, SourceLibrary, validate_draft

FASTAPI = """\
# FastAPI

FastAPI is a modern, fast (high-performance), web framework for building APIs with Python
    based on standard Python type hints.

* **Fast to code**: Increase the speed to develop features by about 200% to 300%.
* **Fewer bugs**: Reduce about 40% of human (developer) induced errors.
* **Robust**: Get production-ready code. With automatic interactive documentation.

It serves 12,000 requests per second on one core and needs Python 3.10+.
Release v2.14.4 landed in #14247. The citm_catalog fixture takes 24.42 ms.
Documentation: [docs](https://fastapi.tiangolo.com/tutorial/). See also https://fastapi.tiangolo.com/fastapi-cli/.
We’re “designed for efficient and high-performing database access” here.
"""

STARLETTE = """\
Starlette is a lightweight ASGI framework/toolkit, which is ideal for building async web services.
It has 100% test coverage and a 100% type annotated codebase. It ships 7 middleware classes.
"""

SOURCES = {"fastapi": FASTAPI, "starlette": STARLETTE}


def check(draft: str, sources: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(code, flagged text) of every blocking finding."""
    findings = validate_draft(draft, sources or SOURCES)
    for f in findings:
        assert f.start is not None and f.end is not None and 0 <= f.start <= f.end <= len(draft)
    return [(f.code, draft[f.start : f.end]) for f in findings if f.severity is Severity.BLOCK]  # type: ignore[misc]


# --- citations ------------------------------------------------------------------------------------


def test_known_citation_passes() -> None:
    assert check("FastAPI is a web framework [fastapi].") == []


def test_unknown_source_flags_the_id_alone() -> None:
    draft = "Auth is handled by dependencies [fastapi, fastapi-docs]."
    findings = validate_draft(draft, SOURCES)
    assert [(f.code, draft[f.start : f.end]) for f in findings] == [("unknown_source", "fastapi-docs")]  # type: ignore[misc]
    assert "closest source is [fastapi]" in findings[0].message


def test_adjacent_markers_are_two_citations_unless_a_reference_is_defined() -> None:
    assert check("It takes 24.4 ms [fastapi][starlette].") == [("unsupported_number", "24.4")]
    assert check("See [fastapi][nosuch].") == [("unknown_source", "nosuch")]


def test_markdown_link_is_not_a_citation() -> None:
    assert check("Read [fastapi-docs](https://fastapi.tiangolo.com/tutorial/) first.") == []


@pytest.mark.parametrize(
    "draft",
    [
        "- [x] done with the migration",
        "- [ ] open item",
        "See [the guide][guide-ref] and [docs][1].\n\n[guide-ref]: https://fastapi.tiangolo.com/tutorial/\n"
        "[1]: https://fastapi.tiangolo.com/fastapi-cli/",
        "Footnote here[^note-1].",
        "Code `[not-a-source]` is not prose.",
    ],
)
def test_bracket_syntax_that_is_not_a_citation(draft: str) -> None:
    assert check(draft) == []


# --- quotes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quote",
    [
        "a modern, fast (high-performance), web framework for building APIs with Python based on",  # wrapped
        "A MODERN, fast (High-Performance), web framework",  # case
        "Get production-ready code",  # emphasis markup in the source
        "web framework ... standard Python type hints",  # ellipsis
        "web framework … standard Python type hints",  # unicode ellipsis
        "designed for efficient and high-performing database access",  # curly in the source
        "Get production-ready code.",  # a closing period the source continues past
    ],
)
def test_quote_tolerances(quote: str) -> None:
    assert check(f'FastAPI is "{quote}" [fastapi].') == []


def test_quote_re_wrapped_across_lines_in_the_draft() -> None:
    assert check('FastAPI is "a modern, fast\n(high-performance), web framework" [fastapi].') == []


def test_curly_quotes_and_apostrophes_in_the_draft() -> None:
    assert check("The README says \u201cWe\u2019re designed for efficient\u201d [fastapi].") == []


@pytest.mark.parametrize(
    "quote",
    [
        "Get enterprise-ready code",  # one word swapped
        "Increase the speed to develop features by 200% to 300%",  # a word dropped
        "standard Python type hints ... web framework",  # ellipsis fragments out of order
        "ast",  # a fragment of a word is not the word
    ],
)
def test_altered_quote_is_flagged(quote: str) -> None:
    assert check(f'FastAPI promises "{quote}" [fastapi].') == [("unsupported_quote", quote)]


def test_quote_from_an_uncited_source_is_flagged() -> None:
    draft = 'FastAPI is "ideal for building async web services" [fastapi].'
    assert check(draft) == [("unsupported_quote", "ideal for building async web services")]


def test_uncited_quote_checked_against_every_source() -> None:
    assert check('As one README puts it, "ideal for building async web services".') == []
    invented = "a CLI should feel like a conversation"
    assert check(f'As one maintainer put it, "{invented}".') == [("unsupported_quote", invented)]


def test_quote_evidence_shows_the_closest_passage() -> None:
    [finding] = validate_draft('It promises "Get enterprise-ready code" [fastapi].', SOURCES)
    assert finding.evidence is not None and "Get production-ready code" in finding.evidence
    assert finding.evidence_source == "fastapi"


# --- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "It serves 12000 requests per second [fastapi].",  # thousands separator dropped
        "It serves 12,000 requests per second [fastapi].",
        "Bugs drop by 40 % [fastapi].",  # space before %
        "It needs Python 3.10 or later [fastapi].",
        "Upgraded to v2.14.4 in #14247 [fastapi].",  # versions and PR numbers
        "Coverage is 100% [starlette].",
        "Two sources say 40% and 100% [fastapi, starlette].",
        "The fixture takes 24.42 ms [fastapi].",
    ],
)
def test_supported_numbers(sentence: str) -> None:
    assert check(sentence) == []


@pytest.mark.parametrize(
    ("sentence", "flagged"),
    [
        ("The fixture takes 24.4 ms [fastapi].", "24.4"),  # rounding is not tolerated
        ("Features ship 200% to 400% faster [fastapi].", "400%"),
        ("It has 100% test coverage [fastapi].", "100%"),  # only the uncited source says it
        ("It serves 12,500 requests per second [fastapi].", "12,500"),
        ("It is 3x faster [fastapi].", "3x"),
        ("It ships 7% fewer bugs [starlette].", "7%"),  # the source says 7, not 7%
    ],
)
def test_unsupported_numbers(sentence: str, flagged: str) -> None:
    assert check(sentence) == [("unsupported_number", flagged)]


def test_numbers_in_uncited_sentences_are_not_checked() -> None:
    assert check("Delivery takes 6 weeks and costs $48,000.") == []


def test_marker_after_the_period_still_cites_its_sentence() -> None:
    assert check("It serves 99 requests. [fastapi] Then it rests.") == [("unsupported_number", "99")]


def test_multiplier_and_plain_number_matching() -> None:
    assert check("About 40 developers agree [fastapi].") == []  # a bare number matches 40%
    assert check("Reduce about 40% of human (developer) induced errors [fastapi].") == []


def test_number_evidence_names_the_closest_figure() -> None:
    [finding] = validate_draft("The fixture takes 24.4 ms [fastapi].", SOURCES)
    assert "24.42" in finding.message and finding.evidence is not None and "24.42" in finding.evidence


# --- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draft",
    [
        "Docs: https://fastapi.tiangolo.com/tutorial.",  # trailing slash dropped, period after
        "Docs (https://fastapi.tiangolo.com/tutorial/).",
        "Docs: [tutorial](https://fastapi.tiangolo.com/tutorial/).",
        # a site root, and a host in capitals
        "Docs: https://fastapi.tiangolo.com and https://FASTAPI.tiangolo.com/fastapi-cli",
        "Run it at http://localhost:8000/docs or http://127.0.0.1:8000.",  # loopback is no reference
    ],
)
def test_known_urls(draft: str) -> None:
    assert check(draft) == []


def test_invented_url_is_flagged_without_trailing_punctuation() -> None:
    draft = "Deploy with https://fastapi.tiangolo.com/deployment/kubernetes/."
    assert check(draft) == [("unknown_url", "https://fastapi.tiangolo.com/deployment/kubernetes/")]


def test_prefix_of_a_longer_path_segment_is_not_known() -> None:
    assert check("See https://fastapi.tiangolo.com/tut") == [
        ("unknown_url", "https://fastapi.tiangolo.com/tut")
    ]


def test_invented_url_inside_a_code_block_is_still_flagged() -> None:
    draft = "```bash\ncurl https://fastapi.tiangolo.com/secret-api\n```\n"
    assert check(draft) == [("unknown_url", "https://fastapi.tiangolo.com/secret-api")]


# --- markdown traps -------------------------------------------------------------------------------


def test_code_spans_and_fences_are_not_prose() -> None:
    draft = (
        'Run `uvicorn main:app --port 8123 "quoted"` as shown [fastapi].\n\n'
        '```python\nx = 99  # "not a quote" [nosuch]\n```\n'
    )
    assert check(draft) == []


def test_table_row_is_one_sentence_cited_by_its_last_cell() -> None:
    draft = (
        "| Fixture | ms | Source |\n|---|---:|---|\n"
        "| citm_catalog | 24.42 | [fastapi] |\n| github | 24.4 | [fastapi] |\n"
    )
    assert check(draft) == [("unsupported_number", "24.4")]


def test_list_numbering_headings_and_dates_are_not_figures() -> None:
    draft = (
        "## 3. Plan for May 2026\n\n"
        "1. Adopt the framework on 2026-05-04, as agreed on June 3, 2026 [fastapi].\n"
        "2. Ship in Q3 2026 [starlette].\n"
    )
    assert check(draft) == []


def test_bare_year_in_a_cited_sentence_is_a_figure() -> None:
    assert check("FastAPI was first released in 2009 [fastapi].") == [("unsupported_number", "2009")]


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert check("Some tools, e.g. FastAPI, cut 41% of bugs [fastapi].") == [("unsupported_number", "41%")]


def test_sentence_starting_lowercase_after_a_marker_is_its_own_sentence() -> None:
    draft = "FastAPI is fast [fastapi]. orjson claims 55% less memory."
    assert check(draft) == []


def test_findings_are_ordered_and_carry_contract_fields() -> None:
    draft = "It has 12,500 users [fastapi, nosuch] and lives at https://nowhere.invalid.org/x."
    findings = validate_draft(draft, SourceLibrary.from_texts(SOURCES))
    assert [f.code for f in findings] == ["unsupported_number", "unknown_source", "unknown_url"]
    contract = findings[0].to_contract()
    assert set(contract) == {"code", "severity", "message", "start", "end", "source_ids", "evidence"}
    assert contract["source_ids"] == ["fastapi"]


def test_finding_span_must_be_whole() -> None:
    with pytest.raises(ValueError):
        Finding(code="x", severity=Severity.BLOCK, message="m", start=3)
    with pytest.raises(ValueError):
        Finding(code="x", severity=Severity.BLOCK, message="m", start=3, end=1)
