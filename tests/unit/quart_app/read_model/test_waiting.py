"""``?wait=``: parsing, and the one watcher that wakes waiting requests (embedded stores)."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.domain.clock import utc_now
from actors.domain.events import Envelope, EventType, Producer
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.errors import StoreUnavailable
from actors.stores.sqlite import open_sqlite_event_store, open_sqlite_job_store
from quart_app._common import BadQuery
from quart_app.read_model.waiting import (
    TRAIL_CATCH_UP_S,
    JobWaiters,
    parse_wait,
    wait_for_job,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    from actors.stores.sqlite import SQLiteEventStore, SQLiteJobStore

pytestmark = pytest.mark.timeout(30)

PRODUCER = Producer("test", "test-1", "0.0.0")


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, 0.0), ("", 0.0), ("0", 0.0), ("2.5", 2.5), ("60", 60.0)]
)
def test_wait_is_read_in_seconds(raw: str | None, seconds: float) -> None:
    assert parse_wait(raw) == seconds


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("61", r"^Query parameter 'wait' must be between 0 and 60 seconds, got 61; wait again"),
        ("-0.5", r"^Query parameter 'wait' must be between 0 and 60 seconds, got -0.5;"),
        ("x", r"^Query parameter 'wait' must be a number of seconds, got 'x'\.$"),
        ("inf", r"^Query parameter 'wait' must be a number of seconds, got 'inf'\.$"),
    ],
)
def test_a_wait_out_of_bounds_is_a_bad_query(raw: str, message: str) -> None:
    with pytest.raises(BadQuery, match=message) as caught:
        parse_wait(raw)
    assert caught.value.issue.path == "/wait"


class CountingEvents:
    """The event store, counting the reads of the newest events."""

    def __init__(self, events: SQLiteEventStore) -> None:
        self.inner = events
        self.reads = 0
        self.read_twice = anyio.Event()

    async def recent_events(self, *, limit: int, job_id: str | None = None) -> list[Envelope]:
        self.reads += 1
        if self.reads >= 2:
            self.read_twice.set()
        return await self.inner.recent_events(limit=limit, job_id=job_id)


class World:
    def __init__(self, jobs: SQLiteJobStore, events: SQLiteEventStore) -> None:
        self.jobs = jobs
        self.events = events

    async def start_job(self) -> JobSpec:
        spec = JobSpec(
            id=str(uuid.uuid4()),
            type="echo",
            created_at=utc_now(),
            correlation_id=str(uuid.uuid4()),
            payload={},
        )
        await self.jobs.apply_transitions([JobTransition(spec, JobStatus.VALIDATED, utc_now())])
        await self.append(spec, [EventType.VALIDATED])
        return spec

    async def finish_job(self, spec: JobSpec, *, with_event: bool = True) -> None:
        await self.jobs.apply_transitions(
            [JobTransition(spec, JobStatus.COMPLETED, utc_now(), result={"ok": True})]
        )
        if with_event:
            await self.append(spec, [EventType.COMPLETED])

    async def append(self, spec: JobSpec, types: Sequence[EventType]) -> None:
        await self.events.append(
            [
                Envelope(
                    event_type,
                    str(uuid.uuid4()),
                    utc_now(),
                    PRODUCER,
                    spec.correlation_id,
                    spec.id,
                    {"id": spec.id, "type": spec.type, "status": "X", "createdAt": utc_now()},
                )
                for event_type in types
            ]
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        yield World(jobs, events)


async def test_a_terminal_job_and_an_unknown_one_answer_at_once(world: World) -> None:
    waiters = JobWaiters(world.events)
    spec = await world.start_job()
    await world.finish_job(spec)
    with anyio.fail_after(1):  # no watcher runs: the first read answers
        record, timeline = await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
    assert record is not None
    assert [e.event_type for e in timeline] == [EventType.VALIDATED, EventType.COMPLETED]
    assert record.status is JobStatus.COMPLETED
    with anyio.fail_after(1):
        unknown = await wait_for_job(waiters, world.jobs, world.events, str(uuid.uuid4()), 30)
    assert unknown == (None, [])
    assert waiters.waiting == 0


async def test_the_watcher_wakes_a_request_when_its_job_ends(world: World) -> None:
    events = CountingEvents(world.events)
    # No sweep: only the read of the newest events can wake the request.
    waiters = JobWaiters(events, interval_s=0.02, sweep_s=3600)  # type: ignore[arg-type]
    spec = await world.start_job()
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        answers: list[JobStatus] = []
        answered = anyio.Event()

        async def request() -> None:
            record, _ = await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
            assert record is not None
            answers.append(record.status)
            answered.set()

        tg.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        assert waiters.waiting == 1
        with anyio.fail_after(5):
            await world.finish_job(spec)
            await answered.wait()
        assert answers == [JobStatus.COMPLETED]
        assert waiters.waiting == 0
        waiters.request_stop()


async def test_nobody_waiting_means_nothing_is_read(world: World) -> None:
    events = CountingEvents(world.events)
    waiters = JobWaiters(events, interval_s=0.01)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        await anyio.sleep(0.2)  # the test is about time passing with nobody waiting
        assert events.reads == 0
        waiters.request_stop()


async def test_more_news_than_the_window_wakes_every_waiter(world: World) -> None:
    events = CountingEvents(world.events)
    waiters = JobWaiters(events, interval_s=0.02, window=2, sweep_s=3600)  # type: ignore[arg-type]
    spec = await world.start_job()
    others = [await world.start_job() for _ in range(3)]
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        done = anyio.Event()

        async def request() -> None:
            await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
            done.set()

        tg.start_soon(request)
        with anyio.fail_after(5):
            await events.read_twice.wait()  # the watcher has its baseline
            # The job's end, then more events than the window: its event is never read.
            await world.finish_job(spec)
            for other in others:
                await world.finish_job(other)
            await done.wait()
        waiters.request_stop()


async def test_a_stopping_watcher_lets_every_request_answer(world: World) -> None:
    waiters = JobWaiters(world.events, interval_s=0.02)
    spec = await world.start_job()
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        answers: list[JobStatus] = []
        answered = anyio.Event()

        async def request() -> None:
            record, _ = await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
            assert record is not None
            answers.append(record.status)
            answered.set()

        tg.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(5):
            waiters.request_stop()
            await answered.wait()
    assert answers == [JobStatus.VALIDATED]


async def test_a_job_that_ends_while_waited_for_is_answered_with_its_terminal_event(
    world: World,
) -> None:
    waiters = JobWaiters(world.events, interval_s=0.02, sweep_s=0.05)
    spec = await world.start_job()
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        timelines: list[list[EventType]] = []
        answered = anyio.Event()

        async def request() -> None:
            _, timeline = await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
            timelines.append([e.event_type for e in timeline])
            answered.set()

        tg.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        # The job store learns of the end first; sweeps wake the request meanwhile.
        await world.finish_job(spec, with_event=False)
        await anyio.sleep(0.2)  # several sweeps: the request must still wait
        assert not answered.is_set()
        await world.append(spec, [EventType.COMPLETED])
        with anyio.fail_after(5):
            await answered.wait()
        assert timelines == [[EventType.VALIDATED, EventType.COMPLETED]]
        waiters.request_stop()


async def test_an_ended_job_whose_trail_is_behind_is_answered_with_its_terminal_event(
    world: World,
) -> None:
    # The client's case: the job ended before the request came, its event not yet stored.
    waiters = JobWaiters(world.events, interval_s=0.02, sweep_s=3600)
    spec = await world.start_job()
    await world.finish_job(spec, with_event=False)
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        timelines: list[list[EventType]] = []
        answered = anyio.Event()

        async def request() -> None:
            _, timeline = await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
            timelines.append([e.event_type for e in timeline])
            answered.set()

        tg.start_soon(request)
        await anyio.sleep(0.2)
        assert not answered.is_set()
        await world.append(spec, [EventType.COMPLETED])
        with anyio.fail_after(5):
            await answered.wait()
        assert timelines == [[EventType.VALIDATED, EventType.COMPLETED]]
        waiters.request_stop()


async def test_an_ended_job_is_answered_as_stored_when_the_trail_never_catches_up(
    world: World,
) -> None:
    waiters = JobWaiters(world.events, interval_s=0.02, sweep_s=3600)
    spec = await world.start_job()
    await world.finish_job(spec, with_event=False)
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        started = anyio.current_time()
        with anyio.fail_after(TRAIL_CATCH_UP_S + 5):
            record, timeline = await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
        waited_s = anyio.current_time() - started
        waiters.request_stop()
    assert record is not None
    assert record.status is JobStatus.COMPLETED
    assert [e.event_type for e in timeline] == [EventType.VALIDATED]
    assert TRAIL_CATCH_UP_S <= waited_s < 30  # not the whole wait


class FlakyEvents(CountingEvents):
    """The event store, away while ``down``."""

    def __init__(self, events: SQLiteEventStore) -> None:
        super().__init__(events)
        self.down = True

    async def recent_events(self, *, limit: int, job_id: str | None = None) -> list[Envelope]:
        events = await super().recent_events(limit=limit, job_id=job_id)
        if self.down:
            raise StoreUnavailable("The event store is away.")
        return events


async def test_an_event_store_outage_is_logged_once_and_waiting_resumes(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    events = FlakyEvents(world.events)
    waiters = JobWaiters(events, interval_s=0.01, sweep_s=3600)  # type: ignore[arg-type]
    spec = await world.start_job()
    async with anyio.create_task_group() as tg:
        await tg.start(waiters.run)
        answered = anyio.Event()

        async def request() -> None:
            await wait_for_job(waiters, world.jobs, world.events, spec.id, 30)
            answered.set()

        tg.start_soon(request)
        with anyio.fail_after(5):
            await events.read_twice.wait()  # failed twice (at least)
            await world.finish_job(spec)
            events.down = False
            await answered.wait()
        waiters.request_stop()
    failures = [r for r in caplog.records if r.getMessage().startswith("job_waiters.read_failed")]
    assert [r.getMessage() for r in failures] == [
        "job_waiters.read_failed error=The event store is away."
    ]
