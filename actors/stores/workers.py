"""Where processes say they are alive: the worker registry and its adapters.

Every processor and metrics-engine process writes a *beat* (a JSON object describing
itself, see :mod:`actors.pipeline.heartbeat`) every few seconds; the read model lists
them (``GET /workers``). The registry keeps the latest beat of each worker and when it was
written; it forgets a worker not seen for ``keep_s`` (an hour by default), so the list is
bounded. Whether a worker is alive is the reader's call (no beat for three of its
intervals: gone), not the store's.

=================================  ===============================================
adapter                            where the beats live
=================================  ===============================================
:class:`MemoryWorkerRegistry`      this process (``observatory up``: all in one)
:class:`RedisWorkerRegistry`       one Redis hash, ``<prefix>workers`` (serve mode,
                                   ``up --infra local``, Kubernetes): one ``HSET``
                                   per beat
=================================  ===============================================

Example::

    async with open_redis_worker_registry("redis://127.0.0.1:6379/0") as workers:
        await workers.beat("processor-host-12", {"service": "processor"}, seen_at=time.time())
        for sighting in await workers.sightings(since=time.time() - 3600):
            print(sighting.worker_id, sighting.seen_at)
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio.lowlevel

from actors.errors import DependencyUnavailable, InvalidMessage, StoreUnavailable
from actors.stores._redis_connection import RedisHealth, open_redis_store
from actors.stores.names import DEFAULT_REDIS_PREFIX, WORKERS_KEY
from contracts import dump_json, parse_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import coredis

    from actors.kernel.connection import Connection

__all__ = [
    "DeferredWorkerRegistry",
    "MemoryWorkerRegistry",
    "RedisWorkerRegistry",
    "WorkerRegistry",
    "WorkerSighting",
    "open_redis_worker_registry",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerSighting:
    """The latest beat of one worker."""

    worker_id: str
    """The worker's id (service, host and pid)."""
    beat: Mapping[str, object]
    """What the worker said about itself, as it wrote it."""
    seen_at: float
    """When the beat was written (Unix time, the worker's clock)."""


class WorkerRegistry(Protocol):
    """The latest beat of every worker seen lately."""

    async def beat(self, worker_id: str, beat: Mapping[str, object], *, seen_at: float) -> None:
        """Keep ``beat`` as the latest of ``worker_id``, written at ``seen_at``.

        Raises:
            StoreUnavailable: the store cannot be reached (the next beat tries again).
        """
        ...

    async def sightings(self, *, since: float) -> list[WorkerSighting]:
        """Every worker seen at or after ``since``, by id; older ones are forgotten.

        Raises:
            StoreUnavailable: the store cannot be reached.
        """
        ...


class MemoryWorkerRegistry:
    """A :class:`WorkerRegistry` in this process's memory (the embedded adapter)."""

    def __init__(self) -> None:
        self._latest: dict[str, WorkerSighting] = {}

    def __repr__(self) -> str:
        return f"<MemoryWorkerRegistry workers={len(self._latest)}>"

    def is_available(self) -> bool:
        """Always: nothing to connect to."""
        return True

    async def beat(self, worker_id: str, beat: Mapping[str, object], *, seen_at: float) -> None:
        """Keep ``beat`` (a copy) as the latest of ``worker_id``."""
        await anyio.lowlevel.checkpoint()
        self._latest[worker_id] = WorkerSighting(worker_id, dict(beat), seen_at)

    async def sightings(self, *, since: float) -> list[WorkerSighting]:
        """Every worker seen at or after ``since``; forgets the others."""
        await anyio.lowlevel.checkpoint()
        for worker_id in [w for w, s in self._latest.items() if s.seen_at < since]:
            del self._latest[worker_id]
        return [self._latest[worker_id] for worker_id in sorted(self._latest)]


class RedisWorkerRegistry:
    """A :class:`WorkerRegistry` in one Redis hash: field = worker id, value = JSON.

    Opened and closed by :func:`open_redis_worker_registry`. A beat is one ``HSET``; a
    listing is one ``HGETALL`` (plus one ``HDEL`` when workers are to be forgotten). The
    hash holds one small field per worker seen within the reader's window, so it stays
    small whatever the uptime.

    Error handling:
        A call that cannot reach Redis raises :class:`StoreUnavailable` and makes
        :meth:`is_available` false until a call succeeds again.
    """

    def __init__(self, client: coredis.Redis[str], *, url: str, prefix: str) -> None:
        self._client = client
        self._health = RedisHealth(
            url,
            store="workers",
            description="worker registry",
            advice="the call is safe to retry.",
            log=log,
        )
        self._url = self._health.url
        self._key = prefix + WORKERS_KEY

    def __repr__(self) -> str:
        return f"<RedisWorkerRegistry url={self._url!r} key={self._key!r}>"

    def is_available(self) -> bool:
        """``False`` after a call could not reach Redis, until a call succeeds again."""
        return self._health.available

    async def beat(self, worker_id: str, beat: Mapping[str, object], *, seen_at: float) -> None:
        """Keep ``beat`` as the latest of ``worker_id``: one ``HSET``."""
        value = dump_json({"seenAt": seen_at, "beat": dict(beat)}).decode()
        with self._health.failures(f"record the beat of worker {worker_id!r}"):
            await self._client.hset(self._key, {worker_id: value})

    async def sightings(self, *, since: float) -> list[WorkerSighting]:
        """Every worker seen at or after ``since``; the others are deleted from the hash."""
        with self._health.failures("list the workers"):
            fields = await self._client.hgetall(self._key)
        found: list[WorkerSighting] = []
        stale: list[str] = []
        for worker_id, value in fields.items():
            sighting = _parse(worker_id, value)
            if sighting is None or sighting.seen_at < since:
                stale.append(worker_id)
            else:
                found.append(sighting)
        if stale:
            with self._health.failures("forget workers gone for long"):
                await self._client.hdel(self._key, stale)
        return sorted(found, key=lambda s: s.worker_id)


def _parse(worker_id: str, value: str) -> WorkerSighting | None:
    """The sighting stored in one field, or ``None`` when it is not ours (it is dropped)."""
    try:
        document = parse_json(value)
    except InvalidMessage:
        return None
    if not isinstance(document, dict):
        return None
    seen_at, beat = document.get("seenAt"), document.get("beat")
    if not isinstance(seen_at, int | float) or not isinstance(beat, dict):
        return None
    return WorkerSighting(worker_id, beat, float(seen_at))


@asynccontextmanager
async def open_redis_worker_registry(
    url: str, *, prefix: str = DEFAULT_REDIS_PREFIX
) -> AsyncIterator[RedisWorkerRegistry]:
    """Open the worker registry kept in Redis at ``url`` under the key prefix ``prefix``.

    Resource handling:
        The client and its connections are closed when the context exits.

    Raises:
        StoreUnavailable: Redis cannot be reached when opening.
    """
    async with open_redis_store(
        url,
        lambda client: RedisWorkerRegistry(client, url=url, prefix=prefix),
        store="workers",
        prefix=prefix,
        log=log,
    ) as registry:
        yield registry


class DeferredWorkerRegistry:
    """A :class:`WorkerRegistry` that is a connection's open registry (serve mode).

    A call while the server is not connected raises :class:`StoreUnavailable` at once.
    """

    def __init__(self, connection: Connection[RedisWorkerRegistry]) -> None:
        self._connection = connection

    def _registry(self) -> RedisWorkerRegistry:
        try:
            return self._connection.get()
        except DependencyUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None

    def is_available(self) -> bool:
        """Whether the registry is connected and usable."""
        return self._connection.available()

    async def beat(self, worker_id: str, beat: Mapping[str, object], *, seen_at: float) -> None:
        """Forwarded to the connected registry."""
        await self._registry().beat(worker_id, beat, seen_at=seen_at)

    async def sightings(self, *, since: float) -> list[WorkerSighting]:
        """Forwarded to the connected registry."""
        return await self._registry().sightings(since=since)
