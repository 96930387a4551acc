"""The scheduler: publishes delayed jobs to ``jobs.created`` once they are due.

A job submitted with ``runAt`` or ``delaySeconds`` (:mod:`actors.domain.scheduling`) is
kept by the gateway in the job store's *scheduled set*
(:meth:`~actors.stores.JobStore.schedule_jobs`), ``PENDING`` with its ``scheduledFor``,
instead of being published. Every :data:`INTERVAL_S` the scheduler takes the jobs that are
due (:meth:`~actors.stores.JobStore.claim_due_jobs`, under a lease of :data:`LEASE_S`),
hands their ``job.created`` messages to the processor's publisher, waits for the broker's
confirm, and only then removes them from the set. From there a delayed job is a job like
any other.

Why the store rather than the broker (RabbitMQ's per-message TTL on the retry queues):

* a message only expires at the head of its queue, so in one queue of mixed delays a
  short wait behind a long one is late by the difference (the retry queues accept that,
  a job due at a time may not), and delays up to 30 days would need a queue per range;
* the job must be visible (``GET /jobs/{id}``, search) and cancellable while it waits,
  which the store provides anyway; a cancel makes the waiting job due at once
  (:meth:`~actors.stores.JobStore.request_cancel`), so it ends ``FAILED`` cancelled
  without waiting for its time and never runs;
* it survives a restart of every service and of the broker (nothing is in the broker
  until it is due), and in the embedded observatory a kill -9 too (SQLite).

Several processors may run schedulers at once: each call takes other jobs (PostgreSQL:
``FOR UPDATE SKIP LOCKED``), no leader is needed. A scheduler that dies between the
publish and the removal leaves its jobs leased; they are taken again once the lease ran
out, and the processor settles the second delivery of the same event id without running
the job twice (:mod:`actors.processor.validator`'s in-flight registry and the lifecycle
guard). Accuracy: a job is published at most :data:`INTERVAL_S` after it is due, plus a
store round trip and a publish confirm.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from actors.domain.clock import format_timestamp
from actors.kernel.periodic import Periodic
from actors.pipeline.publisher import PublishRequest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from prometheus_client import Gauge

    from actors.kernel import Actor
    from actors.stores import JobStore

__all__ = ["BATCH", "COUNT_EVERY_S", "INTERVAL_S", "LEASE_S", "Scheduler"]

log = logging.getLogger(__name__)

COUNT_EVERY_S = 5.0
"""How often the scheduler counts the delayed jobs waiting (the gauge
``processor_scheduled_jobs_waiting``): a count is a scan of the scheduled set."""
INTERVAL_S = 0.2
"""How often the scheduler looks for due jobs (one indexed query each time)."""
LEASE_S = 30.0
"""How long a taken job is not handed to another scheduler: longer than any publish."""
BATCH = 500
"""Jobs taken per store call; a full batch is followed by the next at once."""


class Scheduler(Periodic):
    """Every :data:`INTERVAL_S`, publishes the scheduled jobs that are due.

    A store or broker away skips the tick (logged by :class:`Periodic`); the jobs taken
    meanwhile are taken again once their lease ran out.
    """

    def __init__(
        self,
        store: JobStore,
        publisher: Actor[PublishRequest],
        queue: str,
        *,
        interval_s: float = INTERVAL_S,
        lease_s: float = LEASE_S,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        wait_ready: Callable[[], Awaitable[None]] | None = None,
        waiting: Gauge | None = None,
        count_every_s: float = COUNT_EVERY_S,
    ) -> None:
        """``waiting``: the gauge set to the count of delayed jobs waiting, every
        ``count_every_s`` (none: not counted)."""
        super().__init__("delay-scheduler", interval_s=interval_s, wait_ready=wait_ready)
        self._store = store
        self._publisher = publisher
        self._queue = queue
        self._lease_s = lease_s
        self._now = now
        self.published = 0
        """Delayed jobs this scheduler published."""
        self._waiting = waiting
        self._counted_at = -math.inf
        self._count_every_s = count_every_s

    async def tick(self) -> None:
        """Publish the due jobs, a batch at a time, and forget them once confirmed; count
        the ones still waiting now and then."""
        await self._publish_due()
        if (
            self._waiting is not None
            and anyio.current_time() - self._counted_at >= self._count_every_s
        ):
            self._waiting.set(await self._store.count_scheduled())
            self._counted_at = anyio.current_time()

    async def _publish_due(self) -> None:
        while True:
            moment = self._now()
            due = await self._store.claim_due_jobs(
                now=format_timestamp(moment),
                lease_until=format_timestamp(moment + timedelta(seconds=self._lease_s)),
                limit=BATCH,
            )
            if not due:
                return
            request = PublishRequest(self._queue, [job.message for job in due], done=anyio.Event())
            # Bounded by the lease: past it another scheduler may publish them too.
            with anyio.move_on_after(self._lease_s / 2):
                await self._publisher.send(request)
                assert request.done is not None
                await request.done.wait()
            if request.done is None or not request.done.is_set() or request.error is not None:
                log.warning("delayed.publish_failed jobs=%d error=%s", len(due), request.error)
                return
            await self._store.remove_scheduled([job.job_id for job in due])
            self.published += len(due)
            log.info("delayed.published jobs=%d", len(due))
            if len(due) < BATCH:
                return
