"""The read model's live feed: throughput history, snapshots, changes, slow clients."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.domain.clock import utc_now
from actors.domain.events import Envelope, EventType, Producer
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.stats import Stats
from actors.errors import BrokerUnavailable, StoreUnavailable
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from actors.stores.workers import MemoryWorkerRegistry
from quart_app.read_model.alerts import AlertBook
from quart_app.read_model.live import (
    LiveFeed,
    Subscription,
    ThroughputHistory,
    TooManyClients,
    sse_message,
)
from quart_app.read_model.queues import QueueSample, QueueSource
from quart_app.read_model.workers import workers_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from actors.stores.sqlite import SQLiteEventStore, SQLiteJobStore

pytestmark = pytest.mark.timeout(30)

PRODUCER = Producer("test", "test-1", "0.0.0")


# -- throughput history ---------------------------------------------------------------


def test_buckets_count_what_finished_in_each_window_and_the_rate_is_per_second() -> None:
    history = ThroughputHistory(bucket_s=30, window_s=900)
    start = 1_800_000_000.0  # a multiple of 30
    history.observe(100, 10, start)  # what was counted before the read model started
    history.observe(130, 12, start + 15)
    history.observe(160, 20, start + 29)
    history.observe(190, 20, start + 45)
    doc = history.to_json(now=start + 59)
    assert doc["bucketSeconds"] == 30
    assert doc["windowSeconds"] == 900
    assert doc["buckets"] == [
        {"start": "2027-01-15T08:00:00Z", "completed": 60, "failed": 10},
        {"start": "2027-01-15T08:00:30Z", "completed": 30, "failed": 0},
    ]
    # 100 finished in the 59 s observed (less than a minute since the first sample).
    assert doc["perSecond"] == round(100 / 59, 3)


def test_the_rate_covers_the_last_minute_only() -> None:
    history = ThroughputHistory()
    start = 1_800_000_000.0
    for second in range(0, 181, 5):
        # 10 jobs/s for two minutes, then nothing.
        done = min(second, 120) * 10
        history.observe(done, 0, start + second)
    assert history.per_second(start + 60) == 10.0
    assert history.per_second(start + 180) == 0.0
    assert history.per_second(start + 150) == 5.0


def test_counters_that_go_back_count_nothing_and_old_samples_are_dropped() -> None:
    history = ThroughputHistory(bucket_s=30, window_s=60)
    start = 1_800_000_000.0
    history.observe(50, 5, start)
    history.observe(3, 0, start + 10)  # Redis was flushed: counters restarted
    assert history.to_json(now=start + 10)["buckets"] == [
        {"start": "2027-01-15T08:00:00Z", "completed": 0, "failed": 0}
    ]
    for second in range(20, 1000, 10):
        history.observe(second, 0, start + second)
    assert len(history._samples) < 20
    buckets = history.to_json(now=start + 990)["buckets"]
    assert isinstance(buckets, list)
    assert len(buckets) == 2
    assert [b["completed"] for b in buckets] == [30, 0]


def test_history_without_samples_is_empty() -> None:
    assert ThroughputHistory().to_json(now=1e9) == {
        "bucketSeconds": 30,
        "windowSeconds": 900,
        "buckets": [],
        "perSecond": 0.0,
    }
    with pytest.raises(ValueError, match="bucket_s"):
        ThroughputHistory(bucket_s=60, window_s=30)


# -- the feed --------------------------------------------------------------------------


def decode(message: bytes) -> tuple[str, object]:
    """(event name, data) of one SSE message."""
    lines = message.decode().strip().split("\n")
    assert lines[0].startswith("event: ")
    assert lines[1].startswith("data: ")
    return lines[0][7:], json.loads(lines[1][6:])


def drain(subscription: Subscription) -> list[tuple[str, object]]:
    found = []
    while True:
        try:
            found.append(decode(subscription._receive.receive_nowait()))
        except (anyio.WouldBlock, anyio.EndOfStream):
            return found


class Stores:
    def __init__(self, jobs: SQLiteJobStore, events: SQLiteEventStore) -> None:
        self.jobs = jobs
        self.events = events
        self.counters = MemoryCounters()

    async def finish_job(self, job_type: str = "echo", *, ok: bool = True) -> str:
        spec = JobSpec(
            id=str(uuid.uuid4()),
            type=job_type,
            created_at=utc_now(),
            correlation_id=str(uuid.uuid4()),
            payload={},
        )
        status = JobStatus.COMPLETED if ok else JobStatus.FAILED
        await self.jobs.apply_transitions(
            [
                JobTransition(spec, JobStatus.VALIDATED, spec.created_at),
                JobTransition(spec, status, utc_now(), result={}),
            ]
        )
        envelopes = [
            Envelope(
                event_type,
                str(uuid.uuid4()),
                utc_now(),
                PRODUCER,
                spec.correlation_id,
                spec.id,
                {"id": spec.id, "type": job_type, "status": "X", "createdAt": spec.created_at},
            )
            for event_type in (
                EventType.VALIDATED,
                EventType.COMPLETED if ok else EventType.FAILED,
            )
        ]
        await self.events.append(envelopes)
        await self.counters.apply(envelopes)
        return spec.id


@pytest.fixture
async def feed(tmp_path: Path) -> AsyncIterator[tuple[LiveFeed, Stores]]:
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        stores = Stores(jobs, events)
        live = LiveFeed(
            jobs=jobs,
            events=events,
            dead_letters=dead,
            counters=stores.counters,
            alerts=AlertBook(),
            max_clients=2,
        )
        subscriptions: list[Subscription] = []
        subscribe = live.subscribe

        def recorded() -> Subscription:
            subscriptions.append(subscribe())
            return subscriptions[-1]

        live.subscribe = recorded  # type: ignore[method-assign]
        yield live, stores
        for subscription in subscriptions:
            subscription.close()


async def test_a_new_client_gets_a_fresh_snapshot_then_only_changes(
    feed: tuple[LiveFeed, Stores],
) -> None:
    live, stores = feed
    await stores.finish_job()
    await live.tick()  # nobody listens: only stats and throughput are read
    client = live.subscribe()
    assert drain(client) == []  # nothing before the feed's next tick
    await live.tick()
    snapshot = dict(drain(client))
    assert set(snapshot) == {"stats", "throughput", "jobs", "dead-letters", "alerts"}
    stats = snapshot["stats"]
    assert isinstance(stats, dict)
    assert (stats["totalJobs"], stats["completedJobs"]) == (1, 1)
    jobs = snapshot["jobs"]
    assert isinstance(jobs, list)
    assert [job["status"] for job in jobs] == ["COMPLETED"]
    assert snapshot["dead-letters"] == {"count": 0}
    assert snapshot["alerts"] == {"active": [], "resolved": []}
    # Nothing changed: nothing is sent.
    await live.tick()
    assert drain(client) == []
    # A job finishes: stats, throughput, jobs and its events arrive; nothing else.
    job_id = await stores.finish_job("fail", ok=False)
    await live.tick()
    changes = drain(client)
    assert [name for name, _ in changes] == ["stats", "throughput", "jobs", "events"]
    events = dict(changes)["events"]
    assert isinstance(events, list)
    assert [(e["eventType"], e["payload"]["id"]) for e in events] == [
        ("job.validated", job_id),
        ("job.failed", job_id),
    ]


async def test_events_from_before_anyone_listened_are_not_news(
    feed: tuple[LiveFeed, Stores],
) -> None:
    live, stores = feed
    client = live.subscribe()
    await stores.finish_job()
    await live.tick()
    assert "events" not in dict(drain(client))  # the first look sets the baseline
    client.close()
    assert live.clients == 0
    await stores.finish_job()
    await live.tick()  # nobody listens
    again = live.subscribe()
    await live.tick()
    assert "events" not in dict(drain(again))
    await stores.finish_job()
    await live.tick()
    events = dict(drain(again))["events"]
    assert isinstance(events, list)
    assert len(events) == 2


async def test_the_stream_serves_at_most_max_clients(feed: tuple[LiveFeed, Stores]) -> None:
    live, _ = feed
    first, _second = live.subscribe(), live.subscribe()
    with pytest.raises(TooManyClients, match="2 clients"):
        live.subscribe()
    first.close()
    live.subscribe()
    assert live.clients == 2


async def test_a_client_that_falls_behind_is_dropped_and_the_others_go_on(
    feed: tuple[LiveFeed, Stores],
) -> None:
    live, stores = feed
    slow, fast = live.subscribe(), live.subscribe()
    await live.tick()
    drain(fast)
    for _ in range(300):  # more changes than a client's queue holds
        await stores.counters.apply(
            [
                Envelope(
                    EventType.CREATED,
                    str(uuid.uuid4()),
                    utc_now(),
                    PRODUCER,
                    str(uuid.uuid4()),
                    str(uuid.uuid4()),
                    {"id": "x", "type": "echo", "status": "PENDING", "createdAt": utc_now()},
                )
            ]
        )
        await live.tick()
        drain(fast)
    assert slow.dropped
    assert live.clients == 1
    # The dropped client's stream ends after what it had queued.
    received = [message async for message in slow.messages(heartbeat_s=0.1)]
    assert 0 < len(received) <= 256


async def test_a_quiet_stream_sends_heartbeats_and_stopping_the_feed_ends_it(
    feed: tuple[LiveFeed, Stores],
) -> None:
    live, _ = feed
    async with anyio.create_task_group() as tg:
        await tg.start(live.run)
        client = live.subscribe()
        seen: list[bytes] = []
        with anyio.fail_after(5):
            async for message in client.messages(heartbeat_s=0.2):
                seen.append(message)
                if message == b": keep-alive\n\n":
                    break
        live.request_stop()
    assert seen[-1] == b": keep-alive\n\n"
    # The subscription was primed at once (the feed ticked on subscribe, not a second later).
    assert decode(seen[0])[0] in {"stats", "throughput", "jobs", "dead-letters", "alerts"}
    with anyio.fail_after(2):
        assert [m async for m in client.messages(heartbeat_s=0.2)] == []
    assert live.clients == 0


async def test_a_store_that_is_away_skips_its_part_only(feed: tuple[LiveFeed, Stores]) -> None:
    live, stores = feed

    async def unavailable(**_: object) -> list[object]:
        raise StoreUnavailable("The job store is unavailable: connection refused.")

    live._jobs.recent_jobs = unavailable  # type: ignore[method-assign,assignment]
    client = live.subscribe()
    await stores.finish_job()
    await live.tick()
    assert set(dict(drain(client))) == {"stats", "throughput", "dead-letters", "alerts"}


def test_sse_messages_are_one_event_and_one_data_line() -> None:
    message = sse_message("stats", Stats().to_json())
    assert message.endswith(b"\n\n")
    assert message.count(b"\n") == 3
    name, data = decode(message)
    assert name == "stats"
    assert isinstance(data, dict)
    assert data["totalJobs"] == 0


# -- workers and queues (issue 17, item 5) ---------------------------------------------


class _Queues:
    """An inspector whose samples the test sets."""

    def __init__(self) -> None:
        self.samples = [QueueSample("jobs.created", ready=4, consumers=1, source=QueueSource.AMQP)]
        self.away = False

    async def sample(self) -> list[QueueSample]:
        if self.away:
            raise BrokerUnavailable("The broker is unavailable: connection refused.")
        return list(self.samples)


@pytest.fixture
async def panels(
    tmp_path: Path,
) -> AsyncIterator[tuple[LiveFeed, MemoryWorkerRegistry, _Queues, list[float]]]:
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        now = [1_800_000_000.0]
        workers = MemoryWorkerRegistry()
        queues = _Queues()
        live = LiveFeed(
            jobs=jobs,
            events=events,
            dead_letters=dead,
            counters=MemoryCounters(),
            alerts=AlertBook(),
            clock=lambda: now[0],
            workers=workers,
            workers_keep_s=600.0,
            queues=queues,
            panels_every_s=3.0,
        )
        yield live, workers, queues, now
        for subscription in list(live._subscribers):
            subscription.close()


async def test_workers_and_queues_are_sent_on_connect_then_every_few_seconds(
    panels: tuple[LiveFeed, MemoryWorkerRegistry, _Queues, list[float]],
) -> None:
    live, workers, queues, now = panels
    beat = {"service": "processor", "host": "box", "handlerTypes": ["echo"], "intervalS": 1.0}
    await workers.beat("processor-box-1", {**beat, "done": 3, "failed": 1}, seen_at=now[0])
    await workers.beat("processor-box-2", beat, seen_at=now[0] - 100)
    client = live.subscribe()
    await live.tick()
    first = dict(drain(client))
    assert first["workers"] == workers_json(await workers.sightings(since=now[0] - 600), now[0])
    listed = first["workers"]
    assert isinstance(listed, dict)
    assert (listed["alive"], listed["gone"]) == (1, 1)
    assert [(w["id"], w["status"], w["done"]) for w in listed["workers"][:1]] == [
        ("processor-box-1", "alive", 3)
    ]
    assert first["queues"] == [
        {
            "name": "jobs.created",
            "source": "amqp",
            "depth": 4,
            "ready": 4,
            "unacked": None,
            "delayed": None,
            "consumers": 1,
            "publishPerS": None,
            "deliverPerS": None,
            "depthChangePerS": None,
        }
    ]
    # Within the period: neither is read again.
    now[0] += 1.0
    queues.samples = [QueueSample("jobs.created", ready=10, consumers=2, source=QueueSource.AMQP)]
    await live.tick()
    assert {"workers", "queues"}.isdisjoint(dict(drain(client)))
    # Once the period is over: both, the queue with its rate over the period.
    now[0] += 2.0
    await live.tick()
    later = dict(drain(client))
    queue = later["queues"][0]  # type: ignore[index]
    assert (queue["depth"], queue["consumers"], queue["depthChangePerS"]) == (10, 2, 2.0)
    assert queue["publishPerS"] is None  # RabbitMQ does not say: null, not zero
    gone = later["workers"]["workers"][1]  # type: ignore[index]
    assert (gone["id"], gone["status"], gone["secondsSinceSeen"]) == (
        "processor-box-2",
        "gone",
        103.0,
    )


async def test_a_client_arriving_between_periods_gets_the_last_workers_and_queues(
    panels: tuple[LiveFeed, MemoryWorkerRegistry, _Queues, list[float]],
) -> None:
    live, workers, _queues, now = panels
    await workers.beat("processor-box-1", {"service": "processor"}, seen_at=now[0])
    live.subscribe()
    await live.tick()
    now[0] += 1.0
    late = live.subscribe()
    await live.tick()
    assert {"workers", "queues"} <= set(dict(drain(late)))


async def test_nobody_listening_reads_no_workers_nor_queues_and_a_broker_away_skips_queues(
    panels: tuple[LiveFeed, MemoryWorkerRegistry, _Queues, list[float]],
) -> None:
    live, _workers, queues, now = panels
    queues.away = True
    await live.tick()  # nobody listens: the broker is not asked
    client = live.subscribe()
    await live.tick()
    got = dict(drain(client))
    assert "workers" in got
    assert "queues" not in got
    queues.away = False
    now[0] += 3.0
    await live.tick()
    assert "queues" in dict(drain(client))
