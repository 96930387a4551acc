"""What only the MongoDB stores do: indexes, duplicate handling, volume, binary bodies, errors.

The behaviour every adapter shares is in the contract suites of
``tests/unit/actors/stores`` (their ``mongo`` params). These run against ``mongo_url``:
``MONGO_URL`` when set, else the nx-27017 stand-in the session starts.
"""

from __future__ import annotations

import gc
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import anyio
import pymongo
import pytest

from actors.domain.clock import format_timestamp
from actors.domain.dead_letters import DeadLetter, dead_letter_id
from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.errors import StoreUnavailable, ValidationIssue
from actors.stores import AppendResult
from actors.stores.mongo import open_mongo_dead_letter_store, open_mongo_event_store
from actors.stores.names import DEAD_LETTERS_COLLECTION, EVENTS_COLLECTION
from tests.integration.tcp_proxy import TcpProxy, closed_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration

_DEADLINE_S = 30
"""Bound of every test's work against MongoDB (the 5,000-event test, under 1 s here, is
the slowest)."""

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_PRODUCER = Producer(service="processor", instance_id="processor-1", version="0.1.0")

Document = dict[str, object]


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def event(
    job_id: str, event_type: EventType, at_s: float, *, attempt: int = 1, job_type: str = "echo"
) -> Envelope:
    return Envelope(
        event_type=event_type,
        event_id=lifecycle_event_id(job_id, event_type, attempt),
        occurred_at=ts(at_s),
        producer=_PRODUCER,
        correlation_id=f"corr-{job_id}",
        idempotency_key=job_id,
        payload={"id": job_id, "type": job_type, "payload": {"n": attempt}},
    )


def dead_letter(name: str, body: bytes, at_s: float) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=dead_letter_id("jobs.created", name, body),
        queue="jobs.created",
        reason=f"Message {name!r} is not a valid envelope.",
        errors=[ValidationIssue("", "The body is not JSON.")],
        body=body,
        occurred_at=ts(at_s),
        service="processor",
        version="0.1.0",
        message_id=name,
    )


@pytest.fixture
async def database(mongo_url: str) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of the test's own (dropped afterwards), seen through a separate client."""
    client: pymongo.AsyncMongoClient[Document] = pymongo.AsyncMongoClient(mongo_url)
    database = client[f"test_{uuid.uuid4().hex}"]
    try:
        yield database
    finally:
        with anyio.fail_after(_DEADLINE_S, shield=True):
            await client.drop_database(database.name)
            await client.close()


async def index_keys(
    database: AsyncDatabase[Document], collection: str
) -> dict[tuple[tuple[str, int], ...], bool]:
    """Each index of ``collection`` by its keys (names differ between servers): unique?"""
    cursor = await database[collection].list_indexes()
    return {
        tuple((str(field), int(order)) for field, order in index["key"].items()): bool(
            index.get("unique", False)
        )
        async for index in cursor
    }


async def test_the_event_indexes_exist_once_however_often_the_store_is_opened(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        async with open_mongo_event_store(mongo_url, database=database.name):
            pass
        async with open_mongo_event_store(mongo_url, database=database.name) as store:
            available = store.is_available()
        indexes = await index_keys(database, EVENTS_COLLECTION)

    assert available
    assert indexes == {
        (("_id", 1),): False,  # MongoDB's own; its uniqueness is implied, not flagged
        (("eventId", 1),): True,
        (("jobId", 1), ("occurredAt", 1)): False,
        (("occurredAt", 1), ("seq", 1)): False,
        (("eventType", 1), ("occurredAt", 1), ("seq", 1)): False,  # the event search (type)
        (("seq", 1),): False,
    }


async def test_the_dead_letter_indexes_exist(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        async with open_mongo_dead_letter_store(mongo_url, database=database.name) as store:
            available = store.is_available()
        indexes = await index_keys(database, DEAD_LETTERS_COLLECTION)

    assert available
    assert indexes == {
        (("_id", 1),): False,
        (("deadLetterId", 1),): True,
        (("occurredAt", 1), ("seq", 1)): False,
    }


async def test_duplicates_within_and_across_batches_are_counted_and_stored_once(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    a, b, c = (event(f"job-{name}", EventType.CREATED, n) for n, name in enumerate("abc"))

    with anyio.fail_after(_DEADLINE_S):
        async with open_mongo_event_store(mongo_url, database=database.name) as store:
            first = await store.append([a, b, a])
            second = await store.append([b, c, a, c])
            third = await store.append([a, b, c])
        stored = await database[EVENTS_COLLECTION].find({}, {"_id": 0}).to_list()

    assert first == AppendResult(stored=2, duplicates=1)
    assert second == AppendResult(stored=1, duplicates=3)
    assert third == AppendResult(stored=0, duplicates=3)
    assert sorted(str(document["eventId"]) for document in stored) == sorted(
        envelope.event_id for envelope in (a, b, c)
    )
    assert {str(document["jobId"]) for document in stored} == {"job-a", "job-b", "job-c"}
    assert all(document["jobType"] == "echo" for document in stored)


async def test_two_stores_appending_the_same_events_store_each_once(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    # Two metrics-engine processes receiving one redelivered batch at the same time.
    events = [event(f"job-{n:03d}", EventType.VALIDATED, n) for n in range(300)]
    results: list[AppendResult] = []

    async def append(batch: list[Envelope]) -> None:
        async with open_mongo_event_store(mongo_url, database=database.name) as store:
            results.append(await store.append(batch))

    with anyio.fail_after(_DEADLINE_S):
        async with anyio.create_task_group() as tg:
            tg.start_soon(append, events)
            tg.start_soon(append, events[::-1])
        count = await database[EVENTS_COLLECTION].count_documents({})

    assert sum(result.stored for result in results) == 300
    assert sum(result.duplicates for result in results) == 300
    assert count == 300


async def test_5000_events_in_batches_of_500(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    events = [
        event(f"job-{n:05d}", event_type, n)
        for n in range(1250)
        for event_type in (
            EventType.CREATED,
            EventType.VALIDATED,
            EventType.EXECUTED,
            EventType.COMPLETED,
        )
    ]
    batches = [events[start : start + 500] for start in range(0, len(events), 500)]

    with anyio.fail_after(_DEADLINE_S):
        async with open_mongo_event_store(mongo_url, database=database.name) as store:
            started = time.perf_counter()
            results = [await store.append(batch) for batch in batches]
            append_s = time.perf_counter() - started

            started = time.perf_counter()
            again = [await store.append(batch) for batch in batches]
            again_s = time.perf_counter() - started

            started = time.perf_counter()
            replayed = [envelope async for envelope in store.iter_events(frozenset(EventType))]
            replay_s = time.perf_counter() - started

            validated = [
                envelope async for envelope in store.iter_events(frozenset({EventType.VALIDATED}))
            ]
            timeline = await store.events_for_job("job-00042")

    # Measured, not asserted: the figures depend on the machine and the server.
    print(
        f"\nmongo: appended 5000 events in 10 batches in {append_s:.2f} s "
        f"({5000 / append_s:.0f} events/s); all again as duplicates in {again_s:.2f} s; "
        f"iter_events read them back in {replay_s:.2f} s"
    )
    assert results == [AppendResult(stored=500, duplicates=0)] * 10
    assert again == [AppendResult(stored=0, duplicates=500)] * 10
    assert replayed == events
    assert validated == events[1::4]
    assert timeline == events[42 * 4 : 43 * 4]


class _Inserts(pymongo.monitoring.CommandListener):
    """Counts the ``insert`` commands sent to one database (one per round trip)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.documents: list[int] = []

    def started(self, event: pymongo.monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert" and event.database_name == self.database:
            self.documents.append(len(event.command.get("documents", [])))

    def succeeded(self, event: pymongo.monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: pymongo.monitoring.CommandFailedEvent) -> None:
        pass


async def test_each_append_is_one_insert_command(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    """The metrics engine's audit trail: one insert per batch, however large the batch."""
    inserts = _Inserts(database.name)
    pymongo.monitoring.register(inserts)  # seen by the clients opened from now on
    batches = [
        [event(f"b{batch}-job-{n:04d}", EventType.CREATED, n) for n in range(size)]
        for batch, size in enumerate((1, 300, 1000))
    ]

    with anyio.fail_after(_DEADLINE_S):
        async with open_mongo_event_store(mongo_url, database=database.name) as store:
            for batch in batches:
                await store.append(batch)

    assert inserts.documents == [1, 300, 1000]


async def test_a_jobs_timeline_orders_by_time_then_lifecycle_then_arrival(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    # A retried job whose events arrive out of order, in several batches, mixed with
    # another job's. Attempts 2 and 3 ran within one clock tick: arrival decides.
    created = event("job-1", EventType.CREATED, 1)
    validated = event("job-1", EventType.VALIDATED, 2)
    first_try = event("job-1", EventType.EXECUTED, 2, attempt=1)
    second_try = event("job-1", EventType.EXECUTED, 3, attempt=2)
    third_try = event("job-1", EventType.EXECUTED, 3, attempt=3)
    failed = event("job-1", EventType.FAILED, 3)
    other = event("job-2", EventType.CREATED, 2)

    with anyio.fail_after(_DEADLINE_S):
        async with open_mongo_event_store(mongo_url, database=database.name) as store:
            await store.append([failed, other, second_try])
            await store.append([first_try, validated])
            await store.append([third_try, created])
            timeline = await store.events_for_job("job-1")
            recent = await store.recent_events(limit=3, job_id="job-1")
            nothing = await store.recent_events(limit=0)

    assert timeline == [created, validated, first_try, second_try, third_try, failed]
    # Newest first: by time, then arrival (the failure arrived first).
    assert recent == [third_try, second_try, failed]
    assert nothing == []


async def test_a_negative_limit_is_refused(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    with anyio.fail_after(_DEADLINE_S):
        async with (
            open_mongo_event_store(mongo_url, database=database.name) as events,
            open_mongo_dead_letter_store(mongo_url, database=database.name) as dead_letters,
        ):
            with pytest.raises(ValueError, match=r"^limit must not be negative, not -1\.$"):
                await events.recent_events(limit=-1)
            with pytest.raises(ValueError, match=r"^limit must not be negative, not -1\.$"):
                await dead_letters.recent(limit=-1)


async def test_dead_letter_bodies_round_trip_as_binary(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    bodies = {
        "empty": b"",
        "every-byte": bytes(range(256)),
        "not-utf-8": b"\xff\xfe\x00 half a character: \xe2\x82",
        "text": '{"id": "é"}'.encode(),
        "large": bytes(range(256)) * 4096,  # 1 MiB
    }
    records = [dead_letter(name, body, n) for n, (name, body) in enumerate(bodies.items())]

    with anyio.fail_after(_DEADLINE_S):
        async with open_mongo_dead_letter_store(mongo_url, database=database.name) as store:
            added = await store.add(records)
            read = [await store.get(record.dead_letter_id) for record in records]
            recent = await store.recent(limit=len(records))
        raw = await database[DEAD_LETTERS_COLLECTION].find({}, {"_id": 0, "body": 1}).to_list()

    assert added == AppendResult(stored=5, duplicates=0)
    assert read == records
    assert recent == records[::-1]
    # pymongo reads BSON binary (subtype 0) back as bytes, and a BSON string as str.
    assert all(type(document["body"]) is bytes for document in raw)
    assert {document["body"] for document in raw} == set(bodies.values())


@pytest.fixture
def collect_garbage() -> Iterator[None]:
    """Collect garbage after the test, so what it leaked warns in its own teardown."""
    yield
    gc.collect()


@pytest.mark.filterwarnings(
    # pymongo 4.20 does not close a socket whose connect is cancelled, which happens when
    # a client is closed while its monitor retries an unreachable server: a ResourceWarning
    # (an error here) when the socket is collected. Not our leak.
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.usefixtures("collect_garbage")
async def test_an_unreachable_mongodb_fails_opening_with_the_url_redacted() -> None:
    url = f"mongodb://observer:s3cret@127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=300"
    redacted = re.escape(url.replace("s3cret", "***"))

    with anyio.fail_after(_DEADLINE_S):
        with pytest.raises(
            StoreUnavailable,
            match=rf"^The MongoDB event store at {redacted} could not create the indexes of "
            r"'observatory\.job_events': .+\. Check that MongoDB is running and reachable; "
            r"the call is safe to retry\.$",
        ) as caught:
            async with open_mongo_event_store(url):
                pass  # pragma: no cover

    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value.__cause__, pymongo.errors.ServerSelectionTimeoutError)
    # The reason is the server's error on one line, not pymongo's topology dump (issue 16).
    assert "Connect call failed" in str(caught.value)
    assert "Topology Description" not in str(caught.value)
    assert "\n" not in str(caught.value)


class _Proxy(TcpProxy):
    """A TCP proxy in front of MongoDB that can be taken away and brought back (a restart)."""

    def __init__(self, target: str) -> None:
        super().__init__(target, default_port=27017)

    @property
    def url(self) -> str:
        """The target's URL through the proxy: same credentials, one server, quick to fail.

        Not too quick: after an outage the client's monitor checks the server again at
        most every 0.5 s, and a call must be able to wait for that.
        """
        parts = urlsplit(self.target_url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        options = "directConnection=true&serverSelectionTimeoutMS=2000"
        query = f"{parts.query}&{options}" if parts.query else options
        return urlunsplit((parts.scheme, netloc, parts.path or "/", query, ""))


@pytest.mark.filterwarnings(
    # As above: the client's monitor retries the server while it is away.
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.usefixtures("collect_garbage")
async def test_the_stores_raise_store_unavailable_while_mongodb_is_away_then_recover(
    mongo_url: str, database: AsyncDatabase[Document]
) -> None:
    proxy = _Proxy(mongo_url)
    created, validated = (
        event("job-1", EventType.CREATED, 1),
        event("job-1", EventType.VALIDATED, 2),
    )
    record = dead_letter("poison", b"\xff", 1)

    with anyio.fail_after(_DEADLINE_S):
        async with anyio.create_task_group() as tg:
            await tg.start(proxy.run)
            async with (
                open_mongo_event_store(proxy.url, database=database.name) as events,
                open_mongo_dead_letter_store(proxy.url, database=database.name) as dead_letters,
            ):
                await events.append([created])
                await dead_letters.add([record])

                await proxy.stop()  # MongoDB goes away: listener and connections closed
                with pytest.raises(StoreUnavailable) as appending:
                    await events.append([validated])
                with pytest.raises(StoreUnavailable) as counting:
                    await dead_letters.count()
                away = (events.is_available(), dead_letters.is_available())

                await tg.start(proxy.run)  # MongoDB is back, on the same port
                appended = await events.append([created, validated])
                kept = await dead_letters.count()
                back = (events.is_available(), dead_letters.is_available())
                timeline = await events.events_for_job("job-1")
            await proxy.stop()

    for caught, store, action in (
        (appending, "event store", r"store events \(a batch of 1\)"),
        (counting, "dead-letter store", "count dead letters"),
    ):
        assert re.fullmatch(
            rf"The MongoDB {store} at {re.escape(proxy.url)} could not {action}: .+\. Check "
            r"that MongoDB is running and reachable; the call is safe to retry\.",
            str(caught.value),
            flags=re.DOTALL,
        )
        assert isinstance(caught.value.__cause__, pymongo.errors.PyMongoError)
    assert (away, back) == ((False, False), (True, True))
    assert appended == AppendResult(stored=1, duplicates=1)
    assert kept == 1
    assert timeline == [created, validated]
