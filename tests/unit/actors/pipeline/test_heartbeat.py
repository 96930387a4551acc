"""The heartbeat actor, and the beats of the processor and the metrics engine."""

from __future__ import annotations

import logging
import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker.memory import open_memory_broker
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry, JobContext
from actors.errors import ConfigError, StoreUnavailable
from actors.metrics_engine.service import MetricsEngineService
from actors.observability.prometheus import create_registry
from actors.pipeline.heartbeat import Heartbeat, WorkerIdentity
from actors.processor.service import ProcessorService
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from actors.stores.workers import MemoryWorkerRegistry, WorkerSighting
from tests.pipeline import created_message

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from pathlib import Path

pytestmark = pytest.mark.timeout(30)

_IDENTITY = WorkerIdentity("processor", "host-1", "9.9.9", host="host", pid=42, started_at="t0")


async def _until(condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0) -> None:
    """Wait until ``condition`` holds: beats are written on a timer, so poll them."""
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _only(registry: MemoryWorkerRegistry) -> WorkerSighting | None:
    found = await registry.sightings(since=0.0)
    return found[0] if found else None


async def test_beats_say_who_and_what_then_stopped_on_a_graceful_stop() -> None:
    registry = MemoryWorkerRegistry()
    described = 0

    def describe() -> dict[str, object]:
        nonlocal described
        described += 1
        return {"done": described}

    heartbeat = Heartbeat(registry, _IDENTITY, describe, interval_s=0.01, clock=lambda: 123.0)
    async with anyio.create_task_group() as tg:
        await tg.start(heartbeat.run)

        async def beaten_twice() -> bool:
            return heartbeat.beats >= 2

        await _until(beaten_twice)
        heartbeat.request_stop()

    sighting = await _only(registry)
    assert sighting is not None
    assert sighting.worker_id == "processor-host-1"
    assert sighting.seen_at == 123.0
    assert dict(sighting.beat) == {
        "id": "processor-host-1",
        "service": "processor",
        "host": "host",
        "pid": 42,
        "version": "9.9.9",
        "startedAt": "t0",
        "intervalS": 0.01,
        "state": "stopped",
        "done": described,
    }


class _Flaky:
    """A registry that fails its first beats: away, then a bug, then fine."""

    def __init__(self) -> None:
        self.inner = MemoryWorkerRegistry()
        self.failures: list[BaseException] = [
            StoreUnavailable("Redis is away."),
            StoreUnavailable("Redis is away."),
            RuntimeError("a bug"),
        ]

    async def beat(self, worker_id: str, beat: Mapping[str, object], *, seen_at: float) -> None:
        if self.failures:
            raise self.failures.pop(0)
        await self.inner.beat(worker_id, beat, seen_at=seen_at)

    async def sightings(self, *, since: float) -> list[WorkerSighting]:
        return await self.inner.sightings(since=since)


async def test_a_failing_registry_skips_beats_and_never_stops_the_heartbeat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="actors.pipeline.heartbeat")
    registry = _Flaky()
    heartbeat = Heartbeat(registry, _IDENTITY, dict, interval_s=0.01)
    async with anyio.create_task_group() as tg:
        await tg.start(heartbeat.run)

        async def beaten() -> bool:
            return heartbeat.beats >= 1

        await _until(beaten)
        heartbeat.request_stop()

    assert registry.failures == []
    skipped = [r for r in caplog.records if r.getMessage().startswith("heartbeat.skipped")]
    assert len(skipped) == 1, "one line while the registry is away, not one per beat"
    assert any(r.getMessage().startswith("heartbeat.failed") for r in caplog.records)
    assert any(r.getMessage().startswith("heartbeat.resumed") for r in caplog.records)


async def test_the_services_beat_their_types_in_flight_jobs_counts_and_actors(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, prefetch=8, shutdown_s=2.0, heartbeat_s=0.02)
    handlers: HandlerRegistry = DEFAULT_REGISTRY.copy()
    release = anyio.Event()

    async def slow(job: JobContext) -> object:
        await release.wait()
        return {"ok": True}

    handlers.register("slow", slow)
    workers = MemoryWorkerRegistry()
    slow_id = str(uuid.uuid4())
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(open_memory_broker(None))
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(open_sqlite_dead_letter_store(tmp_path / "d.db"))
        await broker.declare_topology()
        registry = create_registry()
        engine = MetricsEngineService(
            broker, events, MemoryCounters(), dead, settings, registry=registry, workers=workers
        )
        processor = ProcessorService(
            broker, jobs, settings, handlers=handlers, registry=registry, workers=workers
        )
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await tg.start(processor.run)
            await broker.publish_batch(JOBS_CREATED, [created_message("slow", slow_id)])

            async def beats_the_slow_job() -> bool:
                found = {s.worker_id: s.beat for s in await workers.sightings(since=0.0)}
                beat = found.get(f"processor-{settings.instance_id}", {})
                return beat.get("inFlight") == [{"jobId": slow_id, "type": "slow"}]

            await _until(beats_the_slow_job)
            release.set()

            async def beats_done() -> bool:
                found = {s.worker_id: s.beat for s in await workers.sightings(since=0.0)}
                beat = found.get(f"processor-{settings.instance_id}", {})
                return beat.get("done") == 1 and beat.get("inFlightCount") == 0

            await _until(beats_done)
            processor.request_stop()
            engine.request_stop()

    found = {s.worker_id: s.beat for s in await workers.sightings(since=0.0)}
    beat = found[f"processor-{settings.instance_id}"]
    assert beat["state"] == "stopped"
    assert beat["service"] == "processor"
    types = beat["handlerTypes"]
    assert isinstance(types, list)
    assert "slow" in types
    assert "echo" in types
    assert beat["failed"] == 0
    actors = beat["actors"]
    assert isinstance(actors, list)
    assert {"processor/executor", "processor/validator", "processor/heartbeat"} <= {
        a["path"] for a in actors
    }
    engine_beat = found[f"metrics-engine-{settings.instance_id}"]
    assert engine_beat["state"] == "stopped"
    assert engine_beat["handlerTypes"] == []
    stored = engine_beat["done"]
    assert isinstance(stored, int)
    assert stored >= 1, "the engine stored the slow job's events"


def test_the_heartbeat_interval_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().heartbeat_s == 5.0
    monkeypatch.setenv("OBSERVATORY_HEARTBEAT_S", "0.5")

    assert Settings.from_env().heartbeat_s == 0.5
    monkeypatch.setenv("OBSERVATORY_HEARTBEAT_S", "0")
    with pytest.raises(
        ConfigError, match=r"^OBSERVATORY_HEARTBEAT_S must be positive, not 0\.0\.$"
    ):
        Settings.from_env()
    monkeypatch.setenv("OBSERVATORY_HEARTBEAT_S", "often")
    with pytest.raises(
        ConfigError, match=r"^OBSERVATORY_HEARTBEAT_S='often' is not a valid float\.$"
    ):
        Settings.from_env()
