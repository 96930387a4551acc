"""The validator's rate gate: jobs of a type with a ``rate_limit`` start when its bucket allows.

Before the validator records a job's start, every job of a rate-limited type
(``@handler("resize", rate_limit=5)``) takes a token from its type's bucket
(:mod:`actors.domain.rate_limits`; in Redis, shared by every processor, or in memory
embedded): one bucket call per validator batch, for all its types at once. A job that
gets a token starts as usual; the others wait, **before** their start is recorded (they
stay ``PENDING``, hold no executor slot and none of the validator's capacity), so jobs of
other types keep starting at full speed meanwhile.

Where a waiting job waits:

* **held** here, its delivery unacknowledged, up to about two seconds' worth of the
  type's rate (at most a quarter of the prefetch in all): the validator asks the bucket
  again when its next token is due. A restart or a crash leaves the delivery
  unacknowledged, so the broker delivers it again: at least once, as ever.
* **deferred** beyond that: the job's ``job.created`` is published again with a delay
  (the retry path's delayed queues, same attempt, same event id), for when its turn should
  come at the type's rate, and only once that publish is confirmed is the delivery
  acknowledged (the outbox's order). Holding them all instead would fill the broker's
  prefetch with deliveries that cannot start and stop the intake of every other type.

A graceful stop gives every held job back to the queue at once (rejected with requeue), so
the processor's drain never waits on a bucket.

The time a job waits here is part of its queue wait
(``processor_job_queue_wait_seconds``, measured from ``createdAt`` to the handler's
start); ``processor_rate_limited_jobs`` counts the jobs held here, by type.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from actors.domain.rate_limits import Grant, TokenRequest
from actors.errors import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from actors.domain.rate_limits import RateBuckets
    from actors.observability.prometheus import ProcessorMetrics
    from actors.processor.messages import AdmittedJob
    from actors.processor.recording import Outbox

__all__ = ["HOLD_S", "MAX_DEFER_S", "RateGate"]

log = logging.getLogger(__name__)

HOLD_S = 2.0
"""A type holds (unacknowledged) at most this many seconds' worth of its rate."""
MAX_DEFER_S = 30.0
"""The longest a deferred job is put off at once (the longest retry queue's delay); it is
deferred again if its turn has not come by then."""
_UNAVAILABLE_RETRY_S = 1.0
"""How soon the buckets are asked again after they could not be reached."""


class RateGate:
    """Decides, batch by batch, which jobs of rate-limited types start now.

    Owned by the validator (one actor: no locking). ``rates``: starts per second by type,
    for the types with a ``rate_limit``; ``hold_max``: the most jobs held in all.
    """

    def __init__(
        self,
        buckets: RateBuckets,
        rates: Mapping[str, float],
        metrics: ProcessorMetrics,
        *,
        hold_max: int,
    ) -> None:
        self._buckets = buckets
        self._rates = dict(rates)
        self._metrics = metrics
        self._hold_max = max(1, hold_max)
        self._held: dict[str, list[AdmittedJob]] = {}
        """Jobs waiting here for a token, by type, oldest first."""
        self.deferred = 0
        """Jobs deferred (published again with a delay) since this gate was made."""
        self._unavailable = False
        """The last bucket call failed (logged once, until one succeeds)."""

    def held(self) -> int:
        """Jobs waiting here for a token."""
        return sum(len(jobs) for jobs in self._held.values())

    def clear(self) -> None:
        """Forget the held jobs (their deliveries are redelivered after a restart)."""
        for job_type in self._held:
            self._metrics.rate_limited.labels(self._metrics.job_type(job_type)).set(0)
        self._held.clear()

    def give_back(self, jobs: list[AdmittedJob], outbox: Outbox) -> list[AdmittedJob]:
        """Stopping: reject every held job, and those of ``jobs`` that would wait, back to
        the queue. Returns the jobs of ``jobs`` whose type has no rate limit."""
        free: list[AdmittedJob] = []
        returned = [job for held in self._held.values() for job in held]
        for job in jobs:
            (returned if job.spec.type in self._rates else free).append(job)
        for job in returned:
            job.settlement.requeue = True
            outbox.settle(job, submission=False)
        if returned:
            log.info("rate.given_back jobs=%d: stopping", len(returned))
        self.clear()
        return free

    async def admit(
        self, jobs: list[AdmittedJob], outbox: Outbox
    ) -> tuple[list[AdmittedJob], float | None]:
        """The jobs that may start now, in order: ``jobs`` of unlimited types, then the
        held and new jobs of each limited type its bucket gave a token to.

        The rest are held, or deferred through ``outbox`` (see the module).

        Returns:
            The jobs to start, and how soon to call again for the held ones (``None``:
            none is held).
        """
        free: list[AdmittedJob] = []
        lines: dict[str, list[AdmittedJob]] = {t: list(held) for t, held in self._held.items()}
        for job in jobs:
            if job.spec.type in self._rates:
                lines.setdefault(job.spec.type, []).append(job)
            else:
                free.append(job)
        if not lines:
            return free, None
        types = list(lines)
        requests = [TokenRequest(t, len(lines[t]), self._rates[t]) for t in types]
        try:
            grants = await self._buckets.take(requests)
        except StoreUnavailable as exc:
            if not self._unavailable:
                log.warning("rate.buckets_unavailable types=%d error=%s", len(types), exc)
            self._unavailable = True
            grants = [Grant(0, _UNAVAILABLE_RETRY_S) for _ in types]
        else:
            if self._unavailable:
                log.info("rate.buckets_available types=%d", len(types))
            self._unavailable = False
        self._held = {}
        wake_s: float | None = None
        room = self._hold_max
        for job_type, grant in zip(types, grants, strict=True):
            line = lines[job_type]
            free.extend(line[: grant.granted])
            waiting = line[grant.granted :]
            rate = self._rates[job_type]
            hold = min(room, max(1, math.ceil(rate * HOLD_S)), len(waiting))
            room -= hold
            if hold:
                self._held[job_type] = waiting[:hold]
                wake_s = grant.retry_after_s if wake_s is None else min(wake_s, grant.retry_after_s)
            for position, job in enumerate(waiting[hold:], start=hold):
                # Its turn at the type's rate, were every processor's jobs in this line.
                delay_s = min(MAX_DEFER_S, grant.retry_after_s + position / rate)
                outbox.retry(job, job.attempt, delay_s)
                outbox.settle(job, submission=False)
                self.deferred += 1
            if len(waiting) > hold:
                log.info(
                    "rate.deferred type=%s jobs=%d held=%d rate_per_s=%g",
                    job_type,
                    len(waiting) - hold,
                    hold,
                    rate,
                )
            self._metrics.rate_limited.labels(self._metrics.job_type(job_type)).set(hold)
        return free, wake_s
