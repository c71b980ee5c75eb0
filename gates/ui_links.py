"""Links into the Prefect UI for people: a review's flow run, and every review waiting.

A self-hosted Prefect 3.9 server serves two UIs: V1 at `/`, V2 under `/v2`. Only V2 shows a
paused run's review (the resume form's description) above the form's fields; V1 shows the fields
alone. So links to a self-hosted server's runs open V2. Prefect Cloud serves one UI, linked as
Prefect builds it. Prefect is imported only when a link is built: the demo's server helper uses
the paths before Prefect is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

__all__ = ["FLOW_RUN_PATH", "WAITING_REVIEWS_PATH", "flow_run_url", "waiting_reviews_url"]

FLOW_RUN_PATH = "/v2/runs/flow-run/{flow_run_id}"

# The flow runs page filtered to every run waiting for a review: paused in-process or suspended
# (from a deployment), tagged by the gate. Query syntax of Prefect's ui-v2 `routes/runs/index.tsx`.
WAITING_REVIEWS_PATH = "/v2/runs?state=Paused,Suspended&tags=review-gate"


def _ui_from(environ: Mapping[str, str]) -> str | None:
    api = environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    cloud = environ.get("PREFECT_CLOUD_API_URL", "https://api.prefect.cloud/api").rstrip("/")
    if not api or api.startswith(cloud):
        return None
    ui = environ.get("PREFECT_UI_URL", "").strip().rstrip("/")
    return ui or (api.removesuffix("/api") if api.endswith("/api") else None)


def _self_hosted_ui() -> str | None:
    from prefect.settings import PREFECT_CLOUD_UI_URL, PREFECT_UI_URL

    base = str(PREFECT_UI_URL.value() or "").rstrip("/")
    cloud = str(PREFECT_CLOUD_UI_URL.value() or "").rstrip("/")
    return base if base and not (cloud and base.startswith(cloud)) else None


def flow_run_url(flow_run_id: UUID, environ: Mapping[str, str] | None = None) -> str | None:
    """The run's page in the UI that shows its review; None when the UI's URL is unknown.

    With `environ` (a command that reads the API from the environment, without Prefect), a
    self-hosted server's UI comes from it as Prefect derives it: PREFECT_UI_URL, else the API URL
    without its `/api`. Prefect Cloud's is always Prefect's to build.
    """
    base = _ui_from(environ) if environ is not None else None
    base = base or _self_hosted_ui()
    if base is not None:
        return base + FLOW_RUN_PATH.format(flow_run_id=flow_run_id)
    from prefect.utilities.urls import url_for

    return url_for("flow-run", obj_id=flow_run_id) or None


def waiting_reviews_url() -> str | None:
    """The flow runs page listing every review waiting (self-hosted servers), or None."""
    base = _self_hosted_ui()
    return f"{base}{WAITING_REVIEWS_PATH}" if base is not None else None
