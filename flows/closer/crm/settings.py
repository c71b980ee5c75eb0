"""Which CRM CLOSER works on, from the environment; the HubSpot token also from a Prefect `Secret` block.

    REVIEW_GATE_CRM                  sqlite (default) or hubspot
    REVIEW_GATE_CRM_PATH             the SQLite file (default $PREFECT_HOME/review-gate/closer-crm.sqlite)
    HUBSPOT_ACCESS_TOKEN             a HubSpot private app's access token; when unset, the Secret block
    REVIEW_GATE_HUBSPOT_SECRET       named here is read (default `hubspot-access-token`)
    REVIEW_GATE_HUBSPOT_URL          the API's base URL (default https://api.hubapi.com; tests use a fake)
    REVIEW_GATE_HUBSPOT_PIPELINE     the deal pipeline whose stages deals move through (default `default`)
    REVIEW_GATE_HUBSPOT_RETRIES      tries after a 429 or 5xx (default 4)
    REVIEW_GATE_HUBSPOT_MAX_WAIT     longest wait honoured from a Retry-After, in seconds (default 30)

The token is a `SecretStr` from the moment it is read: it never reaches logs, artifacts or errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prefect_review_gate.flows.closer.crm.model import Crm, CrmError
from prefect_review_gate.flows.common.secrets import secret_or_block
from prefect_review_gate.validators.errors import InputError

__all__ = ["CrmSettings", "open_crm"]

DEFAULT_SECRET_BLOCK = "hubspot-access-token"


def _default_path(env: Mapping[str, str]) -> Path:
    home = Path(env.get("PREFECT_HOME", "").strip() or "~/.prefect").expanduser()
    return home / "review-gate" / "closer-crm.sqlite"


class CrmSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    backend: Literal["sqlite", "hubspot"] = Field(default="sqlite", description="Which CRM.")
    sqlite_path: Path = Field(description="The SQLite CRM's file.")
    hubspot_url: str = Field(default="https://api.hubapi.com", description="HubSpot's API base URL.")
    hubspot_token: SecretStr | None = Field(default=None, description="Private app access token.")
    hubspot_secret_block: str = Field(
        default=DEFAULT_SECRET_BLOCK, description="Prefect Secret block read when no token is set."
    )
    hubspot_pipeline: str = Field(default="default", min_length=1, description="The deal pipeline's id.")
    retries: int = Field(default=4, ge=0, le=20, description="Tries after a 429 or a 5xx.")
    max_wait: float = Field(default=30.0, gt=0, description="Longest Retry-After honoured, in seconds.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CrmSettings:
        env = os.environ if environ is None else environ
        token = env.get("HUBSPOT_ACCESS_TOKEN", "").strip()
        try:
            return cls(
                backend=env.get("REVIEW_GATE_CRM", "").strip().lower() or "sqlite",  # type: ignore[arg-type]
                sqlite_path=Path(env.get("REVIEW_GATE_CRM_PATH", "").strip() or _default_path(env)),
                hubspot_url=env.get("REVIEW_GATE_HUBSPOT_URL", "").strip() or "https://api.hubapi.com",
                hubspot_token=SecretStr(token) if token else None,
                hubspot_secret_block=env.get("REVIEW_GATE_HUBSPOT_SECRET", "").strip()
                or DEFAULT_SECRET_BLOCK,
                hubspot_pipeline=env.get("REVIEW_GATE_HUBSPOT_PIPELINE", "").strip() or "default",
                retries=env.get("REVIEW_GATE_HUBSPOT_RETRIES", "").strip() or 4,  # type: ignore[arg-type]
                max_wait=env.get("REVIEW_GATE_HUBSPOT_MAX_WAIT", "").strip() or 30.0,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(f"CRM settings: {where}: {first['msg']}") from None


async def _hubspot_token(settings: CrmSettings) -> SecretStr:
    return await secret_or_block(
        settings.hubspot_token,
        settings.hubspot_secret_block,
        what="HubSpot access token",
        env="HUBSPOT_ACCESS_TOKEN",
        saved="a private app's token",
        error=CrmError,
    )


async def open_crm(settings: CrmSettings | None = None) -> Crm:
    """The CRM the settings name (from the environment when not given).

    Raises:
        CrmError: the SQLite file does not exist, or HubSpot has no token.
        InputError: a setting is malformed.
    """
    settings = settings or CrmSettings.from_env()
    if settings.backend == "hubspot":
        from prefect_review_gate.flows.closer.crm.hubspot import HubSpotCrm

        return HubSpotCrm(
            settings.hubspot_url,
            await _hubspot_token(settings),
            pipeline=settings.hubspot_pipeline,
            retries=settings.retries,
            max_wait=settings.max_wait,
        )
    from prefect_review_gate.flows.closer.crm.sqlite import SqliteCrm

    return SqliteCrm.open(settings.sqlite_path)
