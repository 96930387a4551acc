"""The ledger actor: shares the job store's ledger calls among concurrent requests.

The gateway claims every job id it publishes (:mod:`actors.domain.submissions`). Requests
arriving together would each cost a store round trip; instead each sends its call to the
ledger, which takes whatever its mailbox holds (up to ``max_batch`` calls, no timer) and
makes **one** store call per kind for all of them, in this order: settle submissions
(confirms and releases), claim idempotency keys, claim submissions, keep idempotency
keys' answers. A claim therefore costs one round trip per batch of requests, as the
:class:`~actors.pipeline.publisher.Publisher` shares one confirm window.

Calls naming the same job id (or key) in one round (rare) go to the store in waves, one
store call each: the first of each id, then the second..., so a later request is decided
against the earlier one exactly as if they had come one after the other.

Error handling: a store that fails (:class:`~actors.errors.StoreUnavailable`) fails every
call of that kind in the round: each requester is woken with ``error`` set and answers
503. Nothing is retried here: the client retries, and claims are idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio

from actors.errors import StoreUnavailable
from actors.kernel import Actor
from actors.kernel.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        IdempotencyRecord,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )
    from actors.stores import JobStore

__all__ = [
    "ClaimKeys",
    "ClaimSubmissions",
    "Ledger",
    "LedgerCall",
    "SettleKeys",
    "SettleSubmissions",
    "StoreProbe",
]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class _Call:
    done: anyio.Event = field(default_factory=anyio.Event)
    """Set once the store answered (or failed)."""
    error: StoreUnavailable | None = None
    """Why the call failed, when ``done`` is set and it did."""

    def finish(self, error: StoreUnavailable | None = None) -> None:
        self.error = error
        self.done.set()


@dataclass(slots=True, eq=False)
class ClaimSubmissions(_Call):
    """Claim the job ids of ``submissions`` (distinct ids); ``claims`` answers, in order."""

    submissions: list[Submission] = field(default_factory=list)
    claims: list[SubmissionClaim] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class SettleSubmissions(_Call):
    """Confirm the claims whose publish was confirmed, release those whose publish failed."""

    confirmed: list[Submission] = field(default_factory=list)
    released: list[Submission] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ClaimKeys(_Call):
    """Claim idempotency keys at ``now``; ``outcomes`` answers, in order."""

    claims: list[IdempotencyClaim] = field(default_factory=list)
    now: str = ""
    outcomes: list[tuple[KeyOutcome, IdempotencyRecord | None]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class SettleKeys(_Call):
    """Keep the answers of claimed keys, or release them (status ``None``)."""

    answers: list[IdempotencyAnswer] = field(default_factory=list)


T = TypeVar("T")


def _waves(items: list[T], key: Callable[[T], str]) -> list[list[T]]:
    """``items`` split so that no wave names a key twice: the first occurrence of each key
    in the first wave, the second in the second... (repeats are rare: usually one wave).
    Applied wave after wave, a later request is decided against an earlier one."""
    waves: list[list[T]] = []
    seen: dict[str, int] = {}
    for item in items:
        index = seen.get(key(item), 0)
        seen[key(item)] = index + 1
        if index == len(waves):
            waves.append([])
        waves[index].append(item)
    return waves


LedgerCall = ClaimSubmissions | SettleSubmissions | ClaimKeys | SettleKeys
"""What the ledger takes."""


class Ledger(Actor[LedgerCall]):
    """Makes one job store call per kind for every call its mailbox holds."""

    def __init__(
        self,
        jobs: JobStore,
        *,
        name: str = "ledger",
        mailbox_size: int = 1024,
        max_batch: int = 512,
    ) -> None:
        super().__init__(name, mailbox_size=mailbox_size, max_batch=max_batch)
        self._jobs = jobs
        self.store_calls = 0
        """Store calls made so far (a claim round costs one, whatever its requests)."""

    async def handle_batch(self, messages: list[LedgerCall]) -> None:
        settles = [m for m in messages if isinstance(m, SettleSubmissions)]
        key_claims = [m for m in messages if isinstance(m, ClaimKeys)]
        claims = [m for m in messages if isinstance(m, ClaimSubmissions)]
        answers = [m for m in messages if isinstance(m, SettleKeys)]
        if settles:
            await self._settle(settles)
        if key_claims:
            await self._claim_keys(key_claims)
        if claims:
            await self._claim(claims)
        if answers:
            await self._keep_answers(answers)

    async def _store_call(
        self, calls: Sequence[_Call], what: str, work: Awaitable[None], *, rounds: int = 1
    ) -> bool:
        """Await ``work`` (``rounds`` store calls); on failure finish ``calls`` with the error."""
        self.store_calls += rounds
        try:
            await work
        except StoreUnavailable as exc:
            log.warning("ledger.store_failed what=%s calls=%d error=%s", what, len(calls), exc)
            for call in calls:
                call.finish(exc)
            return False
        return True

    async def _settle(self, calls: list[SettleSubmissions]) -> None:
        confirmed: dict[str, Submission] = {}
        released: dict[str, Submission] = {}
        for call in calls:
            for submission in call.confirmed:
                confirmed.setdefault(submission.job_id, submission)
            for submission in call.released:
                released.setdefault(submission.job_id, submission)
        # A claim both confirmed (by one request) and released (by another publishing the
        # same envelope) was published: the confirm wins.
        for job_id in confirmed.keys() & released.keys():
            del released[job_id]
        work = self._jobs.settle_submissions(list(confirmed.values()), list(released.values()))
        if await self._store_call(calls, "settle submissions", work):
            for call in calls:
                call.finish()

    async def _claim(self, calls: list[ClaimSubmissions]) -> None:
        waves = _waves([s for call in calls for s in call.submissions], lambda s: s.job_id)
        results: dict[int, SubmissionClaim] = {}

        async def claim() -> None:
            for wave in waves:
                claimed = await self._jobs.claim_submissions(wave)
                results.update((id(s), c) for s, c in zip(wave, claimed, strict=True))

        if await self._store_call(calls, "claim submissions", claim(), rounds=len(waves)):
            for call in calls:
                call.claims = [results[id(s)] for s in call.submissions]
                call.finish()

    async def _claim_keys(self, calls: list[ClaimKeys]) -> None:
        waves = _waves([c for call in calls for c in call.claims], lambda c: c.key)
        results: dict[int, tuple[KeyOutcome, IdempotencyRecord | None]] = {}
        now = max(call.now for call in calls)

        async def claim() -> None:
            for wave in waves:
                outcomes = await self._jobs.claim_idempotency_keys(wave, now=now)
                results.update((id(c), o) for c, o in zip(wave, outcomes, strict=True))

        if await self._store_call(calls, "claim idempotency keys", claim(), rounds=len(waves)):
            for call in calls:
                call.outcomes = [results[id(c)] for c in call.claims]
                call.finish()

    async def _keep_answers(self, calls: list[SettleKeys]) -> None:
        answers: dict[str, IdempotencyAnswer] = {}
        for call in calls:
            for answer in call.answers:
                answers.setdefault(answer.key, answer)
        work = self._jobs.settle_idempotency_keys(list(answers.values()))
        if await self._store_call(calls, "keep idempotency answers", work):
            for call in calls:
                call.finish()


_PROBE_JOB_ID = "00000000-0000-0000-0000-000000000000"
"""A job id no job has: what :class:`StoreProbe` reads."""


class StoreProbe(Periodic):
    """Reads the job store while it says it is unavailable, so that it can say it is back.

    A store that lost its server reports unavailable until a call succeeds again
    (:class:`~actors.stores.PostgresJobStore`); the gateway's only calls are its
    requests' claims, and a gateway not ready gets no requests (Kubernetes takes it out
    of the Service). This tick is the call that brings it back.
    """

    def __init__(self, jobs: JobStore, *, interval_s: float = 2.0) -> None:
        super().__init__("store-probe", interval_s=interval_s)
        self._jobs = jobs

    async def tick(self) -> None:
        if self._jobs.is_available():
            return
        try:
            await self._jobs.get_job(_PROBE_JOB_ID)
        except StoreUnavailable as exc:
            log.debug("ledger.store_still_unavailable error=%s", exc)
