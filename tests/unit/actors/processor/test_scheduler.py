"""The scheduler alone (issue 18, item 1): it publishes what is due, removes it from the
scheduled set only once the publish is confirmed, and a job whose publish failed is taken
again once its lease ran out. The clock is injected; the publisher is a stand-in that
confirms or fails each request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

import anyio
from prometheus_client import CollectorRegistry, Gauge

from actors.broker import OutgoingMessage
from actors.domain.clock import format_timestamp
from actors.domain.jobs import JobSpec
from actors.domain.scheduling import ScheduledJob
from actors.errors import BrokerUnavailable
from actors.processor.scheduler import Scheduler
from actors.stores.memory import MemoryJobStore

if TYPE_CHECKING:
    from actors.kernel import Actor
    from actors.pipeline.publisher import PublishRequest

EPOCH = datetime(2026, 12, 6, 10, tzinfo=UTC)


class Publisher:
    """Answers each request at once: confirmed, or failed while ``down``."""

    def __init__(self) -> None:
        self.requests: list[PublishRequest] = []
        self.down = False

    async def send(self, request: PublishRequest) -> None:
        self.requests.append(request)
        if self.down:
            request.error = BrokerUnavailable("RabbitMQ is away.")
        assert request.done is not None
        request.done.set()


def _job(job_id: str, due_s: float) -> ScheduledJob:
    spec = JobSpec(id=job_id, type="echo", created_at=format_timestamp(EPOCH), correlation_id="c")
    return ScheduledJob(
        spec=spec,
        scheduled_for=format_timestamp(EPOCH + timedelta(seconds=due_s)),
        at=format_timestamp(EPOCH),
        message=OutgoingMessage(body=job_id.encode(), message_id=f"event-{job_id}"),
    )


async def test_due_jobs_are_published_once_and_forgotten_after_the_confirm() -> None:
    store, publisher = MemoryJobStore(), Publisher()
    clock = [EPOCH]
    scheduler = Scheduler(
        store, cast("Actor[PublishRequest]", publisher), "jobs.created", now=lambda: clock[0]
    )
    await store.schedule_jobs([_job("a", 1), _job("b", 2), _job("c", 60)])

    await scheduler.tick()
    clock[0] = EPOCH + timedelta(seconds=2)
    await scheduler.tick()
    await scheduler.tick()

    assert [[m.message_id for m in r.messages] for r in publisher.requests] == [
        ["event-a", "event-b"]
    ]
    assert {r.queue for r in publisher.requests} == {"jobs.created"}
    assert scheduler.published == 2
    clock[0] = EPOCH + timedelta(hours=1)
    await scheduler.tick()
    assert [m.message_id for m in publisher.requests[-1].messages] == ["event-c"]


async def test_a_failed_publish_keeps_the_job_and_it_is_taken_again_after_the_lease() -> None:
    store, publisher = MemoryJobStore(), Publisher()
    clock = [EPOCH + timedelta(seconds=5)]
    scheduler = Scheduler(
        store,
        cast("Actor[PublishRequest]", publisher),
        "jobs.created",
        lease_s=10,
        now=lambda: clock[0],
    )
    await store.schedule_jobs([_job("a", 1)])
    publisher.down = True

    await scheduler.tick()
    publisher.down = False
    await scheduler.tick()  # still leased: nothing taken
    clock[0] += timedelta(seconds=11)
    await scheduler.tick()

    assert [len(r.messages) for r in publisher.requests] == [1, 1]
    assert publisher.requests[0].error is not None
    assert publisher.requests[1].error is None
    assert scheduler.published == 1


async def test_issue_18_the_delayed_jobs_waiting_are_counted_into_the_gauge() -> None:
    store, publisher = MemoryJobStore(), Publisher()
    clock = [EPOCH]
    waiting = Gauge("scheduled_waiting", "test", registry=CollectorRegistry())
    scheduler = Scheduler(
        store,
        cast("Actor[PublishRequest]", publisher),
        "jobs.created",
        now=lambda: clock[0],
        waiting=waiting,
        count_every_s=0.05,
    )
    await store.schedule_jobs([_job("a", 1), _job("b", 60), _job("c", 90)])

    await scheduler.tick()
    assert waiting._value.get() == 3  # nothing due yet

    clock[0] = EPOCH + timedelta(seconds=61)
    await anyio.sleep(0.06)
    await scheduler.tick()
    assert waiting._value.get() == 1  # a and b published, then counted again
    assert await store.count_scheduled() == 1
