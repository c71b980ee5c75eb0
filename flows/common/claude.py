"""A small Claude client on the official `anthropic` SDK: settings, streaming, retries, errors and usage.

Settings come from the environment, the key also from a Prefect `Secret` block:

    ANTHROPIC_API_KEY                   the API key (or a Secret block, below)
    ANTHROPIC_BASE_URL                  the Messages API's base URL (default Anthropic's); the offline
                                        demo and the tests point it at a local fake
    REVIEW_GATE_ANTHROPIC_SECRET        name of a Prefect Secret block holding the key, read when
                                        ANTHROPIC_API_KEY is unset (default `anthropic-api-key`)
    REVIEW_GATE_ANTHROPIC_MODEL         model id (default `claude-sonnet-4-6`)
    REVIEW_GATE_ANTHROPIC_MAX_TOKENS    output token limit per reply (default 8192)
    REVIEW_GATE_ANTHROPIC_MAX_RETRIES   retries on 408/409/429/5xx/529 (overloaded) and lost connections,
                                        waiting what the API's retry-after says, else backing off (default 4)
    REVIEW_GATE_ANTHROPIC_TIMEOUT       seconds the API may stay silent (no byte of the stream) before the
                                        call fails; a timeout is never retried (default 120)
    REVIEW_GATE_ANTHROPIC_WALL_CLOCK    seconds the whole call may take, retries and their waits included
                                        (default 900)

The reply is streamed (`messages.stream()`, `get_final_message()`): the API sends events while it
writes, so a long reply never trips the timeout, and the SDK's non-streaming limit (it refuses a
request whose expected duration is over ten minutes) does not apply.

Retries are this module's, not the SDK's (the SDK runs with `max_retries=0`): SDK 2.14 obeys any
`retry-after` however long (an hour inside the task), retries a monthly spend-limit 429 that no wait
lifts, and retries timeouts, each of which may be a generation billed in full. Here a retry-after
beyond the wall-clock limit fails the call at once, the spend limit is never retried, and a timeout
is said as one.

The key is a `SecretStr` from the moment it is read: it never reaches logs, artifacts or errors.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2  # the SDK's HTTP client: a stream that breaks off after its headers raises its errors
from anthropic.types import Message
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.common.pricing import price_of
from prefect_review_gate.flows.common.secrets import secret_or_block
from prefect_review_gate.validators.errors import InputError

__all__ = [
    "DEFAULT_MODEL",
    "Answered",
    "ClaudeClient",
    "ClaudeSettings",
    "Usage",
    "load_api_key",
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
WALL_CLOCK_ENV = "REVIEW_GATE_ANTHROPIC_WALL_CLOCK"

SPEND_LIMIT_CODE = "enforced_spend_limit_reached"  # error.details.error_code of the monthly spend limit
_RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx, 529 (overloaded) included
_MID_STREAM_RETRIED = frozenset({"overloaded_error", "api_error"})  # an `error` event inside a 200
_NO_REVIEW = "nothing was sent for review"


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
    timeout: float = Field(default=120.0, gt=0, description="Seconds the API may stay silent.")
    wall_clock: float = Field(
        default=900.0, gt=0, description="Seconds for the whole call, retries included."
    )
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
                wall_clock=_number(env, WALL_CLOCK_ENV, 900.0),
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
    """Tokens one reply used, and what they cost (an estimate) when the model's price is known."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_write_1h_tokens: int = 0  # of the cache writes above, those cached for 1 hour (2x input)
    cache_read_input_tokens: int = 0
    cost_usd: float | None = None

    @classmethod
    def of(cls, message: Message) -> Usage:
        usage = message.usage
        written = usage.cache_creation_input_tokens or 0
        # `cache_creation` splits the writes by lifetime; a reply without it wrote 5-minute entries.
        split = usage.cache_creation
        hour = min(written, split.ephemeral_1h_input_tokens or 0) if split is not None else 0
        read = usage.cache_read_input_tokens or 0
        price = price_of(message.model)
        cost = None
        if price is not None:
            cost = (
                usage.input_tokens * price.input
                + usage.output_tokens * price.output
                + (written - hour) * price.cache_write_5m
                + hour * price.cache_write_1h
                + read * price.cache_read
            ) / 1_000_000
        return cls(
            model=message.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=written,
            cache_write_1h_tokens=hour,
            cache_read_input_tokens=read,
            cost_usd=cost,
        )

    @property
    def cost_text(self) -> str:
        return f"${self.cost_usd:.4f} (estimate)" if self.cost_usd is not None else "price unknown"

    def markdown(self) -> str:
        return (
            "| model | input tokens | output tokens | cache writes (1 h) | cache reads | cost (USD) |\n"
            "|---|---|---|---|---|---|\n"
            f"| `{self.model}` | {self.input_tokens} | {self.output_tokens} | "
            f"{self.cache_creation_input_tokens} ({self.cache_write_1h_tokens}) | "
            f"{self.cache_read_input_tokens} | {self.cost_text} |\n\n"
            "The cost is an estimate from the list prices per model id (flows/common/pricing.py); "
            "the invoice is the Console's."
            + ("" if self.cost_usd is not None else f" No price is listed for `{self.model}`.")
            + "\n"
        )


@dataclass(frozen=True)
class Answered:
    """A reply, the request id the API gave it, and how many retries it took."""

    message: Message
    request_id: str | None
    retries: int


class ClaudeClient:
    """One Messages API call at a time, streamed through `anthropic.AsyncAnthropic`, errors mapped."""

    def __init__(self, settings: ClaudeSettings, api_key: SecretStr) -> None:
        self.settings = settings
        self._api_key = api_key

    @property
    def api_key(self) -> SecretStr:
        """The key, still a `SecretStr`: for stripping it from what is saved, never for printing."""
        return self._api_key

    @classmethod
    async def from_settings(cls, settings: ClaudeSettings | None = None) -> ClaudeClient:
        settings = settings or ClaudeSettings.from_env()
        return cls(settings, await load_api_key(settings))

    async def create(self, **request: Any) -> Answered:
        """One streamed Messages API call; the settings give model and max_tokens unless the request does.

        Raises:
            ModelError: the API refused the request, stayed unavailable after the retries, fell
                silent past the timeout, or the call outlasted the wall-clock limit. The message
                carries the API's own message, the error type and the request id.
        """
        request.setdefault("model", self.settings.model)
        request.setdefault("max_tokens", self.settings.max_tokens)
        # An explicit key keeps the SDK from auto-discovering profiles or federation on this machine.
        client = anthropic.AsyncAnthropic(
            api_key=self._api_key.get_secret_value(),
            base_url=self.settings.base_url,
            max_retries=0,  # retries are this module's: see the module's docstring
            timeout=self.settings.timeout,
        )
        limit = self.settings.wall_clock
        deadline = time.monotonic() + limit
        retries = 0
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    async with asyncio.timeout(max(remaining, 0.0)):
                        return await self._stream(client, request, retries)
                except TimeoutError:
                    raise ModelError(
                        f"the Messages API call outlasted its wall-clock limit of {limit:g} s "
                        f"(REVIEW_GATE_ANTHROPIC_WALL_CLOCK) after {retries} retries; {_NO_REVIEW}"
                    ) from None
                except anthropic.APIStatusError as exc:
                    if not _retryable(exc) or retries >= self.settings.max_retries:
                        raise ModelError(_describe(exc, retries)) from None
                    wait = _retry_wait(exc.response.headers, retries)
                except anthropic.APITimeoutError:
                    raise ModelError(
                        f"the Messages API sent nothing for {self.settings.timeout:g} s "
                        f"(REVIEW_GATE_ANTHROPIC_TIMEOUT); not retried, since a timed-out reply may "
                        f"still be generated and billed; {_NO_REVIEW}"
                    ) from None
                except anthropic.APIConnectionError as exc:
                    if retries >= self.settings.max_retries:
                        raise ModelError(
                            f"the Messages API could not be reached ({type(exc).__name__}) after "
                            f"{retries} retries; {_NO_REVIEW}"
                        ) from None
                    wait = _retry_wait(None, retries)
                if time.monotonic() + wait > deadline:
                    raise ModelError(
                        f"the Messages API asked to wait {wait:g} s before a retry, past the call's "
                        f"wall-clock limit of {limit:g} s (REVIEW_GATE_ANTHROPIC_WALL_CLOCK); {_NO_REVIEW}"
                    )
                await asyncio.sleep(wait)
                retries += 1
        finally:
            await client.close()

    async def _stream(
        self, client: anthropic.AsyncAnthropic, request: dict[str, Any], retries: int
    ) -> Answered:
        try:
            async with client.messages.stream(**request) as stream:
                message = await stream.get_final_message()
                request_id = stream.request_id
        except httpx2.TimeoutException:
            # Silent mid-stream: the SDK wraps only errors before the headers as APITimeoutError.
            raise anthropic.APITimeoutError(request=httpx2.Request("POST", "/v1/messages")) from None
        except httpx2.TransportError as exc:
            # Broken off mid-reply: the generation may be billed, so it is not retried.
            raise ModelError(
                f"the Messages API's stream broke off mid-reply ({type(exc).__name__}); not retried, since "
                f"the reply may still be billed; {_NO_REVIEW}"
            ) from None
        except (anthropic.APIResponseValidationError, ValueError, RuntimeError, AssertionError):
            # A body that is no event stream (a proxy's error page, a cut stream): the SDK raises
            # a JSON, event-order or validation error, none of them an answer.
            raise ModelError(f"the Messages API's reply is not a valid message; {_NO_REVIEW}") from None
        return Answered(message, request_id, retries)


def _retryable(exc: anthropic.APIStatusError) -> bool:
    """Whether waiting can help: the API's `x-should-retry` first, then the status (as the SDK)."""
    if _error_code(exc) == SPEND_LIMIT_CODE:
        return False  # a monthly limit: no retry-after lifts it
    header = exc.response.headers.get("x-should-retry")
    if header in ("true", "false"):
        return header == "true"
    if exc.status_code == 200:  # an `error` event in the middle of the stream
        return _error_type(exc.body) in _MID_STREAM_RETRIED
    return exc.status_code in _RETRIED_STATUSES or exc.status_code >= 500


def _retry_wait(headers: Any, retries: int) -> float:
    """Seconds before the next try: the API's retry-after(-ms) when it sends one, else a backoff."""
    if headers is not None:
        for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
            raw = headers.get(name)
            if raw is None:
                continue
            try:
                return max(float(raw) / scale, 0.0)
            except ValueError:
                pass
            if name == "retry-after":  # also an HTTP date
                try:
                    return max(email.utils.parsedate_to_datetime(raw).timestamp() - time.time(), 0.0)
                except (TypeError, ValueError):
                    pass
    return min(0.5 * 2.0**retries, 8.0) * (1 - 0.25 * random.random())


def _describe(exc: anthropic.APIStatusError, retries: int) -> str:
    """One line: status, error type, the API's message, request id, and retries only if there were any."""
    kind = _error_type(exc.body)
    said = getattr(exc, "api_message", None) or _error_message(exc.body)
    request_id = exc.request_id or _body_request_id(exc.body)
    ident = f" (request id {request_id})" if request_id else ""
    what = f"{exc.status_code} {kind}" + (f": {said}" if said else "")
    if _error_code(exc) == SPEND_LIMIT_CODE:
        return (
            f"the Messages API refused the call: the organization's monthly spend limit is reached "
            f"({what}){ident}; not retried, since no wait lifts it: raise the limit in the Console; "
            f"{_NO_REVIEW}"
        )
    if isinstance(exc, anthropic.AuthenticationError):
        return f"the Messages API refused the API key ({what}){ident}: check ANTHROPIC_API_KEY; {_NO_REVIEW}"
    tried = f" after {retries} retries" if retries else ""
    return f"the Messages API answered {what}{ident}{tried}; {_NO_REVIEW}"


def _error_code(exc: anthropic.APIStatusError) -> str | None:
    code = getattr(exc, "error_code", None)
    if isinstance(code, str):
        return code
    error = exc.body.get("error") if isinstance(exc.body, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    value = details.get("error_code") if isinstance(details, Mapping) else None
    return value if isinstance(value, str) else None


def _error_message(body: object) -> str | None:
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return message if isinstance(message, str) else None


def _body_request_id(body: object) -> str | None:
    value = body.get("request_id") if isinstance(body, Mapping) else None
    return value if isinstance(value, str) else None


def _error_type(body: object) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("type"), str):
            return str(error["type"])
    return "error"
