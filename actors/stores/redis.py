"""Live counters in Redis, shared by every metrics-engine and read-model process (coredis 6).

A batch of events is counted by one Lua script, so :meth:`RedisCounters.apply` is one
round trip and atomic: a concurrent :meth:`~RedisCounters.snapshot` sees all of a batch or
none of it, and two processes applying overlapping batches count each event once. The key
layout is described in :mod:`actors.stores.names`.

Example::

    async with open_redis_counters("redis://127.0.0.1:6379/0") as counters:
        await counters.apply(events)
        stats = await counters.snapshot()
"""

from __future__ import annotations

import contextlib
import logging
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.lowlevel
from coredis.tokens import PureToken

from actors.domain.clock import utc_now
from actors.domain.stats import Stats, TypeStats, envelope_move
from actors.errors import CountersLost, StoreUnavailable
from actors.stores._redis_connection import REDIS_ERRORS, RedisHealth, open_redis_store
from actors.stores.memory import MemoryCounters
from actors.stores.names import (
    COMPLETED_JOBS_FIELD,
    COUNTED_KEY,
    DEFAULT_REDIS_PREFIX,
    EPOCH_KEY,
    FAILED_JOBS_FIELD,
    LAST_EVENT_TIME_FIELD,
    REBUILD_LOCK_KEY,
    STATS_KEY,
    TOTAL_JOBS_FIELD,
    TYPE_FIELD,
    TYPE_FIELD_COUNTERS,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    import coredis

    from actors.domain.events import Envelope
    from actors.stores._protocols import EventStore

__all__ = ["DEFAULT_DEDUPE_TTL_S", "RedisCounters", "open_redis_counters"]

log = logging.getLogger(__name__)

DEFAULT_DEDUPE_TTL_S = 14 * 24 * 60 * 60
"""How long an event id is remembered as counted: 14 days.

A redelivery comes seconds to hours after the first delivery (a consumer crashed before
its ack, a broker failed over), never weeks; the TTL keeps Redis's memory bounded (one
small key per counted event, two per job) instead of growing with every job ever
run. An event redelivered after the TTL would be counted again."""

# One call counts a whole batch. Atomic (Redis runs a script alone), and idempotent, so the
# client's automatic retry after a lost connection can never count an event twice.
#   KEYS[1]   the stats hash, KEYS[2] the epoch marker
#   KEYS[3..] one dedupe key per event of a counted type, in batch order
#   ARGV[1]   dedupe TTL in seconds
#   ARGV[2]   the lastEventTime field, ARGV[3] the batch's latest occurredAt
#   ARGV[3i-5], ARGV[3i-4], ARGV[3i-3] for KEYS[i] (i >= 3): the total field, the
#   per-type field and the delta (1, or -1 for a retried failure)
# Fixed-width timestamps compare as strings in time order, so lastEventTime only moves
# forward. Returns how many counted events were new, or -1 (nothing done) when the epoch
# marker is gone: Redis lost the counters, which must be rebuilt first.
_APPLY_SCRIPT = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
local stats = KEYS[1]
local current = redis.call('HGET', stats, ARGV[2])
if not current or ARGV[3] > current then
  redis.call('HSET', stats, ARGV[2], ARGV[3])
end
local new = 0
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('HINCRBY', stats, ARGV[3 * i - 5], ARGV[3 * i - 3])
    redis.call('HINCRBY', stats, ARGV[3 * i - 4], ARGV[3 * i - 3])
    new = new + 1
  end
end
return new
"""

_REBUILD_CHUNK = 1000
"""Dedupe keys written per round trip while rebuilding."""
_REBUILD_LOCK_TTL_S = 300

_TOTAL_FIELDS = {
    "total": TOTAL_JOBS_FIELD,
    "completed": COMPLETED_JOBS_FIELD,
    "failed": FAILED_JOBS_FIELD,
}
"""For each counter a :class:`~actors.domain.stats.CounterMove` names: its stats field."""

assert frozenset(_TOTAL_FIELDS) == frozenset(TYPE_FIELD_COUNTERS), "every counter needs a field"


class RedisCounters:
    """A :class:`~actors.stores.Counters` in Redis, following :mod:`actors.domain.stats`.

    Opened and closed by :func:`open_redis_counters`. Safe to share between tasks and
    between processes: every call is one atomic server-side operation.

    Error handling:
        A call that cannot reach Redis raises :class:`StoreUnavailable` and makes
        :meth:`is_available` false (one WARNING line per loss) until a call succeeds
        again. The client reconnects by itself (and retries a command twice when its
        connection was lost), so after Redis comes back the next call works; callers
        retry with backoff.
    """

    def __init__(
        self, client: coredis.Redis[str], *, url: str, prefix: str, dedupe_ttl_s: int
    ) -> None:
        self._client = client
        self._health = RedisHealth(
            url,
            store="counters",
            description="counters",
            advice="the call is safe to retry.",
            log=log,
        )
        self._url = self._health.url
        self._prefix = prefix
        self._stats_key = prefix + STATS_KEY
        self._epoch_key = prefix + EPOCH_KEY
        self._lock_key = prefix + REBUILD_LOCK_KEY
        self._rebuilding = anyio.Lock()
        self._dedupe_ttl_s = dedupe_ttl_s
        # EVALSHA, falling back to SCRIPT LOAD when the server lost its script cache
        # (after a restart); loaded once when the counters are opened.
        self._script = client.register_script(_APPLY_SCRIPT)

    def __repr__(self) -> str:
        return (
            f"<RedisCounters url={self._url!r} prefix={self._prefix!r} "
            f"available={self._health.available}>"
        )

    def is_available(self) -> bool:
        """``False`` after a call could not reach Redis, until a call succeeds again."""
        return self._health.available

    @property
    def prefix(self) -> str:
        """The prefix of every key these counters write."""
        return self._prefix

    async def apply(self, events: Sequence[Envelope]) -> int:
        """Count ``events`` in one round trip; an ``eventId`` already counted is skipped.

        Events of every type move ``lastEventTime`` forward; events that move a counter
        (:func:`~actors.domain.stats.counter_move`) are counted once per ``eventId``
        (remembered for :data:`DEFAULT_DEDUPE_TTL_S` unless opened otherwise).

        Returns:
            How many events changed a counter (new events of a counted type), as
            :meth:`MemoryCounters.apply <actors.stores.MemoryCounters.apply>`. After a
            lost connection the client resends the batch; when the first attempt had
            already counted it, the number reported is lower, the counters are right.

        Raises:
            StoreUnavailable: Redis cannot be reached; the batch was counted entirely or
                not at all (retrying it is safe).

        Cancellation:
            A call cancelled after the script was sent may still have counted the batch;
            applying it again counts nothing twice.
        """
        if not events:
            await anyio.lowlevel.checkpoint()
            return 0
        keys = [self._stats_key, self._epoch_key]
        args: list[str | int] = [self._dedupe_ttl_s, LAST_EVENT_TIME_FIELD]
        args.append(max(event.occurred_at for event in events))
        for event in events:
            move = envelope_move(event)
            if move is None:
                continue
            keys.append(self._prefix + COUNTED_KEY.format(event_id=event.event_id))
            args.append(_TOTAL_FIELDS[move.counter])
            args.append(TYPE_FIELD.format(job_type=event.job_type, counter=move.counter))
            args.append(move.delta)
        with self._health.failures(f"count events (a batch of {len(events)})"):
            new: object = await self._script(keys=keys, args=args)
        if not isinstance(new, int):  # pragma: no cover - the script returns an integer
            raise TypeError(f"The counting script returned {new!r}, not an integer.")
        if new < 0:
            raise CountersLost(
                f"The Redis counters at {self._url} (prefix {self._prefix!r}) were lost (no "
                f"{self._epoch_key!r} marker: Redis restarted without its data); rebuild them "
                "from the event store."
            )
        return new

    async def lost(self) -> bool:
        """Whether the epoch marker is gone (Redis lost the counters).

        Raises:
            StoreUnavailable: Redis cannot be reached.
        """
        with self._health.failures("check the counters' epoch"):
            return not await self._client.exists([self._epoch_key])

    async def initialize(self) -> bool:
        """Mark empty counters as whole (a new deployment); ``False`` if any counter exists.

        Raises:
            StoreUnavailable: Redis cannot be reached.
        """
        with self._health.failures("initialize the counters"):
            if await self._client.exists([self._stats_key]):
                return False
            await self._client.set(self._epoch_key, utc_now(), condition=PureToken.NX)
        return True

    async def rebuild(self, events: EventStore) -> None:
        """Replace the counters with the replay of every event in ``events``, then mark them
        whole. One process rebuilds at a time (a lock key); counting waits until it is done.

        Raises:
            StoreUnavailable: Redis or the event store cannot be reached, or another
                process is rebuilding right now (retry shortly).
        """
        async with self._rebuilding:
            if not await self.lost():
                return  # another task or process rebuilt them meanwhile
            with self._health.failures("take the rebuild lock"):
                locked = await self._client.set(
                    self._lock_key, "1", condition=PureToken.NX, ex=_REBUILD_LOCK_TTL_S
                )
            if not locked:
                raise StoreUnavailable(
                    f"Another process is rebuilding the Redis counters at {self._url}; retry."
                )
            try:
                await self._rebuild(events)
            finally:
                with (
                    contextlib.suppress(StoreUnavailable),
                    self._health.failures("release the lock"),
                ):
                    await self._client.delete([self._lock_key])

    async def _rebuild(self, events: EventStore) -> None:
        started = time.perf_counter()
        replayed = MemoryCounters()
        await replayed.rebuild(events)
        stats = await replayed.snapshot()
        counted = replayed.counted_ids()
        fields: dict[str, str | int] = {
            TOTAL_JOBS_FIELD: stats.total_jobs,
            COMPLETED_JOBS_FIELD: stats.completed_jobs,
            FAILED_JOBS_FIELD: stats.failed_jobs,
        }
        if stats.last_event_time is not None:
            fields[LAST_EVENT_TIME_FIELD] = stats.last_event_time
        for job_type, type_stats in stats.by_type.items():
            for counter in TYPE_FIELD_COUNTERS:
                field = TYPE_FIELD.format(job_type=job_type, counter=counter)
                fields[field] = getattr(type_stats, counter)
        ids = sorted(counted)
        with self._health.failures("rebuild the counters"):
            for start in range(0, len(ids), _REBUILD_CHUNK):
                async with self._client.pipeline(transaction=False) as pipe:
                    for event_id in ids[start : start + _REBUILD_CHUNK]:
                        key = self._prefix + COUNTED_KEY.format(event_id=event_id)
                        pipe.set(key, "1", ex=self._dedupe_ttl_s)
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete([self._stats_key])
                pipe.hset(self._stats_key, fields)
                pipe.set(self._epoch_key, utc_now())
        log.warning(
            "counters.rebuilt prefix=%s jobs=%d completed=%d failed=%d events=%d seconds=%.2f",
            self._prefix,
            stats.total_jobs,
            stats.completed_jobs,
            stats.failed_jobs,
            len(ids),
            time.perf_counter() - started,
        )

    async def snapshot(self) -> Stats:
        """The counters now, read in one round trip (one ``HGETALL``, so never half a batch).

        Raises:
            StoreUnavailable: Redis cannot be reached.
        """
        with self._health.failures("read the counters"):
            fields = await self._client.hgetall(self._stats_key)
        return _stats(fields)

    async def _load_script(self) -> None:
        """Load the counting script into Redis's script cache (once, when opened)."""
        try:
            await self._client.script_load(_APPLY_SCRIPT)
        except REDIS_ERRORS as exc:
            # Not a loss of availability: the caller opening the counters logs its retries.
            raise self._health.unavailable("load the counting script", exc) from exc


def _stats(fields: Mapping[str, str]) -> Stats:
    """Rebuild a :class:`Stats` from the stats hash (missing fields are zero)."""
    by_type: dict[str, TypeStats] = {}
    type_prefix = TYPE_FIELD.split("{", 1)[0]
    for name, value in fields.items():
        if not name.startswith(type_prefix):
            continue
        job_type, _, counter = name[len(type_prefix) :].rpartition(":")
        if counter not in TYPE_FIELD_COUNTERS:  # pragma: no cover - written by a newer version
            continue
        setattr(by_type.setdefault(job_type, TypeStats()), counter, int(value))
    return Stats(
        total_jobs=int(fields.get(TOTAL_JOBS_FIELD, 0)),
        completed_jobs=int(fields.get(COMPLETED_JOBS_FIELD, 0)),
        failed_jobs=int(fields.get(FAILED_JOBS_FIELD, 0)),
        last_event_time=fields.get(LAST_EVENT_TIME_FIELD),
        by_type=by_type,
    )


@asynccontextmanager
async def open_redis_counters(
    url: str,
    *,
    prefix: str = DEFAULT_REDIS_PREFIX,
    dedupe_ttl_s: int = DEFAULT_DEDUPE_TTL_S,
) -> AsyncIterator[RedisCounters]:
    """Open the counters kept in Redis at ``url`` under the key prefix ``prefix``.

    Args:
        url: a ``redis://`` (or ``rediss://``, ``unix://``) URL; its path or ``?db=``
            chooses the database, ``?client_name=`` names the connections (shown by
            ``CLIENT LIST``).
        prefix: prefix of every key written; see :data:`~actors.stores.names.DEFAULT_REDIS_PREFIX`.
        dedupe_ttl_s: how long an event id is remembered as counted; see
            :data:`DEFAULT_DEDUPE_TTL_S`.

    Resource handling:
        The client and its connections are closed when the context exits. coredis runs
        its connections in a task group that encloses the body, so an exception leaving
        the body arrives wrapped in an ``ExceptionGroup`` (handle it with ``except*``);
        a failure to open is raised as it is.

    Raises:
        StoreUnavailable: Redis cannot be reached to load the counting script.
        ValueError: ``dedupe_ttl_s`` is not positive.
    """
    if dedupe_ttl_s <= 0:
        raise ValueError(f"dedupe_ttl_s must be positive, not {dedupe_ttl_s}.")
    async with open_redis_store(
        url,
        lambda client: RedisCounters(client, url=url, prefix=prefix, dedupe_ttl_s=dedupe_ttl_s),
        store="counters",
        prefix=prefix,
        log=log,
        ready=RedisCounters._load_script,
    ) as counters:
        yield counters
