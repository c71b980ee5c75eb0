"""Delivering the outbox: each kept click to its run, exactly once, and the clicker told what happened.

One attempt reads the review, checks the click by the decision rule (`Interactions.check`) and
that it came from the review's own message, then resumes the run with the signed decision
(`reviews.decide`). What follows from an attempt:

    the run took it                      delivered; "was sent"
    it can never count                   refused; the reason (decided, not a reviewer, past the
                                         deadline, the run ended, not the review's message...)
    Prefect unreachable or busy          kept; tried again with backoff; "queued" told once
    (transport errors, 5xx, 429),
    or the run between two votes
    Prefect slow (no answer in 8 s)      "queued" told once; the same attempt goes on (not a new
                                         one: that would ask a busy server everything again),
                                         until 90 s, then as unreachable

Exactly once: before a resume leaves, the entry is marked `sending`. An entry found `sending`
again (the server died between the resume and marking it delivered, or the resume timed out
after Prefect stored it) is first looked for on the run itself, among its write-once decision
inputs (`store.stored_decision`), signed by this server for this person and content; found, it
is delivered without a second resume. And were it sent twice anyway, the gate's rule counts one
vote per person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from prefect_review_gate.gates import review_api, reviews
from prefect_review_gate.gates.decision import Outcome
from prefect_review_gate.gates.errors import DeliveryFailed, RunNotWaiting, UnauthorizedReviewer
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.slack.interactions import Click, Interactions, not_allowed
from prefect_review_gate.gates.slack.outbox import EntryState, NewEntry, Outbox, QueuedDecision
from prefect_review_gate.gates.slack.render import slack_escape
from prefect_review_gate.gates.slack.signing import ButtonAction, verify_button
from prefect_review_gate.gates.store_client import open_store
from prefect_review_gate.gates.votes import DecisionFields
from prefect_review_gate.validators.errors import InputError

__all__ = ["Deliveries", "new_entry", "prefect_unreachable"]

_LOG = logging.getLogger("prefect_review_gate.slack")
_FIRST_BACKOFF_SECONDS = 0.25
_IDLE_SECONDS = 5.0  # how often the queue is looked at with nothing due (a safety net for missed kicks)
_MAX_DECISIONS = 1000  # a bound on reading a run's decision log, far above any real review's


def prefect_unreachable(exc: BaseException) -> bool:
    """True for failures that pass: no connection, a timeout, a 5xx or 429 from the Prefect API."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError | OSError | TimeoutError)


def new_entry(click: Click, outcome: Outcome, reason: str) -> NewEntry:
    return NewEntry(
        review_id=click.value.review_id,
        content_hash=click.value.content_hash,
        user=click.user,
        outcome=outcome.value,
        reason=reason,
        signed=click.signed,
        channel=click.channel or "",
        message_ts=click.message_ts or "",
        response_url=click.response_url or "",
    )


@dataclass(frozen=True)
class _Done:
    state: EntryState
    text: str


@dataclass(frozen=True)
class _Later:
    text: str  # what to tell the clicker, if they have not been told it is queued
    at_once: bool  # tell now (Prefect is down), rather than only once the wait is long


class Deliveries:
    """Delivers due outbox entries, a few at a time, until cancelled."""

    def __init__(
        self,
        outbox: Outbox,
        interactions: Interactions,
        secret: str,
        *,
        max_backoff_seconds: float = 30.0,
        quiet_seconds: float = 10.0,
        attempt_seconds: float = 8.0,
        give_up_seconds: float = 90.0,
        concurrency: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.interactions = interactions
        self._secret = secret
        self._max_backoff = max_backoff_seconds
        self._quiet = quiet_seconds
        self._attempt_seconds = attempt_seconds
        self._give_up_seconds = max(give_up_seconds, attempt_seconds)
        self._clock = clock
        self._wake = asyncio.Event()
        self._inflight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Sixteen attempts at a time. An attempt is mostly waiting on round trips (read the review,
        # where it was posted, mark sending, resume, tell): at 4, fifty clicks at once queued 12
        # rounds deep and the last waited ~13 s on PostgreSQL (stack_bench). A SQLite-backed server
        # that answers "database is locked" is retried (review_api's busy retries, then this
        # queue's backoff), and a decision is kept until it is delivered, so more at once on
        # SQLite costs retries, never a decision.
        self._slots = asyncio.Semaphore(concurrency)

    def kick(self) -> None:
        """Something new is due: look now rather than at the next scheduled time."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Deliver whatever is due, then sleep until the next entry is due or a kick."""
        while True:
            self._wake.clear()
            try:
                for entry in await self.outbox.due(self._clock(), self._inflight):
                    self._start(entry)
                next_at = await self.outbox.next_due_at()
            except DeliveryFailed as exc:
                _LOG.error("Decision queue unreadable: %s", exc)
                next_at = None
            wait = _IDLE_SECONDS if next_at is None else max(next_at - self._clock(), 0.02)
            wait = min(wait, _IDLE_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def drain(self) -> None:
        """Wait for the attempts under way (a graceful shutdown, or a test)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, entry: QueuedDecision) -> None:
        self._inflight.add(entry.id)

        async def attempt() -> None:
            try:
                async with self._slots:
                    await self._deliver(entry)
            except Exception as exc:  # the loop goes on whatever one entry meets
                _LOG.error("Delivering a Slack decision failed: %s: %s", type(exc).__name__, exc)
            finally:
                self._inflight.discard(entry.id)
                self.kick()

        task = asyncio.get_running_loop().create_task(attempt())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, entry: QueuedDecision) -> None:
        click = self._click(entry)
        told = entry.told_queued
        attempt = asyncio.ensure_future(self._attempt(entry))
        try:
            try:
                result = await asyncio.wait_for(asyncio.shield(attempt), self._attempt_seconds)
            except TimeoutError:
                # Slow is not failed: the clicker hears now that the decision is queued, and the
                # attempt goes on. Cancelled, its resume could still be in flight on a busy server,
                # and the retry would ask that server again for the review, the decision log and
                # the resume: the load that made it slow. Prefect's client retries a lost
                # connection for a minute or more, so an attempt still ends at `give_up_seconds`.
                result = self._queued(entry)
                if not told and click is not None:
                    await self.interactions.tell(click, result.text)
                    told = True
                with contextlib.suppress(TimeoutError):
                    remaining = self._give_up_seconds - self._attempt_seconds
                    result = await asyncio.wait_for(asyncio.shield(attempt), remaining)
        finally:
            attempt.cancel()  # a no-op once it finished; else this task was cancelled, or gave up
        if isinstance(result, _Done):
            await self.outbox.finish(entry.id, result.state, result.text)
            if click is not None:
                await self.interactions.tell(click, result.text)
            else:
                _LOG.warning("Decision %s finished (%s): %s", entry.id, result.state, result.text)
            return
        backoff = min(self._max_backoff, _FIRST_BACKOFF_SECONDS * 2**entry.attempts)
        tell = not told and (result.at_once or self._clock() - entry.queued_at >= self._quiet)
        await self.outbox.retry_at(entry.id, self._clock() + backoff, told or tell, result.text)
        if tell and click is not None:
            await self.interactions.tell(click, result.text)

    def _queued(self, entry: QueuedDecision) -> _Later:
        verb = "rejection" if entry.outcome == Outcome.REJECTED.value else "approval"
        return _Later(
            f"Your {verb} of review `{entry.review_id}` is queued: Prefect is unreachable or busy right "
            "now. It is kept on the review-gate server and sent as soon as Prefect answers; "
            "you will be told here.",
            at_once=True,
        )

    def _click(self, entry: QueuedDecision) -> Click | None:
        try:
            value = verify_button(self._secret, entry.signed)
        except InputError:
            return None
        channel, ts, url = entry.channel or None, entry.message_ts or None, entry.response_url or None
        return Click(entry.user, channel, value, entry.signed, ts, url)

    async def _attempt(self, entry: QueuedDecision) -> _Done | _Later:
        click = self._click(entry)
        if click is None:
            # The signing secret changed since the click was kept: the button is no longer the gate's.
            return _Done(EntryState.REFUSED, "Your click's button is no longer valid; nothing was decided.")
        outcome = Outcome(entry.outcome)
        verb = "rejection" if outcome is Outcome.REJECTED else "approval"
        review_id = entry.review_id
        queued = self._queued(entry)
        sent = _Done(
            EntryState.DELIVERED,
            f"Your {verb} of review `{review_id}` was sent; the message updates once it counts.",
        )
        try:
            try:
                record = await reviews.get_review(review_id)
            except InputError:
                return _Done(EntryState.REFUSED, f"Review `{review_id}` no longer exists on Prefect.")
            if entry.sending and await self._taken(record, entry):
                return sent
            try:
                problem, person, group = await self.interactions.check(record, click, outcome, entry.reason)
            except DeliveryFailed as exc:
                return _Later(
                    f"Your {verb} of review `{review_id}` is queued: Slack could not say who is in the "
                    f"review's groups ({slack_escape(str(exc))}); trying again.",
                    at_once=False,
                )
            if problem:
                return _Done(EntryState.REFUSED, problem)
            foreign = await self.interactions.foreign_message(click)
            if foreign:
                return _Done(EntryState.REFUSED, foreign)
            if datetime.now(UTC) >= record.request.deadline:
                return _Done(
                    EntryState.REFUSED,
                    f"Review `{review_id}` passed its deadline before your {verb} reached its run; "
                    "it expires and nothing is committed.",
                )
            if not entry.sending:
                await self.outbox.mark_sending(entry.id)
            return await self._resume(record, click, outcome, entry.reason, person, group, sent)
        except DeliveryFailed:
            return queued  # where the messages are could not be read: Prefect again
        except Exception as exc:
            if prefect_unreachable(exc):
                return queued
            raise

    async def _resume(
        self,
        record: ReviewRecord,
        click: Click,
        outcome: Outcome,
        reason: str,
        person: str,
        group: str,
        sent: _Done,
    ) -> _Done | _Later:
        override = click.value.action is ButtonAction.OVERRIDE
        try:
            await reviews.decide(
                record.request.id,
                outcome,
                person,
                record=record,  # read by this attempt a moment ago: not read again
                member_of=group,
                signer=self.interactions.signer,
                comment="" if override else reason,
                override_reason=reason if override else "",
            )
        except UnauthorizedReviewer as exc:
            return _Done(EntryState.REFUSED, not_allowed(record, str(exc)))
        except InputError as exc:
            return _Done(EntryState.REFUSED, slack_escape(str(exc)))
        except RunNotWaiting:
            # The run is counting another vote, resuming, or gone for good: only the last ends
            # the entry now.
            ended = await self._run_ended(record)
            if ended:
                return _Done(EntryState.REFUSED, ended)
            verb = "rejection" if outcome is Outcome.REJECTED else "approval"
            return _Later(
                f"Your {verb} of review `{record.request.id}` is queued: its run is not waiting for a "
                "decision right now (it may be counting another vote). It is sent as soon as the run "
                "waits again, until the review's deadline.",
                at_once=False,
            )
        return sent

    async def _run_ended(self, record: ReviewRecord) -> str:
        """Why the review's run can never take a decision again, or ''."""
        run_id = record.request.flow_run_id
        async with reviews.api_target().client() as client:
            states = await review_api.read_run_states(client, [run_id])
        state = states.get(run_id)
        if state is None:
            return f"Review `{record.request.id}`: its flow run no longer exists; nothing was decided."
        if state.type in review_api.FINAL_STATE_TYPES:
            return (
                f"Review `{record.request.id}`: its flow run ended ({state.name or state.type.title()}) "
                "without taking decisions; nothing was decided."
            )
        return ""

    async def _taken(self, record: ReviewRecord, entry: QueuedDecision) -> bool:
        """Whether the run already has this person's decision on this content, signed by this server."""
        person = f"slack:{entry.user}"
        if any(v.reviewer == person and v.content_hash == entry.content_hash for v in record.votes):
            return True
        review_id = record.request.id
        async with open_store() as store:
            # The run's decision inputs are its write-once log, in order; the first gap is its end.
            for sequence in range(_MAX_DECISIONS):
                stored = await store.stored_decision(record.request.flow_run_id, review_id, sequence)
                if stored is None:
                    return False
                if stored.decision is not None and self._is_ours(stored.decision, review_id, person, entry):
                    return True
        return False

    def _is_ours(self, decision: DecisionFields, review_id: str, person: str, entry: QueuedDecision) -> bool:
        return (
            decision.reviewer == person
            and decision.content_hash == entry.content_hash
            and self.interactions.signer.verify(decision.claims(review_id), decision.proof)
        )
