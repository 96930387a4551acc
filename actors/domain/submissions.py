"""What a submission is to the gateway's ledger: who claimed a job id first, and with what.

A job id is *claimed* by its first accepted submission: the ledger (the job store's
``submissions`` table, migration 6) keeps the claim's fingerprint (of the job's type,
payload and metadata) and the ``eventId`` of its ``job.created``. A later submission of
the same id is then a **duplicate** (same fingerprint: answered with the original event
id, nothing published) or a **conflict** (another type, payload or metadata: refused,
naming what differs). A claim is *confirmed* once the broker confirmed its publish; a
claim whose publish failed is released, so the client can submit the id again; one left
unconfirmed (a gateway that stopped between its claim and its confirm) is *pending*: the
same submission publishes its envelope again, under the original event id, which every
consumer already deduplicates.

``Idempotency-Key`` (the IETF httpapi draft) works on whole requests the same way: the
first request with a key claims it with a fingerprint of the request; its answer is
kept for :data:`IDEMPOTENCY_TTL_S` and replayed to a retry with the same body.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from actors.domain.clock import format_timestamp, parse_timestamp
from actors.observability.tracing import TRACEPARENT as _TRACEPARENT

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "IDEMPOTENCY_STALE_S",
    "IDEMPOTENCY_TTL_S",
    "ClaimOutcome",
    "Fingerprint",
    "IdempotencyAnswer",
    "IdempotencyClaim",
    "IdempotencyRecord",
    "KeyOutcome",
    "StoredSubmission",
    "Submission",
    "SubmissionClaim",
    "claim_outcome",
    "key_outcome",
    "later",
    "request_fingerprint",
]

IDEMPOTENCY_TTL_S = 24 * 3600.0
"""How long an ``Idempotency-Key``'s answer is kept and replayed."""
IDEMPOTENCY_STALE_S = 120.0
"""A key claimed this long ago whose request never answered (its gateway stopped) may be
claimed again: no request of the gateway runs that long (the publish timeout is far
below)."""
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[!-~]{1,255}")
"""An acceptable ``Idempotency-Key``: 1 to 255 printable ASCII characters, no space."""


def _digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Digests of what makes two submissions of one job id the same job."""

    type: str
    payload: str
    metadata: str

    @classmethod
    def of(cls, job: Mapping[str, object]) -> Fingerprint:
        """The fingerprint of a ``job.json`` document (its type, payload and metadata)."""
        metadata = job.get("metadata", {})
        if isinstance(metadata, Mapping) and _TRACEPARENT in metadata:
            # The submission's trace is not part of the job: a resubmission has its own.
            metadata = {k: v for k, v in metadata.items() if k != _TRACEPARENT}
        return cls(
            _digest(job.get("type")),
            _digest(job.get("payload", {})),
            _digest(metadata),
        )

    def encode(self) -> str:
        """The text the ledger stores."""
        return f"{self.type}.{self.payload}.{self.metadata}"

    @classmethod
    def decode(cls, text: str) -> Fingerprint:
        """The fingerprint :meth:`encode` wrote (an unreadable one differs in every field)."""
        parts = text.split(".")
        if len(parts) != 3:
            return cls("?", "?", "?")
        return cls(parts[0], parts[1], parts[2])

    def differences(self, other: Fingerprint) -> list[str]:
        """The fields (``type``, ``payload``, ``metadata``) whose digests differ."""
        return [
            name
            for name, mine, theirs in (
                ("type", self.type, other.type),
                ("payload", self.payload, other.payload),
                ("metadata", self.metadata, other.metadata),
            )
            if mine != theirs
        ]


@dataclass(frozen=True, slots=True)
class Submission:
    """A job id claimed (or to claim) by one accepted submission."""

    job_id: str
    fingerprint: str
    """:meth:`Fingerprint.encode` of the job."""
    event_id: str
    """The ``eventId`` of the job's ``job.created``."""
    submitted_at: str


@dataclass(frozen=True, slots=True)
class StoredSubmission:
    """A claim as the ledger holds it."""

    fingerprint: str
    event_id: str
    confirmed: bool
    """Whether the broker confirmed its ``job.created``."""


class ClaimOutcome(enum.Enum):
    """What a submission's claim of its job id came to."""

    NEW = "new"
    """Claimed by this submission: publish it."""
    PENDING = "pending"
    """Claimed before by the same submission, not confirmed: publish it again under the
    claimed event id (the first publish failed, or its gateway stopped; consumers
    deduplicate the event id)."""
    DUPLICATE = "duplicate"
    """Claimed before by the same submission and published: answer as then."""
    CONFLICT = "conflict"
    """Claimed by a submission of another type, payload or metadata: refuse."""


@dataclass(frozen=True, slots=True)
class SubmissionClaim:
    """The answer of the ledger to one submission."""

    submission: Submission
    outcome: ClaimOutcome
    event_id: str
    """The event id to answer (and publish, unless a duplicate or conflict): the claim's."""
    differences: tuple[str, ...] = ()
    """For a conflict: the fields that differ from the claim's."""
    minted: bool = False
    """The gateway made the job id up, so the ledger was not asked: the claim is new and
    its confirm writes it."""


def claim_outcome(
    submission: Submission, *, inserted: bool, stored: StoredSubmission | None
) -> SubmissionClaim:
    """What a claim came to, from whether the store inserted it and what it held before."""
    if inserted or stored is None:
        return SubmissionClaim(submission, ClaimOutcome.NEW, submission.event_id)
    differences = tuple(
        Fingerprint.decode(stored.fingerprint).differences(
            Fingerprint.decode(submission.fingerprint)
        )
    )
    if differences:
        return SubmissionClaim(submission, ClaimOutcome.CONFLICT, stored.event_id, differences)
    outcome = ClaimOutcome.DUPLICATE if stored.confirmed else ClaimOutcome.PENDING
    return SubmissionClaim(submission, outcome, stored.event_id)


# -- Idempotency-Key --------------------------------------------------------------------


def request_fingerprint(route: str, document: object) -> str:
    """The fingerprint of a request with an ``Idempotency-Key``: its route and its JSON
    body (canonical: key order and white space do not matter)."""
    return _digest([route, document])


def later(now: str, seconds: float) -> str:
    """The timestamp ``seconds`` after ``now`` (same format)."""
    return format_timestamp(parse_timestamp(now) + timedelta(seconds=seconds))


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A request's claim of its (client-scoped) key."""

    key: str
    fingerprint: str
    claimed_at: str
    expires_at: str


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A key as the store holds it."""

    fingerprint: str
    claimed_at: str
    expires_at: str
    status: int | None
    """The answer's status; ``None`` while the request is being answered."""
    body: str | None
    """The answer's body (JSON text)."""


@dataclass(frozen=True, slots=True)
class IdempotencyAnswer:
    """The answer to keep for a key (or, ``status`` ``None``, a claim to release)."""

    key: str
    fingerprint: str
    status: int | None
    body: str | None


class KeyOutcome(enum.Enum):
    """What a request's claim of its ``Idempotency-Key`` came to."""

    NEW = "new"
    """Claimed by this request: answer it and keep the answer."""
    REPLAY = "replay"
    """Answered before for the same request: replay that answer."""
    IN_PROGRESS = "in_progress"
    """The same key is being answered by another request right now: 409."""
    MISMATCH = "mismatch"
    """The key was used for another request: 422."""


def key_outcome(
    claim: IdempotencyClaim, *, inserted: bool, stored: IdempotencyRecord | None
) -> KeyOutcome:
    """What a key's claim came to, from whether the store took it and what it held."""
    if inserted or stored is None:
        return KeyOutcome.NEW
    if stored.fingerprint != claim.fingerprint:
        return KeyOutcome.MISMATCH
    if stored.status is None:
        return KeyOutcome.IN_PROGRESS
    return KeyOutcome.REPLAY
