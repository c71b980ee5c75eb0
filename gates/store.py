"""`ReviewStore`: every key of a review and every read and write of it on the Prefect API.

What a review leaves on Prefect, and who may trust what:

    review-gate-<id>                   record artifact, latest version = the review as it stands; its
                                       type is the open/closed index (`review-gate`, `-closed`), so
                                       listing open reviews is one query however many were decided.
                                       A projection for people and channels: the gate never trusts it.
                                       Not linked to the flow run: one version per save would
                                       otherwise stack up as identical cards on the run's page.
    review-gate-<id>-review            the review's one markdown card on its flow run (actions,
                                       findings by line, votes, outcome), rewritten in place
    review-gate-<id>-channel-<name>    where a channel showed the review (e.g. Slack message ids)
    run input review-gate-<id>-opened  when the review opened: write-once, the deadline's anchor
    run input paused|suspended-<id>-<n>-response
                                       decision number n, stored by the server on resume: write-once,
                                       the review's log, replayed by the gate after a suspend or retry
    run input review-gate-<id>-commit-<index>-<digest>-claim|cleared|resolved-<n>, -outcome
                                       the commit ledger's write-once records (`commit_log`)

One implementation speaks the Prefect REST API through any `ApiRequester`: Prefect's own client
inside a flow run (it works with an in-process server too), plain httpx in `review-gate pending`
(which must start without importing Prefect). `InMemoryReviewStore` keeps the same contract in
dicts, for tests of the code above it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import httpx

from prefect_review_gate.gates.paging import read_pages
from prefect_review_gate.validators.errors import InputError, ReviewGateError

if TYPE_CHECKING:
    # pydantic and the record's models load when the first record is read, not at import:
    # `review-gate pending` sends its first requests while they load.
    from prefect_review_gate.gates.request import ReviewRecord
    from prefect_review_gate.gates.votes import DecisionFields

__all__ = [
    "CLOSED_RECORD_TYPE",
    "OPEN_RECORD_TYPE",
    "ApiRequester",
    "InMemoryReviewStore",
    "PrefectReviewStore",
    "RecordVersion",
    "ReviewStore",
    "StoredDecision",
    "card_key",
    "parse_record",
    "record_key",
    "wait_key",
]

OPEN_RECORD_TYPE = "review-gate"
CLOSED_RECORD_TYPE = "review-gate-closed"
_PAGE = 200  # the API's largest page of artifacts
_PAGE_OVERLAP = 20  # records each page of open records reads again from the one before
# How far the opening time a run input records may run ahead of the server's clock.
_OPENING_SKEW = timedelta(seconds=30)


def record_key(review_id: str) -> str:
    return f"review-gate-{review_id}"


def card_key(review_id: str) -> str:
    """The review's card: what a person reads about it on its flow run's Artifacts tab."""
    return f"review-gate-{review_id}-review"


def wait_key(review_id: str, sequence: int) -> str:
    """The key of the gate's wait for decision number `sequence`; Prefect prefixes the state."""
    return f"{review_id}-{sequence}"


def _opening_key(review_id: str) -> str:
    return f"review-gate-{review_id}-opened"


def _channel_key(review_id: str, channel: str) -> str:
    return f"review-gate-{review_id}-channel-{channel}"


def parse_record(data: Any) -> ReviewRecord:
    from prefect_review_gate.gates.request import ReviewRecord

    try:
        return ReviewRecord.model_validate(data)
    except ValueError as exc:
        raise InputError(f"a review-gate record on the Prefect API is unreadable: {exc}") from None


@dataclass(frozen=True)
class StoredDecision:
    """A decision input as the server stored it: write-once, in the order of its wait key."""

    decision: DecisionFields | None  # None when the stored input is not a valid decision
    received_at: datetime  # the server's time of storing it, the same on every replay
    problem: str = ""  # why `decision` is None


@dataclass(frozen=True)
class RecordVersion:
    """One saved version of a review's record, as monitoring reads the history."""

    review_id: str  # from the artifact's key, readable even when the record is not
    created: datetime  # the server's time of saving this version
    record: ReviewRecord | None  # None when this version is unreadable
    problem: str = ""  # why `record` is None


class ReviewStore(Protocol):
    """What the gate, the CLI and the channels read and write about reviews."""

    async def save(self, record: ReviewRecord) -> None: ...

    async def load(self, review_id: str) -> ReviewRecord | None: ...

    async def list_open(self) -> list[ReviewRecord]: ...

    async def write_findings(self, record: ReviewRecord) -> None: ...

    async def write_decision(self, record: ReviewRecord) -> None: ...

    async def save_channel_state(self, review_id: str, channel: str, state: Mapping[str, Any]) -> None: ...

    async def load_channel_state(self, review_id: str, channel: str) -> dict[str, Any] | None: ...

    async def open_once(self, flow_run_id: UUID, review_id: str, now: datetime) -> tuple[datetime, bool]: ...

    async def stored_decision(
        self, flow_run_id: UUID, review_id: str, sequence: int
    ) -> StoredDecision | None: ...


class ApiRequester(Protocol):
    """One HTTP call to the Prefect REST API (paths like `/artifacts/filter`); raises for errors."""

    async def request(self, method: str, path: str, /, *, json: Any = None) -> httpx.Response: ...


class PrefectReviewStore:
    """`ReviewStore` on a Prefect server's REST API."""

    def __init__(self, api: ApiRequester) -> None:
        self._api = api
        # card key -> artifact id, once created or found; None: known to have no card yet (this
        # store wrote the review's opening, so nothing wrote its card before).
        self._cards: dict[str, str | None] = {}
        # card key -> what this store last wrote there: a step that saves the record and then the
        # decision rewrites the same card twice, one PATCH too many per decision on a busy server.
        self._written: dict[str, tuple[str, str]] = {}

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._api.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    # --- artifacts: the record, the human-readable artifacts, channel state -------------------------

    async def _create_artifact(
        self, key: str, kind: str, description: str, data: Any, flow_run_id: UUID | None
    ) -> Any:
        """Create a version of the artifact `key`; the server's answer is the artifact it created."""
        body = {"key": key, "type": kind, "description": description, "data": data}
        if flow_run_id is not None:
            body["flow_run_id"] = str(flow_run_id)
        return await self._call("POST", "/artifacts/", body)

    async def _latest(self, key: str) -> Any:
        body = {"artifacts": {"key": {"any_": [key]}}, "limit": 1}
        found = await self._call("POST", "/artifacts/latest/filter", body)
        return found[0]["data"] if found else None

    async def save(self, record: ReviewRecord) -> None:
        await self._create_artifact(
            record_key(record.request.id),
            OPEN_RECORD_TYPE if record.is_open else CLOSED_RECORD_TYPE,
            f"review-gate record: {record.status.value}",
            record.model_dump(mode="json"),
            None,
        )
        await self._write_card(record)

    async def _write_card(self, record: ReviewRecord) -> None:
        """Rewrite the review's one card in place (PATCH), creating it the first time."""
        key = card_key(record.request.id)
        description = f"Review {record.request.id}: {record.status.value}"
        markdown = _card(record)
        if self._written.get(key) == (markdown, description):
            return
        card_id = self._cards[key] if key in self._cards else await self._artifact_id(key)
        if card_id is None:
            created = await self._create_artifact(
                key, "markdown", description, markdown, record.request.flow_run_id
            )
            # The latest version's id, which a PATCH rewrites: the one just created.
            has_id = isinstance(created, dict) and created.get("id")
            card_id = str(created["id"]) if has_id else await self._artifact_id(key)
        else:
            await self._call("PATCH", f"/artifacts/{card_id}", {"data": markdown, "description": description})
        if card_id is not None:
            self._cards[key] = card_id
            self._written[key] = (markdown, description)

    async def _artifact_id(self, key: str) -> str | None:
        body = {"artifacts": {"key": {"any_": [key]}}, "limit": 1}
        found = await self._call("POST", "/artifacts/latest/filter", body)
        return str(found[0]["latest_id"]) if found else None

    async def load(self, review_id: str) -> ReviewRecord | None:
        data = await self._latest(record_key(review_id))
        return None if data is None else parse_record(data)

    async def list_open(self) -> list[ReviewRecord]:
        """Every record open throughout the listing, each once, however many pages it takes."""
        return [record async for page in self.open_pages() for record in page]

    async def open_pages(self) -> AsyncIterator[list[ReviewRecord]]:
        """`list_open`, a page at a time as the pages arrive, so that a caller can start on each.

        Reviews close while the pages are read: `paging.read_pages` says how none open throughout
        is skipped. The order (by the collection's id) does not change as records do.
        """
        open_records = {"artifacts": {"type": {"any_": [OPEN_RECORD_TYPE]}}}

        async def read(offset: int) -> list[dict[str, Any]]:
            body = {**open_records, "sort": "ID_DESC", "limit": _PAGE, "offset": offset}
            batch: list[dict[str, Any]] = await self._call("POST", "/artifacts/latest/filter", body)
            return batch

        expected = await self._call("POST", "/artifacts/latest/count", open_records)
        pages = read_pages(
            read,
            lambda item: str(item["key"]),
            expected=int(expected),
            page_size=_PAGE,
            overlap=_PAGE_OVERLAP,
        )
        async for page in pages:
            yield [parse_record(item["data"]) for item in page]

    async def record_versions(
        self, created_after: datetime | None = None, page_size: int = _PAGE
    ) -> AsyncIterator[list[RecordVersion]]:
        """Every saved version of every review's record, newest first, a page at a time.

        Stops at the first version the server saved before `created_after`: a review opened after
        that time saved all its versions after it too. Pages are read by offset while reviews may be
        saving: a new version shifts the pages by one, so a version can come twice (the caller
        dedupes by key and time), never be skipped.
        """
        offset = 0
        while True:
            body = {
                "artifacts": {"type": {"any_": [OPEN_RECORD_TYPE, CLOSED_RECORD_TYPE]}},
                "sort": "CREATED_DESC",
                "limit": page_size,
                "offset": offset,
            }
            batch = await self._call("POST", "/artifacts/filter", body)
            page = [_record_version(item) for item in batch]
            kept = [v for v in page if created_after is None or v.created >= created_after]
            if kept:
                yield kept
            if len(batch) < page_size or len(kept) < len(page):
                return
            offset += page_size

    async def write_findings(self, record: ReviewRecord) -> None:
        await self._write_card(record)  # the card holds the findings, by line

    async def write_decision(self, record: ReviewRecord) -> None:
        await self._write_card(record)  # the card holds the outcome and every vote

    async def save_channel_state(self, review_id: str, channel: str, state: Mapping[str, Any]) -> None:
        # An artifact, not a Variable: a Variable holds 5,000 characters, too few for the message ids
        # of a review sent as DMs to a large group.
        await self._create_artifact(
            _channel_key(review_id, channel),
            "review-gate-channel",
            f"{channel} state of review {review_id}",
            dict(state),
            None,
        )

    async def load_channel_state(self, review_id: str, channel: str) -> dict[str, Any] | None:
        data = await self._latest(_channel_key(review_id, channel))
        return dict(data) if isinstance(data, dict) and data else None

    # --- the run's write-once inputs: the review's log ------------------------------------------------

    async def open_once(self, flow_run_id: UUID, review_id: str, now: datetime) -> tuple[datetime, bool]:
        """When the review opened, as the run's write-once input says; (time, True) the first time.

        The deadline follows from it, so it is never read from the record, which anyone with API
        access may overwrite. An opening that claims to be later than the server stored it is not
        the gate's: the gate stops rather than extend a deadline.
        """
        key = _opening_key(review_id)
        value = json.dumps({"opened_at": now.isoformat()})
        try:
            await self._call("POST", f"/flow_runs/{flow_run_id}/input", {"key": key, "value": value})
            self._cards[card_key(review_id)] = None
            return now, True
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:  # 409: the key exists, this is a re-run
                raise
        stored = await self._input(flow_run_id, key)
        opened_at = _opened_at(stored[0]) if stored else None
        if stored is None or opened_at is None:
            raise ReviewGateError(
                f"review {review_id}: its opening input {key!r} is unreadable; nothing commits"
            )
        if stored[1] is not None and opened_at > stored[1] + _OPENING_SKEW:
            raise ReviewGateError(
                f"review {review_id}: its opening input claims a time after the server stored it; "
                "nothing commits"
            )
        return opened_at, False

    async def stored_decision(
        self, flow_run_id: UUID, review_id: str, sequence: int
    ) -> StoredDecision | None:
        """The decision the server stored for wait number `sequence` (paused or suspended), or None."""
        for state_name in ("paused", "suspended"):
            stored = await self._input(flow_run_id, f"{state_name}-{wait_key(review_id, sequence)}-response")
            if stored is not None:
                return _parse_decision(*stored)
        return None

    async def _input(self, flow_run_id: UUID, key: str) -> tuple[str, datetime | None] | None:
        body = {"prefix": key, "limit": 5, "exclude_keys": []}
        for item in await self._call("POST", f"/flow_runs/{flow_run_id}/input/filter", body) or []:
            if item.get("key") == key:
                created = item.get("created")
                return str(item.get("value") or ""), datetime.fromisoformat(created) if created else None
        return None


class InMemoryReviewStore:
    """`ReviewStore` in dicts: the same contract, for tests of the code that uses a store."""

    def __init__(self, clock: Any = None) -> None:
        self.records: dict[str, list[ReviewRecord]] = {}
        self.artifacts: dict[str, list[Any]] = {}
        self.inputs: dict[tuple[UUID, str], tuple[str, datetime]] = {}
        self._clock = clock or (lambda: datetime.now(UTC))

    async def save(self, record: ReviewRecord) -> None:
        self.records.setdefault(record.request.id, []).append(record.model_copy(deep=True))

    async def load(self, review_id: str) -> ReviewRecord | None:
        versions = self.records.get(review_id)
        return versions[-1].model_copy(deep=True) if versions else None

    async def list_open(self) -> list[ReviewRecord]:
        return [versions[-1] for versions in self.records.values() if versions[-1].is_open]

    async def record_versions(
        self, created_after: datetime | None = None, page_size: int = _PAGE
    ) -> AsyncIterator[list[RecordVersion]]:
        versions = [
            RecordVersion(review_id, record.updated_at, record)
            for review_id, records in self.records.items()
            for record in records
        ]
        versions.sort(key=lambda v: v.created, reverse=True)
        kept = [v for v in versions if created_after is None or v.created >= created_after]
        for start in range(0, len(kept), page_size):
            yield kept[start : start + page_size]

    async def write_findings(self, record: ReviewRecord) -> None:
        self.artifacts[card_key(record.request.id)] = [_card(record)]

    async def write_decision(self, record: ReviewRecord) -> None:
        self.artifacts[card_key(record.request.id)] = [_card(record)]

    async def save_channel_state(self, review_id: str, channel: str, state: Mapping[str, Any]) -> None:
        self.artifacts.setdefault(_channel_key(review_id, channel), []).append(dict(state))

    async def load_channel_state(self, review_id: str, channel: str) -> dict[str, Any] | None:
        versions = self.artifacts.get(_channel_key(review_id, channel))
        return dict(versions[-1]) if versions and versions[-1] else None

    async def open_once(self, flow_run_id: UUID, review_id: str, now: datetime) -> tuple[datetime, bool]:
        key = (flow_run_id, _opening_key(review_id))
        if key in self.inputs:
            opened_at = _opened_at(self.inputs[key][0])
            if opened_at is None:
                raise ReviewGateError(f"review {review_id}: its opening input is unreadable; nothing commits")
            return opened_at, False
        self.inputs[key] = (json.dumps({"opened_at": now.isoformat()}), self._clock())
        return now, True

    async def stored_decision(
        self, flow_run_id: UUID, review_id: str, sequence: int
    ) -> StoredDecision | None:
        for state_name in ("paused", "suspended"):
            stored = self.inputs.get((flow_run_id, f"{state_name}-{wait_key(review_id, sequence)}-response"))
            if stored is not None:
                return _parse_decision(*stored)
        return None

    def add_decision(
        self, flow_run_id: UUID, review_id: str, sequence: int, run_input: Mapping[str, Any]
    ) -> None:
        """What the server does on an accepted resume: store the input, once."""
        key = (flow_run_id, f"paused-{wait_key(review_id, sequence)}-response")
        if key in self.inputs:
            raise ReviewGateError("409: the input exists")
        self.inputs[key] = (json.dumps(dict(run_input)), self._clock())


def _card(record: ReviewRecord) -> str:
    # Imported on first use: the card's markdown is written by the gate, never read by `pending`,
    # which imports this module and must start fast.
    from prefect_review_gate.gates.review_markdown import review_card

    return review_card(record)


def _record_version(item: Mapping[str, Any]) -> RecordVersion:
    key = str(item.get("key") or "")
    review_id = key.removeprefix("review-gate-")
    created = datetime.fromisoformat(str(item["created"]))
    try:
        return RecordVersion(review_id, created, parse_record(item.get("data")))
    except InputError as exc:
        return RecordVersion(review_id, created, None, str(exc))


def _opened_at(value: str) -> datetime | None:
    try:
        opened_at = datetime.fromisoformat(json.loads(value)["opened_at"])
    except (ValueError, KeyError, TypeError):
        return None
    return opened_at if opened_at.tzinfo is not None else None


def _parse_decision(value: str, created: datetime | None) -> StoredDecision:
    from prefect_review_gate.gates.votes import DecisionFields

    received_at = created or datetime.now(UTC)
    try:
        return StoredDecision(DecisionFields.model_validate(json.loads(value)), received_at)
    except (ValueError, TypeError) as exc:
        # Written past the resume endpoint's schema check (a direct input POST): never a decision.
        problem = f"a stored decision input is not a valid decision ({type(exc).__name__})"
        return StoredDecision(None, received_at, problem)
