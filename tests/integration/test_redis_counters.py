"""What only the Redis counters do: atomic batches, one round trip, recovery, translated errors.

The behaviour every counters adapter shares is in
``tests/unit/actors/stores/test_counters_contract.py`` (its ``redis`` param).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import coredis
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from actors.domain.events import Envelope, EventType
from actors.domain.stats import Stats, TypeStats
from actors.errors import StoreUnavailable
from actors.stores.names import COUNTED_KEY, STATS_KEY
from actors.stores.redis import DEFAULT_DEDUPE_TTL_S, RedisCounters, open_redis_counters
from tests.integration.tcp_proxy import TcpProxy, closed_port
from tests.redis_keys import ignore_coredis_leaks
from tests.store_events import event, ts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path


pytestmark = pytest.mark.integration

_DEADLINE_S = 10
"""Bound of every wait on Redis in these tests."""


def lifecycle(job_id: str, at_s: float, *, failed: bool = False) -> list[Envelope]:
    """A job's four events: created, validated, executed, then completed or failed."""
    terminal = EventType.FAILED if failed else EventType.COMPLETED
    return [
        event(job_id, EventType.CREATED, at_s),
        event(job_id, EventType.VALIDATED, at_s + 0.1),
        event(job_id, EventType.EXECUTED, at_s + 0.2),
        event(job_id, terminal, at_s + 0.3),
    ]


def with_client_name(url: str, name: str) -> str:
    """``url`` naming its connections ``name`` (shown by ``CLIENT LIST``)."""
    return f"{url}{'&' if urlsplit(url).query else '?'}client_name={name}"


@pytest.fixture
def open_counters(
    redis_url: str, redis_prefix: str
) -> Callable[..., AbstractAsyncContextManager[RedisCounters]]:
    """Opens counters under the test's prefix; ``url`` and options may be overridden."""

    @contextlib.asynccontextmanager
    async def open_(url: str = redis_url, **options: int) -> AsyncIterator[RedisCounters]:
        async with open_redis_counters(url, prefix=redis_prefix, **options) as counters:
            with contextlib.suppress(StoreUnavailable):
                await counters.initialize()  # a new deployment: empty counters are whole
            yield counters

    return open_


async def test_a_redelivered_batch_counts_nothing_twice(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
    redis_admin: coredis.Redis[str],
    redis_prefix: str,
) -> None:
    batch = [*lifecycle("job-1", 1), *lifecycle("job-2", 2, failed=True), *lifecycle("job-3", 3)]

    with anyio.fail_after(_DEADLINE_S):
        async with open_counters() as counters:
            first = await counters.apply(batch)
            before = await counters.snapshot()
            again = await counters.apply(batch)
            reversed_again = await counters.apply(batch[::-1])
            after = await counters.snapshot()
        ttl_s = await redis_admin.ttl(
            redis_prefix + COUNTED_KEY.format(event_id=batch[1].event_id)  # job-1's validated
        )
        stats_ttl_s = await redis_admin.ttl(redis_prefix + STATS_KEY)

    assert (first, again, reversed_again) == (6, 0, 0)
    assert (
        after
        == before
        == Stats(
            total_jobs=3,
            completed_jobs=2,
            failed_jobs=1,
            last_event_time=ts(3.3),
            by_type={"echo": TypeStats(total=3, completed=2, failed=1)},
        )
    )
    assert 0 < ttl_s <= DEFAULT_DEDUPE_TTL_S, "dedupe keys expire"
    assert stats_ttl_s == -1, "the counters themselves never expire"


async def test_the_dedupe_ttl_can_be_chosen(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
    redis_admin: coredis.Redis[str],
    redis_prefix: str,
) -> None:
    validated = event("job-1", EventType.VALIDATED, 1)

    with anyio.fail_after(_DEADLINE_S):
        async with open_counters(dedupe_ttl_s=60) as counters:
            await counters.apply([validated])
        ttl_s = await redis_admin.ttl(
            redis_prefix + COUNTED_KEY.format(event_id=validated.event_id)
        )

    assert 0 < ttl_s <= 60


async def test_a_dedupe_ttl_that_is_not_positive_is_refused(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
) -> None:
    with pytest.raises(ValueError, match=r"^dedupe_ttl_s must be positive, not 0\.$"):
        async with open_counters(dedupe_ttl_s=0):
            pass  # pragma: no cover


async def test_concurrent_overlapping_batches_count_each_event_once(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
) -> None:
    # Two clients, as two metrics-engine processes would be; the batches share 150 jobs.
    validated = [event(f"job-{n:03d}", EventType.VALIDATED, n) for n in range(450)]
    first_batch, second_batch = validated[:300], validated[150:]
    results: dict[str, int] = {}

    async def apply(name: str, counters: RedisCounters, batch: list[Envelope]) -> None:
        results[name] = await counters.apply(batch)

    with anyio.fail_after(_DEADLINE_S):
        async with open_counters() as one, open_counters() as two:
            async with anyio.create_task_group() as tg:
                tg.start_soon(apply, "one", one, first_batch)
                tg.start_soon(apply, "two", two, second_batch)
            stats = await one.snapshot()

    assert results["one"] + results["two"] == 450
    # Scripts run one at a time: whichever ran second found its 150 shared jobs counted.
    assert sorted(results.values()) == [150, 300]
    assert stats.total_jobs == 450
    assert stats.by_type == {"echo": TypeStats(total=450)}
    assert stats.last_event_time == ts(449)


class _Monitor:
    """Redis's ``MONITOR`` feed: every command the server runs, in order."""

    def __init__(self, lines: BufferedByteReceiveStream) -> None:
        self._lines = lines

    async def lines_until(self, marker: str) -> list[str]:
        """The lines up to (without) the first that contains ``marker``."""
        seen: list[str] = []
        while True:
            line = (await self._lines.receive_until(b"\r\n", 1 << 24)).decode()
            if marker in line:
                return seen
            seen.append(line)


@asynccontextmanager
async def monitor(url: str) -> AsyncIterator[_Monitor]:
    parts = urlsplit(url)
    async with await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 6379) as sock:
        await sock.send(b"MONITOR\r\n")
        lines = BufferedByteReceiveStream(sock)
        assert await lines.receive_until(b"\r\n", 1024) == b"+OK"
        yield _Monitor(lines)


async def test_each_batch_is_one_command(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
    redis_admin: coredis.Redis[str],
    redis_url: str,
    redis_prefix: str,
) -> None:
    batches = [
        [event_ for n in range(25) for event_ in lifecycle(f"b{batch}-job-{n}", n)]
        for batch in range(4)
    ]
    marker = f"end-of-test-{uuid.uuid4().hex}"

    with anyio.fail_after(_DEADLINE_S):
        async with open_counters() as counters, monitor(redis_url) as feed:
            for batch in batches:
                await counters.apply(batch)
            await counters.snapshot()
            await redis_admin.echo(marker)
            lines = await feed.lines_until(marker)

    # Commands a client sent that name the test's keys; the script's own calls show up
    # as "[<db> lua]" and are not round trips.
    sent = [line for line in lines if redis_prefix in line and not re.search(r"\[\d+ lua\]", line)]
    commands = [line.split('"')[1].upper() for line in sent]
    assert commands == ["EVALSHA"] * len(batches) + ["HGETALL"], "one round trip per batch"
    # Only this test's keys: other clients of the shared server may run scripts too.
    script_sets = [line for line in lines if re.search(r"\[\d+ lua\] \"SET\"", line)]
    assert sum(1 for line in script_sets if redis_prefix in line) == 4 * 50


async def test_counting_resumes_after_its_connections_are_killed(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
    redis_admin: coredis.Redis[str],
    redis_url: str,
) -> None:
    name = f"test-{uuid.uuid4().hex[:12]}"

    async def connection_ids() -> set[int]:
        return {int(info["id"]) for info in await redis_admin.client_list() if info["name"] == name}

    with anyio.fail_after(_DEADLINE_S):
        async with open_counters(with_client_name(redis_url, name)) as counters:
            assert await counters.apply(lifecycle("job-1", 1)) == 2
            killed = await connection_ids()
            for connection_id in killed:
                await redis_admin.client_kill(identifier=connection_id)
            # What a restart also does: the server forgets its scripts.
            await redis_admin.script_flush()

            counted = await counters.apply([*lifecycle("job-1", 1), *lifecycle("job-2", 2)])
            stats = await counters.snapshot()
            available = counters.is_available()
            reconnected = await connection_ids()

    assert killed, "the counters had connections to kill"
    assert counted == 2, "job-1 was counted before the kill, job-2 after"
    assert (stats.total_jobs, stats.completed_jobs) == (2, 2)
    assert available
    assert reconnected, "the client reconnected"
    assert not reconnected & killed


@ignore_coredis_leaks
@pytest.mark.usefixtures("failing_redis_connections")
async def test_an_unreachable_redis_fails_opening_with_the_url_redacted(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
) -> None:
    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"
    redacted = re.escape(url.replace("s3cret", "***"))

    with anyio.fail_after(_DEADLINE_S):
        # Raised as it is, not in an ExceptionGroup: a Connection retrying the open
        # catches StoreUnavailable.
        with pytest.raises(
            StoreUnavailable,
            match=rf"^The Redis counters at {redacted} could not load the counting script: "
            r".+\. Check that Redis is running and reachable; the call is safe to retry\.$",
        ) as caught:
            async with open_counters(url):
                pass  # pragma: no cover

    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value.__cause__, coredis.exceptions.ConnectionError)


class _Proxy(TcpProxy):
    """A TCP proxy in front of Redis that can be taken away and brought back (a restart)."""

    def __init__(self, target: str) -> None:
        super().__init__(target, default_port=6379)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{urlsplit(self.target_url).path}"


@ignore_coredis_leaks
@pytest.mark.usefixtures("failing_redis_connections")
async def test_counters_raise_store_unavailable_while_redis_is_away_then_recover(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
    redis_url: str,
) -> None:
    proxy = _Proxy(redis_url)
    message = (
        rf"^The Redis counters at {re.escape(proxy.url)} could not count events \(a batch of 4\): .+\. "
        r"Check that Redis is running and reachable; the call is safe to retry\.$"
    )

    with anyio.fail_after(_DEADLINE_S):
        async with anyio.create_task_group() as tg:
            await tg.start(proxy.run)
            async with open_counters(proxy.url) as counters:
                assert await counters.apply(lifecycle("job-1", 1)) == 2

                await proxy.stop()  # Redis goes away: listener and connections closed
                with pytest.raises(StoreUnavailable, match=message) as caught:
                    await counters.apply(lifecycle("job-2", 2))
                away = counters.is_available()

                await tg.start(proxy.run)  # Redis is back, on the same port
                counted = await counters.apply(lifecycle("job-2", 2))
                back = counters.is_available()
                stats = await counters.snapshot()
            await proxy.stop()

    assert isinstance(caught.value.__cause__, coredis.exceptions.RedisError | OSError)
    assert (away, back) == (False, True)
    assert counted == 2
    assert (stats.total_jobs, stats.completed_jobs) == (2, 2)


async def test_counters_lost_with_redis_are_refused_then_rebuilt_from_the_trail(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
    redis_admin: coredis.Redis[str],
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    from actors.errors import CountersLost
    from actors.stores.sqlite import open_sqlite_event_store

    trail = [
        event(f"job-{i}", kind, float(i))
        for i in range(30)
        for kind in (
            EventType.CREATED,
            EventType.VALIDATED,
            EventType.COMPLETED if i % 3 else EventType.FAILED,
        )
    ]
    async with (
        open_sqlite_event_store(tmp_path / "e.sqlite3") as events,
        open_counters() as counters,
    ):
        await events.append(trail)
        assert await counters.apply(trail) == 60
        before = await counters.snapshot()
        # Redis restarts without persistence: every key of ours is gone.
        keys = [key async for key in redis_admin.scan_iter(match=f"{redis_prefix}*")]
        await redis_admin.delete(keys)
        assert await counters.lost()
        late = [event("job-late", EventType.VALIDATED, 99.0)]
        with pytest.raises(CountersLost, match="rebuild them from the event store"):
            await counters.apply(late)
        assert await counters.snapshot() == Stats()  # nothing counted meanwhile
        await events.append(late)
        await counters.rebuild(events)
        assert not await counters.lost()
        rebuilt = await counters.snapshot()
        assert rebuilt.total_jobs == before.total_jobs + 1
        assert (rebuilt.completed_jobs, rebuilt.failed_jobs) == (
            before.completed_jobs,
            before.failed_jobs,
        )
        assert rebuilt.by_type["echo"] == TypeStats(total=31, completed=20, failed=10)
        # What the rebuild replayed is remembered as counted: a redelivery counts nothing.
        assert await counters.apply([*trail, *late]) == 0
        assert await counters.snapshot() == rebuilt
        # Rebuilding whole counters does nothing.
        await counters.rebuild(events)
        assert await counters.snapshot() == rebuilt


async def test_one_process_rebuilds_at_a_time(
    open_counters: Callable[..., AbstractAsyncContextManager[RedisCounters]],
    redis_admin: coredis.Redis[str],
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    from actors.stores.names import EPOCH_KEY, REBUILD_LOCK_KEY
    from actors.stores.sqlite import open_sqlite_event_store

    async with (
        open_sqlite_event_store(tmp_path / "e.sqlite3") as events,
        open_counters() as counters,
    ):
        await redis_admin.delete([redis_prefix + EPOCH_KEY])
        await redis_admin.set(redis_prefix + REBUILD_LOCK_KEY, "1", ex=30)
        with pytest.raises(StoreUnavailable, match="Another process is rebuilding"):
            await counters.rebuild(events)
        await redis_admin.delete([redis_prefix + REBUILD_LOCK_KEY])
        await counters.rebuild(events)
        assert not await counters.lost()
        assert await redis_admin.exists([redis_prefix + REBUILD_LOCK_KEY]) == 0
