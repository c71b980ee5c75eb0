"""`review-gate pending`: the open reviews, listed without importing Prefect when it can be.

With PREFECT_API_URL in the environment the listing is plain httpx against the REST API and starts
in a fraction of a second; otherwise Prefect's settings (a profile, a settings file) are asked for
the API first, which costs Prefect's import time. So they are when the API answers 401 and the
environment holds no credentials (`review_session`, as for approve, reject and show).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prefect_review_gate.gates import review_api
from prefect_review_gate.gates.review_session import run_with_api_target
from prefect_review_gate.gates.terminal import print_block

__all__ = ["pending"]


def pending(as_json: bool) -> int:
    """Print the open reviews, oldest first. Raises `InputError` when the API is unset or unreachable."""
    items = run_with_api_target(review_api.list_pending)
    # Imported once the reviews are in: the table's models load while the API is being read.
    from prefect_review_gate.gates import review_text

    now = datetime.now(UTC)
    if as_json:
        text = json.dumps(review_text.pending_document(items, now), ensure_ascii=False, indent=2)
    else:
        text = review_text.pending_table(items, now)
    print_block(text)
    return 0
