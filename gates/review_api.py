"""The Prefect API without importing Prefect: where it is, runs' states, resumes, and its errors.

Importing Prefect takes one to two seconds of CPU; `review-gate pending`, `approve` and `reject` are
asked for in well under that, so they read the review store (`store.PrefectReviewStore`) over plain
httpx from here (`open_review_api`). Resumes go out the same way, retried at once while a
SQLite-backed server is busy. httpx's errors are mapped to the package's own tree at this boundary
(`run_against`).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

import httpx

from prefect_review_gate.gates.api_csrf import CsrfAuth
from prefect_review_gate.gates.errors import ApiBusy
from prefect_review_gate.gates.store import PrefectReviewStore
from prefect_review_gate.validators.errors import InputError, ReviewGateError

if TYPE_CHECKING:
    from prefect_review_gate.gates.request import ReviewRecord

__all__ = [
    "FINAL_STATE_TYPES",
    "ApiTarget",
    "PendingReview",
    "ReviewApi",
    "ReviewReader",
    "RunState",
    "list_pending",
    "open_review_api",
    "read_run_states",
    "resume_answer",
    "resume_run",
    "run_against",
]

_PAGE = 200  # the API's largest page of flow runs
_TIMEOUT_SECONDS = 30.0
# A SQLite-backed server answers 503 while another writer holds the database ("database is
# locked"); the write was rolled back, so sending it again is safe. Tried again at once, then less
# and less often: about 6 s in all, as Prefect's own client waits before its second retry.
_BUSY_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
_BUSY_STATUS = frozenset({429, 502, 503})
FINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
_WAIT_KEY = re.compile(r"([0-9a-f]{12})-[0-9]+")

T = TypeVar("T")


@dataclass(frozen=True)
class ApiTarget:
    """Where the Prefect API is and how to authenticate, as Prefect's own client would."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    auth_string: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ApiTarget | None:
        """The API named by PREFECT_API_URL in the environment, or None when it is not there.

        Prefect also reads profiles and settings files; a caller that gets None asks Prefect.
        """
        url = environ.get("PREFECT_API_URL", "").strip()
        if not url:
            return None
        key, auth = environ.get("PREFECT_API_KEY"), environ.get("PREFECT_API_AUTH_STRING")
        return cls(url, key or None, auth or None)

    def client(self) -> httpx.AsyncClient:
        headers = {}
        if self.auth_string:
            # Prefect's own precedence: an auth string wins over an API key.
            headers["Authorization"] = "Basic " + base64.b64encode(self.auth_string.encode()).decode()
        elif self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        base_url = self.url.rstrip("/") + "/"
        return httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            auth=CsrfAuth(base_url, headers),  # a server with CSRF protection on asks for a token
            timeout=_TIMEOUT_SECONDS,
            # Loading the CA bundle costs `pending` a third of a second. A plain-http API never
            # negotiates TLS on this client (relative paths only, no redirects followed), so it
            # needs none; an https API is verified as always.
            verify=not base_url.startswith("http://"),
        )


@dataclass(frozen=True)
class RunState:
    type: str  # "PAUSED", "RUNNING", ... as the API spells it
    name: str
    waiting_on: str = ""  # the review id whose decision a paused run waits for, from its input key

    def waits_for(self, review_id: str) -> bool:
        """Paused, and not for another review (its content changed on a re-run); "" = not known."""
        return self.type == "PAUSED" and self.waiting_on in ("", review_id)


@dataclass(frozen=True)
class PendingReview:
    record: ReviewRecord
    waiting: bool  # the run is paused and can take a decision now
    run_state: str = ""  # the run's state name ("Paused", "Suspended", "Running"...); "" if it is gone
    waiting_on: str = ""  # the review id the paused run waits for now ("" when unknown or not paused)
    run_type: str = ""  # the run's state type ("PAUSED", "CRASHED"...); "" if the run is gone

    @property
    def run_ended(self) -> bool:
        """True when the run is gone or in a final state: nothing will ever decide this review."""
        return self.run_type in FINAL_STATE_TYPES or not self.run_type


async def read_run_states(client: httpx.AsyncClient, run_ids: list[UUID]) -> dict[UUID, RunState]:
    """The current state of each run that still exists.

    Pages are read concurrently: with hundreds of open reviews, this is most of the wait.
    """

    async def read(page: list[UUID]) -> list[dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": [str(i) for i in page]}}, "limit": _PAGE}
        response = await client.post("flow_runs/filter", json=body)
        response.raise_for_status()
        runs: list[dict[str, Any]] = response.json()
        return runs

    pages = [run_ids[start : start + _PAGE] for start in range(0, len(run_ids), _PAGE)]
    batches = await asyncio.gather(*(read(page) for page in pages))
    states = {}
    for runs in batches:
        for run in runs:
            state = run.get("state") or {}
            if state.get("type"):
                keyset = (state.get("state_details") or {}).get("run_input_keyset") or {}
                states[UUID(run["id"])] = RunState(
                    state["type"],
                    state.get("name") or "",
                    _review_waited_on(str(keyset.get("response") or "")),
                )
    return states


async def resume_run(target: ApiTarget, flow_run_id: UUID, run_input: dict[str, Any]) -> dict[str, Any]:
    """Resume a paused run with `run_input`; the server's orchestration result as JSON.

    Raises `httpx.HTTPStatusError` for an error answer, after the busy retries.
    """
    async with target.client() as client:
        return await _resume(BusyRetrying(client), flow_run_id, run_input)


async def _resume(api: BusyRetrying, flow_run_id: UUID, run_input: dict[str, Any]) -> dict[str, Any]:
    response = await api.request("POST", f"flow_runs/{flow_run_id}/resume", json={"run_input": run_input})
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def resume_answer(answer: Mapping[str, Any]) -> tuple[bool, str]:
    """(accepted, the reason the server gave if not) from a resume's orchestration result."""
    details = answer.get("details") or {}
    return answer.get("status") == "ACCEPT", str(details.get("reason") or "")


class BusyRetrying:
    """An `ApiRequester` over httpx that sends a request again while a SQLite-backed server is busy.

    Prefect's own client does the same (after longer sleeps); reads and resumes are both safe to send
    again, since a busy answer means the server rolled the request back.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def request(self, method: str, path: str, /, *, json: Any = None) -> httpx.Response:
        for delay in _BUSY_RETRY_DELAYS:
            response = await self._client.request(method, path, json=json)
            if response.status_code not in _BUSY_STATUS:
                return response
            await asyncio.sleep(delay)
        return await self._client.request(method, path, json=json)


class ReviewReader(Protocol):
    """Reads a review's latest record (`store.ReviewStore.load`): None when there is none."""

    async def load(self, review_id: str) -> ReviewRecord | None: ...


@dataclass(frozen=True)
class ReviewApi:
    """What deciding a review from outside its run needs from the API (`deciding`).

    `reviews` builds one on Prefect's client and settings; `open_review_api` on plain httpx.
    """

    store: ReviewReader
    run_states: Callable[[list[UUID]], Awaitable[Mapping[UUID, RunState]]]
    # Resume a paused run with a decision's JSON: (accepted, the server's reason if not).
    resume: Callable[[UUID, dict[str, Any]], Awaitable[tuple[bool, str]]]


@asynccontextmanager
async def open_review_api(target: ApiTarget) -> AsyncIterator[ReviewApi]:
    """A `ReviewApi` on one keep-alive httpx connection to `target`, without importing Prefect.

    The review store is the gate's own (`PrefectReviewStore`), so records are read exactly as the
    Prefect path reads them; only the transport differs.
    """
    async with target.client() as client:
        api = BusyRetrying(client)

        async def resume(flow_run_id: UUID, run_input: dict[str, Any]) -> tuple[bool, str]:
            return resume_answer(await _resume(api, flow_run_id, run_input))

        yield ReviewApi(PrefectReviewStore(api), partial(read_run_states, client), resume)


def _review_waited_on(pause_key: str) -> str:
    """`<review id>-<n>` (the gate's wait keys, waiting.py) -> the review id."""
    match = _WAIT_KEY.fullmatch(pause_key)
    return match.group(1) if match else ""


def with_state(record: ReviewRecord, states: Mapping[UUID, RunState]) -> PendingReview:
    state = states.get(record.request.flow_run_id)
    if state is None:
        return PendingReview(record, waiting=False)
    waiting_on = state.waiting_on if state.type == "PAUSED" else ""
    waiting = record.is_open and state.waits_for(record.request.id)
    return PendingReview(
        record,
        waiting=waiting,
        run_state=state.name or state.type.title(),
        waiting_on=waiting_on,
        run_type=state.type,
    )


async def list_pending(target: ApiTarget) -> list[PendingReview]:
    """Open reviews, oldest first, with whether their run is waiting for a decision right now.

    Each page of records has its runs' states asked for as soon as it arrives, while the next pages
    are still being read: the server answers one request at a time, and is never left idle.
    """
    async with target.client() as client:
        if _on_this_machine(target.url):
            # Uncompressed: the server gzips at level 9, which costs it more CPU than the copy saves
            # over loopback (about a tenth of a 1,000-review listing's server time, measured).
            client.headers["Accept-Encoding"] = "identity"
        open_records: list[ReviewRecord] = []
        asked: set[UUID] = set()
        reads: list[asyncio.Future[dict[UUID, RunState]]] = []
        try:
            async for page in PrefectReviewStore(client).open_pages():
                open_records += page
                runs = list(
                    dict.fromkeys(r.request.flow_run_id for r in page if r.request.flow_run_id not in asked)
                )
                asked.update(runs)
                if runs:
                    reads.append(asyncio.ensure_future(read_run_states(client, runs)))
            states = {run: state for part in await asyncio.gather(*reads) for run, state in part.items()}
        finally:
            for read in reads:
                read.cancel()
    open_records.sort(key=lambda r: r.request.created_at)
    return [with_state(r, states) for r in open_records]


def _on_this_machine(url: str) -> bool:
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_against(url: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work()` against the API at `url`, mapping httpx's errors to one readable line."""

    async def main() -> T:
        return await work()

    try:
        return asyncio.run(main())
    except ReviewGateError:
        raise
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(
            f"cannot reach the Prefect API at {url} (PREFECT_API_URL): {reason}. "
            "Start the server (`prefect server start`) or fix PREFECT_API_URL"
        ) from None
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in _BUSY_STATUS:
            raise ApiBusy(
                f"{_status_message(url, exc)}: the server stayed busy through the retries and nothing "
                "was decided; try again in a moment"
            ) from None
        raise InputError(_status_message(url, exc)) from None
    except Exception as exc:
        # Anything else is a bug or an API this version does not know: still one line for a person.
        raise ReviewGateError(
            f"unexpected error talking to the Prefect API at {url}: {type(exc).__name__}: {exc}"
        ) from exc


def _status_message(url: str, exc: httpx.HTTPStatusError) -> str:
    response = exc.response
    text = (
        f"the Prefect API at {url} (PREFECT_API_URL) answered {response.status_code} "
        f"{response.reason_phrase} to {exc.request.method} {exc.request.url.path}"
    )
    if response.status_code == 404:
        text += "; is PREFECT_API_URL a Prefect 3 server's API URL, ending in /api?"
    return text
