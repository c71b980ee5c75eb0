"""Monitoring figures over reviews: how often each agent fabricates, how people decide, how fast.

Pure: record versions in (as the store's `record_versions` pages them), `ReviewStats` out, with no
I/O. Each review is read from two of its versions: the first, which holds the agent's request
as it opened (its findings are what the agent fabricated, whatever a reviewer edited later), and
the latest, which holds the outcome, the votes, the edits and the refused decisions.

Figures, per agent (the requester) and flow:
    requested, open, approved, rejected, blocked (rejected by the policy without asking), expired,
    abandoned; reviews with a blocking finding and the fabrication rate (those / requested);
    findings by code; overrides (approved despite blocking findings) with their reasons; time to
    decision p50/p95 (opening to the deciding vote, people's decisions only); edits; refused
    decisions by the rule's code; each reviewer's share of the counted votes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect_review_gate.gates.request import ReviewRecord, ReviewStatus
from prefect_review_gate.gates.store import RecordVersion
from prefect_review_gate.gates.votes import GATE
from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.findings import Severity

__all__ = [
    "GroupStats",
    "Override",
    "ReviewHistory",
    "ReviewStats",
    "collect_histories",
    "compute_stats",
    "parse_since",
    "percentile",
    "versions_cutoff",
]

_SINCE = re.compile(r"([0-9]+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# A version's server time and its record's opening time come from two clocks (server, gate).
_CLOCK_SKEW = timedelta(minutes=5)


def parse_since(text: str) -> timedelta:
    """`7d`, `24h`, `90m`, `2w` -> a duration; anything else is an `InputError`."""
    match = _SINCE.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise InputError(f"--since {text!r}: give a positive duration like 30m, 24h, 7d or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class ReviewHistory:
    """A review as monitoring sees it: its request as opened, and its latest record."""

    first: ReviewRecord
    latest: ReviewRecord


def collect_histories(versions: Iterable[RecordVersion]) -> tuple[list[ReviewHistory], int]:
    """Group record versions by review; (histories, unreadable versions).

    The first version is the one with the lowest round, then the earliest; the latest, the one
    saved last. Versions read twice (pages shift while reviews save) count once.
    """
    first: dict[str, tuple[tuple[int, datetime], ReviewRecord]] = {}
    latest: dict[str, tuple[datetime, int, ReviewRecord]] = {}
    unreadable = 0
    for version in versions:
        record = version.record
        if record is None:
            unreadable += 1
            continue
        review_id = record.request.id
        order = (record.request.round, version.created)
        if review_id not in first or order < first[review_id][0]:
            first[review_id] = (order, record)
        # Two versions saved in the same instant: the one with more decisions seen is later.
        last = (version.created, record.decisions_seen, record)
        if review_id not in latest or last[:2] > latest[review_id][:2]:
            latest[review_id] = last
    histories = [ReviewHistory(first[rid][1], latest[rid][2]) for rid in first]
    return histories, unreadable


@dataclass(frozen=True)
class Override:
    review_id: str
    reviewers: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass
class GroupStats:
    """The figures of one agent and flow (or of everything, for the total)."""

    agent: str
    flow: str
    requested: int = 0
    open: int = 0
    approved: int = 0
    rejected: int = 0
    blocked: int = 0
    expired: int = 0
    abandoned: int = 0
    with_blocking: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    overrides: list[Override] = field(default_factory=list)
    decision_seconds: list[float] = field(default_factory=list)
    edited: int = 0
    edits: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    votes: Counter[str] = field(default_factory=Counter)
    deployment_ids: set[UUID] = field(default_factory=set)  # where the reviews' runs came from

    @property
    def fabrication_rate(self) -> float:
        """Reviews whose request had a blocking finding, over reviews requested."""
        return self.with_blocking / self.requested if self.requested else 0.0

    @property
    def findings_per_review(self) -> float:
        return sum(self.findings.values()) / self.requested if self.requested else 0.0

    def reviewer_share(self) -> dict[str, float]:
        total = sum(self.votes.values())
        return {name: count / total for name, count in self.votes.most_common()} if total else {}

    def add(self, history: ReviewHistory) -> None:
        first, latest = history.first, history.latest
        self.requested += 1
        if first.request.deployment_id is not None:
            self.deployment_ids.add(first.request.deployment_id)
        status = latest.status
        if status is ReviewStatus.OPEN:
            self.open += 1
        elif status is ReviewStatus.APPROVED:
            self.approved += 1
        elif status is ReviewStatus.REJECTED and _blocked_by_policy(latest):
            self.blocked += 1
        elif status is ReviewStatus.REJECTED:
            self.rejected += 1
        elif status is ReviewStatus.EXPIRED:
            self.expired += 1
        else:
            self.abandoned += 1
        self.findings.update(f.code for f in first.request.findings)
        if any(f.severity is Severity.BLOCK for f in first.request.findings):
            self.with_blocking += 1
        people = [v for v in latest.votes if v.channel != GATE]
        self.votes.update(v.reviewer for v in people)
        if status is ReviewStatus.APPROVED and latest.request.blocking:
            reasons = tuple(v.override_reason for v in people if v.override_reason)
            self.overrides.append(Override(latest.request.id, tuple(v.reviewer for v in people), reasons))
        deciding = [v.decided_at for v in people if v.decided_at is not None]
        if status in (ReviewStatus.APPROVED, ReviewStatus.REJECTED) and deciding:
            waited = max(deciding) - latest.request.created_at
            self.decision_seconds.append(max(waited.total_seconds(), 0.0))
        if latest.request.round:
            self.edited += 1
            self.edits += latest.request.round
        self.refused.update(r.code for r in latest.refused)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "flow": self.flow,
            "requested": self.requested,
            "open": self.open,
            "approved": self.approved,
            "rejected": self.rejected,
            "blocked_by_policy": self.blocked,
            "expired": self.expired,
            "abandoned": self.abandoned,
            "with_blocking_findings": self.with_blocking,
            "fabrication_rate": round(self.fabrication_rate, 4),
            "findings": sum(self.findings.values()),
            "findings_per_review": round(self.findings_per_review, 4),
            "findings_by_code": dict(self.findings.most_common()),
            "overrides": [
                {"review_id": o.review_id, "reviewers": list(o.reviewers), "reasons": list(o.reasons)}
                for o in self.overrides
            ],
            "decided": len(self.decision_seconds),
            "time_to_decision_seconds": {
                "p50": percentile(self.decision_seconds, 50),
                "p95": percentile(self.decision_seconds, 95),
            },
            "edited_reviews": self.edited,
            "edits": self.edits,
            "refused_decisions": dict(self.refused.most_common()),
            "reviewers": {name: round(share, 4) for name, share in self.reviewer_share().items()},
            "votes": dict(self.votes.most_common()),
        }


@dataclass(frozen=True)
class ReviewStats:
    since: datetime
    until: datetime
    agent: str | None
    groups: list[GroupStats]  # one per agent and flow, by agent then flow
    total: GroupStats
    unreadable: int = 0  # record versions that could not be read (counted, never guessed at)

    def agents(self) -> list[GroupStats]:
        """One group per agent, its flows added up."""
        by_agent: dict[str, GroupStats] = {}
        for group in self.groups:
            merged = by_agent.setdefault(group.agent, GroupStats(group.agent, "*"))
            _merge(merged, group)
        return list(by_agent.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "agent": self.agent,
            "groups": [g.to_json() for g in self.groups],
            "total": self.total.to_json(),
            "unreadable_versions": self.unreadable,
        }


def compute_stats(
    versions: Iterable[RecordVersion], since: datetime, until: datetime, agent: str | None = None
) -> ReviewStats:
    """The figures of the reviews opened in [since, until), of `agent` alone when given."""
    histories, unreadable = collect_histories(versions)
    groups: dict[tuple[str, str], GroupStats] = {}
    total = GroupStats("*", "*")
    for history in histories:
        request = history.first.request
        if not since <= request.created_at < until:
            continue
        if agent is not None and request.requester != agent:
            continue
        key = (request.requester, request.flow_name)
        groups.setdefault(key, GroupStats(*key)).add(history)
        total.add(history)
    ordered = [groups[k] for k in sorted(groups)]
    return ReviewStats(since, until, agent, ordered, total, unreadable)


def versions_cutoff(since: datetime) -> datetime:
    """How far back the store must read versions for reviews opened since `since`."""
    return since - _CLOCK_SKEW


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile (a value that occurred), or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _blocked_by_policy(record: ReviewRecord) -> bool:
    """Rejected by the gate itself: the policy rejects blocked content without asking."""
    return bool(record.votes) and all(v.channel == GATE for v in record.votes)


def _merge(into: GroupStats, group: GroupStats) -> None:
    for name in ("requested", "open", "approved", "rejected", "blocked", "expired", "abandoned"):
        setattr(into, name, getattr(into, name) + getattr(group, name))
    into.with_blocking += group.with_blocking
    into.findings.update(group.findings)
    into.overrides += group.overrides
    into.decision_seconds += group.decision_seconds
    into.edited += group.edited
    into.edits += group.edits
    into.refused.update(group.refused)
    into.votes.update(group.votes)
    into.deployment_ids |= group.deployment_ids
