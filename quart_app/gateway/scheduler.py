"""The gateway's scheduler: submits the jobs of recurring schedules as they come due.

Every gateway runs one (child ``scheduler``). Each tick (0.5 s) it asks the job store
for the due schedules (:meth:`~actors.stores.ScheduleStore.fire_due_schedules`), which in
the same transaction moves each one's next run past now, so with several gateways each
occurrence is handed to one of them (PostgreSQL: row locks taken with ``FOR UPDATE SKIP
LOCKED``; see :mod:`actors.stores._postgres_schedules`). What it hands out follows the
schedule's ``catchUp`` (:mod:`actors.domain.schedules`).

Each occurrence's job is then submitted as ``POST /jobs`` submits one
(:class:`Submitter`): its id claimed in the ledger, its ``job.created`` envelope
published with the broker's confirm, the claim confirmed. The job id is derived from
the schedule and the occurrence, so a second fire of one occurrence is a resubmission the
ledger answers without publishing anything. Its correlation id is ``schedule-<id>``.

Error handling:
    A submission that fails (the broker or the job store away) is kept and tried again
    at the next ticks (at most :data:`MAX_UNSENT` jobs are kept; a gateway that stops
    before they go loses them, which ``lastRunAt`` shows and the job store does not).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from actors.broker.names import JOBS_CREATED
from actors.domain.clock import format_timestamp, wall_clock
from actors.domain.events import Envelope
from actors.domain.jobs import JobStatus
from actors.domain.schedules import DEFAULT_GRACE_S, Trigger, occurrence_submission
from actors.domain.submissions import ClaimOutcome
from actors.kernel.periodic import Periodic
from actors.observability.logs import bind
from actors.pipeline.publisher import PublishRequest
from quart_app.gateway.submissions import LedgerUnavailable, republished

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from actors.broker import OutgoingMessage
    from actors.domain.clock import Clock
    from actors.domain.events import Producer
    from actors.domain.schedules import Schedule
    from actors.kernel import Actor
    from actors.observability.prometheus import GatewayMetrics
    from actors.stores import ScheduleStore
    from quart_app.gateway.submissions import Desk

__all__ = [
    "MAX_UNSENT",
    "Pending",
    "Scheduler",
    "SubmitFailed",
    "Submitted",
    "Submitter",
    "pending",
    "publish_jobs",
]

log = logging.getLogger(__name__)

MAX_UNSENT = 10_000
"""Fired jobs kept for another try while their submission fails, at most."""


async def publish_jobs(
    publisher: Actor[PublishRequest],
    messages: list[OutgoingMessage],
    *,
    ready: Callable[[], bool],
    timeout_s: float,
    queue: str = JOBS_CREATED,
    packable: bool = False,
) -> str | None:
    """Publish ``messages`` to ``queue`` (``jobs.created``) and wait for the broker's
    confirm; the reason when it did not confirm (``None`` once it did). ``packable``: each
    message is one envelope the publisher may pack with others
    (:attr:`~actors.pipeline.publisher.PublishRequest.packable`)."""
    if not ready():
        return "the broker is not reachable right now"
    request = PublishRequest(queue, messages, done=anyio.Event(), packable=packable)
    with anyio.move_on_after(timeout_s) as scope:
        try:
            await publisher.send(request)
        except anyio.ClosedResourceError:
            return "the gateway is shutting down"
        assert request.done is not None
        await request.done.wait()
    if scope.cancelled_caught:
        return f"no confirm within {timeout_s:g} s"
    if request.error is not None:
        return str(request.error)
    return None


class SubmitFailed(Exception):
    """The jobs could not be submitted; nothing was accepted (they may be tried again)."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """One job submitted by :class:`Submitter`."""

    job_id: str
    event_id: str
    published: bool
    """``False``: the ledger knew the job (a second fire of its occurrence)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A fired job waiting to be submitted."""

    submission: dict[str, object]
    correlation_id: str
    schedule_id: str
    scheduled_at: str
    trigger: Trigger


class Submitter:
    """Submits jobs on the gateway's own path: ledger claim, publish, confirm."""

    def __init__(
        self,
        desk: Desk,
        publisher: Actor[PublishRequest],
        producer: Producer,
        *,
        ready: Callable[[], bool],
        timeout_s: float,
        metrics: GatewayMetrics,
    ) -> None:
        self._desk = desk
        self._publisher = publisher
        self._producer = producer
        self._ready = ready
        self._timeout_s = timeout_s
        self._metrics = metrics

    async def submit(self, jobs: Sequence[Pending], *, now: str) -> list[Submitted]:
        """Submit ``jobs`` (one claim, one publish); one answer each, in order.

        A job whose id another job already holds with other content is refused by the
        ledger (a conflict: logged, not published).

        Raises:
            SubmitFailed: the ledger or the broker did not answer; nothing was accepted.
        """
        envelopes = [
            Envelope.job_created(
                {
                    **job.submission,
                    "status": JobStatus.PENDING.value,
                    "createdAt": now,
                    "updatedAt": now,
                },
                producer=self._producer,
                correlation_id=job.correlation_id,
                at=now,
            )
            for job in jobs
        ]
        try:
            claims = await self._desk.claim(envelopes)
        except LedgerUnavailable as exc:
            raise SubmitFailed(f"the job store did not claim the job ids ({exc})") from None
        answers: list[Submitted] = []
        published = []
        messages = []
        for envelope, claim, job in zip(envelopes, claims, jobs, strict=True):
            if claim.outcome is ClaimOutcome.CONFLICT:
                with bind(job_id=envelope.job_id):
                    log.warning("schedule.conflict differs=%s", ",".join(claim.differences))
                answers.append(Submitted(envelope.job_id, claim.event_id, published=False))
                continue
            fresh = claim.outcome is not ClaimOutcome.DUPLICATE
            answers.append(Submitted(envelope.job_id, claim.event_id, published=fresh))
            if fresh:
                published.append(claim)
                messages.append(republished(envelope, claim).to_message())
                self._metrics.submitted.labels(
                    self._metrics.job_type(str(job.submission["type"]))
                ).inc()
        if messages:
            failure = await publish_jobs(
                self._publisher, messages, ready=self._ready, timeout_s=self._timeout_s
            )
            if failure is not None:
                await self._desk.release(published)
                raise SubmitFailed(f"the broker did not confirm ({failure})")
            self._metrics.accepted.inc(len(messages))
        await self._desk.confirm(published)
        return answers


def pending(schedule: Schedule, scheduled_at: str, trigger: Trigger) -> Pending:
    """The job of one occurrence of ``schedule``, ready to submit."""
    return Pending(
        occurrence_submission(schedule, scheduled_at, trigger),
        f"schedule-{schedule.id}",
        schedule.id,
        scheduled_at,
        trigger,
    )


class Scheduler(Periodic):
    """Fires the due occurrences of recurring schedules every ``interval_s``; see the
    module. ``clock`` tells the time (tests pass their own)."""

    def __init__(
        self,
        store: ScheduleStore,
        submitter: Submitter,
        metrics: GatewayMetrics,
        *,
        interval_s: float = 0.5,
        grace_s: float = DEFAULT_GRACE_S,
        batch: int = 100,
        clock: Clock = wall_clock,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__("scheduler", interval_s=interval_s, wait_ready=wait_ready)
        self._store = store
        self._submitter = submitter
        self._metrics = metrics
        self._grace_s = grace_s
        self._batch = batch
        self._clock = clock
        self._unsent: list[Pending] = []
        self.fired = 0
        """Jobs this scheduler published (second fires of an occurrence not counted)."""

    async def tick(self) -> None:
        """Submit what failed before, then fire what is due."""
        now = self._clock()
        firings = await self._store.fire_due_schedules(
            now, limit=self._batch, grace_s=self._grace_s
        )
        for firing in firings:
            schedule = firing.schedule
            if firing.missed:
                self._metrics.schedule_misses.inc(firing.missed)
                log.info(
                    "schedule.missed schedule_id=%s missed=%d catch_up=%s",
                    schedule.id,
                    firing.missed,
                    schedule.catch_up.value,
                )
            self._unsent.extend(
                pending(schedule, at, Trigger.SCHEDULE) for at in firing.occurrences
            )
        if not self._unsent:
            return
        jobs, self._unsent = self._unsent[: self._batch * 10], self._unsent[self._batch * 10 :]
        try:
            answers = await self._submitter.submit(jobs, now=format_timestamp(now))
        except SubmitFailed as exc:
            kept = (jobs + self._unsent)[:MAX_UNSENT]
            dropped = len(jobs) + len(self._unsent) - len(kept)
            self._unsent = kept
            log.warning(
                "schedule.submit_failed jobs=%d dropped=%d reason=%s", len(jobs), dropped, exc
            )
            return
        fired = sum(1 for answer in answers if answer.published)
        self.fired += fired
        self._metrics.schedule_fires.labels(Trigger.SCHEDULE.value).inc(fired)
        for job, answer in zip(jobs, answers, strict=True):
            with bind(job_id=answer.job_id):
                log.info(
                    "schedule.fired schedule_id=%s scheduled_at=%s published=%s",
                    job.schedule_id,
                    job.scheduled_at,
                    answer.published,
                )
        if self._unsent:
            self.nudge()
