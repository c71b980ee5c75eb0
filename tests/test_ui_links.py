"""Links to a review's run, built from the environment as Prefect builds them (no Prefect import)."""

from __future__ import annotations

import uuid

from prefect_review_gate.gates.ui_links import flow_run_url

RUN = uuid.UUID("8a4f3c2e-1b0d-4e6f-9a7b-5c3d2e1f0a9b")


def test_a_self_hosted_api_gives_its_ui_without_the_api_suffix() -> None:
    environ = {"PREFECT_API_URL": "http://prefect.internal:4200/api"}
    assert flow_run_url(RUN, environ) == f"http://prefect.internal:4200/v2/runs/flow-run/{RUN}"


def test_prefect_ui_url_wins_over_the_api_url() -> None:
    environ = {
        "PREFECT_API_URL": "http://10.0.0.5:4200/api",
        "PREFECT_UI_URL": "https://prefect.example.com/",
    }
    assert flow_run_url(RUN, environ) == f"https://prefect.example.com/v2/runs/flow-run/{RUN}"


def test_prefect_cloud_is_left_to_prefect() -> None:
    cloud = "https://api.prefect.cloud/api/accounts/a/workspaces/w"
    assert flow_run_url(RUN, {"PREFECT_API_URL": cloud}) == flow_run_url(RUN)
