"""`Finding`: what a validator reports. Findings are data; expected outcomes never raise."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Code", "Finding", "Severity", "has_blocking"]


class Severity(StrEnum):
    """How a finding weighs on a review: `block` stops a commit unless a reviewer overrides it."""

    BLOCK = "block"
    WARN = "warn"
    INFO = "info"


class Code(StrEnum):
    """Finding codes of the built-in validators. Custom validators may use their own strings."""

    UNKNOWN_SOURCE = "unknown_source"
    UNSUPPORTED_QUOTE = "unsupported_quote"
    UNSUPPORTED_NUMBER = "unsupported_number"
    UNKNOWN_URL = "unknown_url"
    CITATION_MISMATCH = "citation_mismatch"
    UNKNOWN_DOCUMENT = "unknown_document"
    UNCITED_NUMBER = "uncited_number"
    UNCHECKED_CITATION = "unchecked_citation"
    MISATTRIBUTED_NUMBER = "misattributed_number"
    MISATTRIBUTED_QUOTE = "misattributed_quote"
    ALTERED_QUOTE = "altered_quote"
    UNSUPPORTED_DATE = "unsupported_date"


class Finding(BaseModel):
    """One problem found in an agent's output.

    Its location is either a character span `[start, end)` in a text, or a JSON pointer (RFC 6901)
    into a structured action, or both when the span lies inside the string the pointer names.
    """

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="What kind of problem, e.g. 'unsupported_quote'.")
    severity: Severity = Field(description="block | warn | info.")
    message: str = Field(description="One sentence for a reviewer: what is wrong.")
    start: int | None = Field(default=None, ge=0, description="Start offset in the text (str index).")
    end: int | None = Field(default=None, ge=0, description="End offset in the text, exclusive.")
    pointer: str | None = Field(default=None, description="JSON pointer to the offending value.")
    source_ids: list[str] = Field(default_factory=list, description="Sources the claim was checked against.")
    evidence: str | None = Field(
        default=None, description="The closest passage found in the sources, so a reviewer sees why."
    )
    evidence_source: str | None = Field(
        default=None, exclude=True, description="Id of the source the evidence was taken from."
    )

    @model_validator(mode="after")
    def _span_is_whole(self) -> Self:
        if (self.start is None) != (self.end is None):
            raise ValueError("a finding's span needs both start and end")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("a finding's span ends before it starts")
        return self

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.BLOCK

    def to_contract(self) -> dict[str, object]:
        """The finding as `review-gate validate --json` prints it (docs/architecture.md contract)."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "start": self.start,
            "end": self.end,
            "source_ids": list(self.source_ids),
            "evidence": self.evidence,
        }


def has_blocking(findings: list[Finding]) -> bool:
    """True when any finding blocks a commit."""
    return any(f.blocking for f in findings)
