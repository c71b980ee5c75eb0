"""Fabrication detectors: pure, offline and deterministic. No network, no model call, no Prefect."""

from __future__ import annotations

from prefect_review_gate.validators.errors import (
    DeliveryFailed,
    FabricationDetected,
    InputError,
    ReviewExpired,
    ReviewGateError,
    ReviewRejected,
    SourceError,
    UnauthorizedReviewer,
)
from prefect_review_gate.validators.findings import Code, Finding, Severity, has_blocking
from prefect_review_gate.validators.grounding import validate_draft
from prefect_review_gate.validators.sources import SourceDocument, SourceLibrary

__all__ = [
    "Code",
    "DeliveryFailed",
    "FabricationDetected",
    "Finding",
    "InputError",
    "ReviewExpired",
    "ReviewGateError",
    "ReviewRejected",
    "Severity",
    "SourceDocument",
    "SourceError",
    "SourceLibrary",
    "UnauthorizedReviewer",
    "has_blocking",
    "validate_draft",
]
