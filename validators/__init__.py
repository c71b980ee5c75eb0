"""Fabrication detectors: pure, offline and deterministic. No network, no model call, no Prefect."""

from __future__ import annotations

from prefect_review_gate.validators.claude_citations import response_text, validate_claude_citations
from prefect_review_gate.validators.errors import InputError, ReviewGateError, SourceError
from prefect_review_gate.validators.findings import Code, Finding, Severity, has_blocking
from prefect_review_gate.validators.grounding import validate_draft
from prefect_review_gate.validators.proposals import validate_proposal
from prefect_review_gate.validators.sources import SourceDocument, SourceLibrary
from prefect_review_gate.validators.world import World

__all__ = [
    "Code",
    "Finding",
    "InputError",
    "ReviewGateError",
    "Severity",
    "SourceDocument",
    "SourceError",
    "SourceLibrary",
    "World",
    "has_blocking",
    "response_text",
    "validate_claude_citations",
    "validate_draft",
    "validate_proposal",
]
