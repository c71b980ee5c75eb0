"""`review-gate show`: one review in full, without importing Prefect when it can be.

With PREFECT_API_URL in the environment the review and its run's state are read over plain httpx
(`review_session`), and the link to the run is built from the environment as Prefect would build
it for a self-hosted server; otherwise, or for Prefect Cloud, Prefect is asked.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from prefect_review_gate.gates import deciding, review_text
from prefect_review_gate.gates.review_api import PendingReview, ReviewApi
from prefect_review_gate.gates.review_session import run_with_review_api
from prefect_review_gate.gates.terminal import print_block
from prefect_review_gate.gates.ui_links import flow_run_url

__all__ = ["show"]


def show(review_id: str, as_json: bool) -> int:
    """Print one review in full (any status). Raises `InputError` for an unknown id."""

    async def read(api: ReviewApi) -> PendingReview:
        return await deciding.review_status(api, review_id)

    item = run_with_review_api(read)
    url = flow_run_url(item.record.request.flow_run_id, os.environ)
    if as_json:
        text = json.dumps(review_text.review_document(item, url), ensure_ascii=False, indent=2)
    else:
        text = review_text.review_details(item, datetime.now(UTC), url)
    print_block(text)
    return 0
