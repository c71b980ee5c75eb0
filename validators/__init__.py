"""Fabrication detectors: pure, offline and deterministic. No network, no model call, no Prefect.

Names are imported on first use (PEP 562): `review-gate pending` needs only the errors and the
findings' model, and importing every validator cost it a quarter of a second. (`gates.lazy` does the
same for the gates; the validators may not import the gates, hence these few lines of their own.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_review_gate.validators.claude_citations import (
        response_text as response_text,
        validate_claude_citations as validate_claude_citations,
    )
    from prefect_review_gate.validators.errors import (
        InputError as InputError,
        ReviewGateError as ReviewGateError,
        SourceError as SourceError,
    )
    from prefect_review_gate.validators.findings import (
        Code as Code,
        Finding as Finding,
        Severity as Severity,
        has_blocking as has_blocking,
    )
    from prefect_review_gate.validators.grounding import validate_draft as validate_draft
    from prefect_review_gate.validators.proposals import validate_proposal as validate_proposal
    from prefect_review_gate.validators.sources import (
        SourceDocument as SourceDocument,
        SourceLibrary as SourceLibrary,
    )
    from prefect_review_gate.validators.world import World as World

_HOMES = {
    "claude_citations": ("response_text", "validate_claude_citations"),
    "errors": ("InputError", "ReviewGateError", "SourceError"),
    "findings": ("Code", "Finding", "Severity", "has_blocking"),
    "grounding": ("validate_draft",),
    "proposals": ("validate_proposal",),
    "sources": ("SourceDocument", "SourceLibrary"),
    "world": ("World",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_HOME_OF)


def __getattr__(name: str) -> Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME_OF[name]}"), name)
    globals()[name] = value
    return value
