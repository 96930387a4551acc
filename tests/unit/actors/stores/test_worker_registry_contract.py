"""The worker registry contract: the in-memory and the Redis adapter keep the same beats."""

from __future__ import annotations

from typing import TYPE_CHECKING

import coredis
import pytest

from actors.stores.names import WORKERS_KEY
from actors.stores.workers import MemoryWorkerRegistry, open_redis_worker_registry
from tests.redis_keys import own_redis_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from actors.stores.workers import WorkerRegistry

pytestmark = pytest.mark.timeout(20)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def workers(request: pytest.FixtureRequest) -> AsyncIterator[WorkerRegistry]:
    """An empty registry."""
    if request.param == "memory":
        yield MemoryWorkerRegistry()
        return
    url: str = request.getfixturevalue("redis_url")
    async with (
        own_redis_prefix(url) as prefix,
        open_redis_worker_registry(url, prefix=prefix) as registry,
    ):
        yield registry


async def test_an_empty_registry_lists_nobody(workers: WorkerRegistry) -> None:
    assert await workers.sightings(since=0.0) == []


async def test_the_latest_beat_of_each_worker_is_kept(workers: WorkerRegistry) -> None:
    await workers.beat("processor-a", {"service": "processor", "done": 1}, seen_at=100.0)
    await workers.beat("metrics-engine-a", {"service": "metrics-engine"}, seen_at=101.0)
    await workers.beat("processor-a", {"service": "processor", "done": 2}, seen_at=102.5)

    found = await workers.sightings(since=0.0)

    assert [(s.worker_id, dict(s.beat), s.seen_at) for s in found] == [
        ("metrics-engine-a", {"service": "metrics-engine"}, 101.0),
        ("processor-a", {"service": "processor", "done": 2}, 102.5),
    ]


async def test_beats_keep_nested_json(workers: WorkerRegistry) -> None:
    beat = {"inFlight": [{"jobId": "j-1", "type": "echo"}], "actors": [], "pid": 7}
    await workers.beat("processor-b", beat, seen_at=5.0)

    (found,) = await workers.sightings(since=0.0)

    assert dict(found.beat) == beat


async def test_workers_not_seen_since_are_forgotten(workers: WorkerRegistry) -> None:
    await workers.beat("old", {"service": "processor"}, seen_at=10.0)
    await workers.beat("new", {"service": "processor"}, seen_at=20.0)

    assert [s.worker_id for s in await workers.sightings(since=15.0)] == ["new"]
    # Forgotten for good: a wider window does not bring it back.
    assert [s.worker_id for s in await workers.sightings(since=0.0)] == ["new"]


@pytest.mark.integration
async def test_redis_registry_keeps_one_hash_field_per_worker(redis_url: str) -> None:
    async with own_redis_prefix(redis_url) as prefix:
        async with open_redis_worker_registry(redis_url, prefix=prefix) as registry:
            await registry.beat("w-1", {"service": "processor"}, seen_at=1.0)
            await registry.beat("w-2", {"service": "processor"}, seen_at=1.0)
        async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
            assert sorted(await client.hkeys(prefix + WORKERS_KEY)) == ["w-1", "w-2"]
            # A field that is not ours is dropped, not fatal.
            await client.hset(prefix + WORKERS_KEY, {"junk": "not json"})
        async with open_redis_worker_registry(redis_url, prefix=prefix) as registry:
            assert [s.worker_id for s in await registry.sightings(since=0.0)] == ["w-1", "w-2"]
