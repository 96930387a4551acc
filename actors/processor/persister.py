"""The persister: stores what each attempt came to, then has it published and settled.

For a batch of outcomes it writes every job's new state in one store call, tells the
validator which jobs are no longer in flight (:class:`Released`), and hands the
publisher, in order, the retries (the job's ``job.created`` again, delayed by its
backoff) and then the lifecycle events in one message with the deliveries they settle:
a delivery is acknowledged only once its outcome is stored and its events confirmed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from actors.broker.names import JOBS_COMPLETED
from actors.kernel import Actor
from actors.observability import tracing
from actors.pipeline.outage import retry_while_unavailable
from actors.processor.messages import Outcome, Released
from actors.processor.recording import Outbox, Recorder

if TYPE_CHECKING:
    from actors.observability.prometheus import ProcessorMetrics
    from actors.pipeline.ingress import IngressBatch
    from actors.pipeline.publisher import Publisher
    from actors.processor.emitter import LifecycleEmitter
    from actors.processor.messages import RateTick
    from actors.stores import JobStore

__all__ = ["Persister"]

log = logging.getLogger(__name__)


class Persister(Actor[Outcome]):
    """Writes attempts' outcomes in batches and hands their events to the publisher."""

    def __init__(
        self,
        store: JobStore,
        publisher: Publisher,
        emitter: LifecycleEmitter,
        metrics: ProcessorMetrics,
        *,
        batch: int,
    ) -> None:
        super().__init__("persister", mailbox_size=max(1, batch), max_batch=max(1, batch))
        self._store = store
        self._publisher = publisher
        self._recorder = Recorder(store, emitter, metrics)
        self._validator: Actor[IngressBatch | Released | RateTick] | None = None

    def report_to(self, validator: Actor[IngressBatch | Released | RateTick]) -> None:
        """Tell ``validator`` (the owner of the in-flight registry) what is stored."""
        self._validator = validator

    @property
    def completed(self) -> int:
        """Jobs stored COMPLETED here."""
        return self._recorder.completed

    @property
    def failed(self) -> int:
        """Jobs stored FAILED here after their last attempt."""
        return self._recorder.failed

    @property
    def retried(self) -> int:
        """Failed attempts stored here as retries."""
        return self._recorder.retried

    async def handle_batch(self, messages: list[Outcome]) -> None:
        with tracing.batch_span(
            "job.record",
            [m.job.spec.metadata for m in messages] if tracing.enabled() else (),
            attributes={"jobs": len(messages)},
        ):
            await self._record(messages)
        if self._validator is not None:
            try:
                await self._validator.send(Released(tuple(m.job.spec.id for m in messages)))
            except anyio.ClosedResourceError:
                # The validator stopped first (a graceful stop): its registry went with it,
                # and deliveries parked on these jobs go back to the queue unacknowledged.
                pass

    async def _record(self, messages: list[Outcome]) -> None:
        """Store the outcomes in one call and hand their events to the publisher."""
        transitions = [outcome.transition() for outcome in messages]
        with tracing.child_span("store.write", {"store.operation": "outcome"}):
            statuses = await retry_while_unavailable(
                lambda: self._store.apply_transitions(transitions), what="job store (terminal)"
            )
        outbox = Outbox()
        recorder = self._recorder
        completed, failed, retried = recorder.completed, recorder.failed, recorder.retried
        for outcome, status in zip(messages, statuses, strict=True):
            await recorder.stored(outcome, status, outbox)
        with tracing.child_span(
            "job.completed.publish", {"messaging.destination.name": JOBS_COMPLETED}
        ):
            await outbox.flush(self._publisher)
        # One DEBUG line per batch (the executor's line per completed job is DEBUG too): at
        # INFO a quiet stream of jobs would print a line each; failures and retries keep
        # their own lines, and the metrics count every outcome.
        log.debug(
            "jobs.recorded count=%d completed=%d failed=%d retried=%d",
            len(messages),
            recorder.completed - completed,
            recorder.failed - failed,
            recorder.retried - retried,
        )
