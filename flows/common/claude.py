"""A small Claude client on the official `anthropic` SDK: settings, retries, errors and usage.

Settings come from the environment, the key also from a Prefect `Secret` block:

    ANTHROPIC_API_KEY                 the API key (or a Secret block, below)
    ANTHROPIC_BASE_URL                the Messages API's base URL (default Anthropic's); the offline
                                      demo and the tests point it at a local fake
    REVIEW_GATE_ANTHROPIC_SECRET      name of a Prefect Secret block holding the key, read when
                                      ANTHROPIC_API_KEY is unset (default `anthropic-api-key`)
    REVIEW_GATE_ANTHROPIC_MODEL       model id (default `claude-sonnet-4-6`)
    REVIEW_GATE_ANTHROPIC_MAX_TOKENS  output token limit per reply (default 8192)
    REVIEW_GATE_ANTHROPIC_MAX_RETRIES retries on 408/409/429/5xx/529 (overloaded), with the SDK's
                                      exponential backoff and the server's retry-after (default 4)
    REVIEW_GATE_ANTHROPIC_TIMEOUT     seconds per request (default 120)

The key is a `SecretStr` from the moment it is read: it never reaches logs, artifacts or errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import anthropic
from anthropic.types import Message
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.common.secrets import secret_or_block
from prefect_review_gate.validators.errors import InputError

__all__ = [
    "DEFAULT_MODEL",
    "ClaudeClient",
    "ClaudeSettings",
    "Usage",
    "load_api_key",
    "price_per_mtok",
]

DEFAULT_MODEL = "claude-sonnet-4-6"
DEFAULT_SECRET_BLOCK = "anthropic-api-key"
KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
SECRET_ENV = "REVIEW_GATE_ANTHROPIC_SECRET"
MODEL_ENV = "REVIEW_GATE_ANTHROPIC_MODEL"
MAX_TOKENS_ENV = "REVIEW_GATE_ANTHROPIC_MAX_TOKENS"
MAX_RETRIES_ENV = "REVIEW_GATE_ANTHROPIC_MAX_RETRIES"
TIMEOUT_ENV = "REVIEW_GATE_ANTHROPIC_TIMEOUT"

# US dollars per million tokens (input, output), by model id prefix; longest prefix wins. Cache
# writes cost 1.25x input and cache reads 0.1x input. A model not listed gets no cost, not a guess.
_PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
}


def price_per_mtok(model: str) -> tuple[float, float] | None:
    """(input, output) dollars per million tokens for `model`, or None when its price is not known."""
    matches = [prefix for prefix in _PRICES if model.startswith(prefix)]
    return _PRICES[max(matches, key=len)] if matches else None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InputError(f"{name} must be a number, not {raw!r}") from None


class ClaudeSettings(BaseModel):
    """How to reach Claude. Build it with `from_env()`; the key may come from a Secret block."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = Field(default=None, description="Anthropic API key.")
    base_url: str | None = Field(default=None, description="Messages API base URL; None for Anthropic's.")
    model: str = Field(default=DEFAULT_MODEL, min_length=1, description="Model id.")
    max_tokens: int = Field(default=8192, ge=1, description="Output token limit per reply.")
    max_retries: int = Field(default=4, ge=0, description="Retries on 429, 529 and other transient errors.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds per request.")
    secret_block: str = Field(
        default=DEFAULT_SECRET_BLOCK, description="Prefect Secret block read when no key is set."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClaudeSettings:
        env = os.environ if environ is None else environ
        key = env.get(KEY_ENV, "").strip()
        try:
            return cls(
                api_key=SecretStr(key) if key else None,
                base_url=env.get(BASE_URL_ENV, "").strip() or None,
                model=env.get(MODEL_ENV, "").strip() or DEFAULT_MODEL,
                max_tokens=int(_number(env, MAX_TOKENS_ENV, 8192)),
                max_retries=int(_number(env, MAX_RETRIES_ENV, 4)),
                timeout=_number(env, TIMEOUT_ENV, 120.0),
                secret_block=env.get(SECRET_ENV, "").strip() or DEFAULT_SECRET_BLOCK,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(f"Claude settings: {where}: {first['msg']}") from None


async def load_api_key(settings: ClaudeSettings) -> SecretStr:
    """The key from the settings, else from the Prefect Secret block they name.

    Raises:
        InputError: no key anywhere; says where to put one.
    """
    return await secret_or_block(
        settings.api_key,
        settings.secret_block,
        what="Anthropic API key",
        env=KEY_ENV,
        saved="one",
        error=InputError,
    )


class Usage(BaseModel):
    """Tokens one reply used, and what they cost when the model's price is known."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float | None = None

    @classmethod
    def of(cls, message: Message) -> Usage:
        usage = message.usage
        written = usage.cache_creation_input_tokens or 0
        read = usage.cache_read_input_tokens or 0
        price = price_per_mtok(message.model)
        cost = None
        if price is not None:
            per_in, per_out = price
            cost = (
                usage.input_tokens * per_in
                + usage.output_tokens * per_out
                + written * per_in * 1.25
                + read * per_in * 0.1
            ) / 1_000_000
        return cls(
            model=message.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=written,
            cache_read_input_tokens=read,
            cost_usd=cost,
        )

    def markdown(self) -> str:
        cost = f"${self.cost_usd:.4f}" if self.cost_usd is not None else "unknown (no price for this model)"
        return (
            "| model | input tokens | output tokens | cache writes | cache reads | cost (USD) |\n"
            "|---|---|---|---|---|---|\n"
            f"| `{self.model}` | {self.input_tokens} | {self.output_tokens} | "
            f"{self.cache_creation_input_tokens} | {self.cache_read_input_tokens} | {cost} |\n"
        )


class ClaudeClient:
    """One Messages API call at a time, through `anthropic.AsyncAnthropic`, with errors mapped."""

    def __init__(self, settings: ClaudeSettings, api_key: SecretStr) -> None:
        self.settings = settings
        self._api_key = api_key

    @classmethod
    async def from_settings(cls, settings: ClaudeSettings | None = None) -> ClaudeClient:
        settings = settings or ClaudeSettings.from_env()
        return cls(settings, await load_api_key(settings))

    async def create(self, **request: Any) -> Message:
        """`messages.create` with the settings' model and max_tokens unless the request sets them.

        Raises:
            ModelError: the API refused the request or stayed unavailable after the retries.
        """
        request.setdefault("model", self.settings.model)
        request.setdefault("max_tokens", self.settings.max_tokens)
        # An explicit key keeps the SDK from auto-discovering profiles or federation on this machine.
        client = anthropic.AsyncAnthropic(
            api_key=self._api_key.get_secret_value(),
            base_url=self.settings.base_url,
            max_retries=self.settings.max_retries,
            timeout=self.settings.timeout,
        )
        try:
            message: Message = await client.messages.create(**request)
        except anthropic.AuthenticationError:
            raise ModelError("the Messages API refused the API key (401): check ANTHROPIC_API_KEY") from None
        except anthropic.APIStatusError as exc:
            kind = _error_type(exc.body)
            raise ModelError(
                f"the Messages API answered {exc.status_code} ({kind}) after "
                f"{self.settings.max_retries} retries; nothing was sent for review"
            ) from None
        except anthropic.APIConnectionError as exc:
            raise ModelError(
                f"the Messages API could not be reached ({type(exc).__name__}); nothing was sent for review"
            ) from None
        except (anthropic.APIResponseValidationError, ValueError):
            # The SDK lets a body that is not JSON (a proxy's error page) escape as a JSONDecodeError.
            raise ModelError(
                "the Messages API's reply is not a valid message; nothing was sent for review"
            ) from None
        finally:
            await client.close()
        return message


def _error_type(body: object) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("type"), str):
            return str(error["type"])
    return "error"
