"""Per-type token buckets in Redis, shared by every processor (``rate_limit``).

Each type with a ``rate_limit`` has one hash, ``<prefix>rate:<jobType>`` (see
:mod:`actors.stores.names`), holding its tokens and when they were counted, by Redis's own
clock (``TIME``), so processors on hosts whose clocks disagree still share one rate. A
validator batch asks for the tokens of all its rate-limited types in **one** Lua script
call (:meth:`RedisRateBuckets.take`), atomic: two processors asking at once never get the
same token. The in-process equivalent is
:class:`~actors.domain.rate_limits.MemoryRateBuckets`.

Example::

    async with open_redis_rate_buckets("redis://127.0.0.1:6379/0") as buckets:
        [grant] = await buckets.take([TokenRequest("resize", 10, 5.0)])
        grant.granted, grant.retry_after_s    # 5, 0.2 on a full bucket
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.rate_limits import Grant, bucket_capacity
from actors.errors import DependencyUnavailable, StoreUnavailable
from actors.stores._redis_connection import RedisHealth, open_redis_store
from actors.stores.names import DEFAULT_REDIS_PREFIX, RATE_BUCKET_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    import coredis

    from actors.domain.rate_limits import TokenRequest
    from actors.kernel.connection import Connection

__all__ = ["DeferredRateBuckets", "RedisRateBuckets", "open_redis_rate_buckets"]

log = logging.getLogger(__name__)

# One call takes the tokens of a whole batch, bucket by bucket, atomically.
#   KEYS[i]            the bucket of the i-th type asked for
#   ARGV[3i-2..3i]     its rate (tokens per second), capacity, and tokens wanted
# Time is Redis's (microseconds), so every processor counts with one clock. A bucket not
# seen yet is full. Returns, per bucket, the tokens granted and the microseconds until its
# next whole token (0 when one is left). Lua numbers are doubles: the tokens are stored
# as a string of the double, and the answers are whole numbers (floats would be truncated
# on the way back).
_TAKE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local answer = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 2])
  local capacity = tonumber(ARGV[3 * i - 1])
  local wanted = tonumber(ARGV[3 * i])
  local stored = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = capacity
  if stored[1] and stored[2] then
    local elapsed = math.max(0, now - tonumber(stored[2]))
    tokens = math.min(capacity, tonumber(stored[1]) + elapsed * rate / 1000000)
  end
  local granted = math.min(wanted, math.floor(tokens))
  tokens = tokens - granted
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  local full_in_ms = math.ceil((capacity - tokens) * 1000 / rate) + 1000
  redis.call('PEXPIRE', key, full_in_ms)
  local retry_after_us = 0
  if tokens < 1 then
    retry_after_us = math.ceil((1 - tokens) * 1000000 / rate)
  end
  answer[#answer + 1] = granted
  answer[#answer + 1] = retry_after_us
end
return answer
"""


class RedisRateBuckets:
    """:class:`~actors.domain.rate_limits.RateBuckets` in Redis, opened and closed by
    :func:`open_redis_rate_buckets`.

    Error handling:
        A call that cannot reach Redis raises :class:`StoreUnavailable` (nothing was
        taken, or, when the connection broke after the script ran, tokens were taken
        that nobody uses: the rate errs low, never high) and makes :meth:`is_available`
        false until a call succeeds again.
    """

    def __init__(self, client: coredis.Redis[str], *, url: str, prefix: str) -> None:
        self._client = client
        self._health = RedisHealth(
            url,
            store="rate_buckets",
            description="rate buckets",
            advice="rate-limited jobs wait meanwhile.",
            log=log,
        )
        self._url = self._health.url
        self._prefix = prefix + RATE_BUCKET_KEY
        self._script = client.register_script(_TAKE_SCRIPT)

    def __repr__(self) -> str:
        return f"<RedisRateBuckets url={self._url!r} prefix={self._prefix!r}>"

    def is_available(self) -> bool:
        """``False`` after a call could not reach Redis, until a call succeeds again."""
        return self._health.available

    def key(self, job_type: str) -> str:
        """The key of ``job_type``'s bucket."""
        return self._prefix + job_type

    async def take(self, requests: Sequence[TokenRequest]) -> list[Grant]:
        """Take the tokens of every request in one script call (see
        :meth:`RateBuckets.take <actors.domain.rate_limits.RateBuckets.take>`)."""
        if not requests:
            await anyio.lowlevel.checkpoint()
            return []
        keys = [self.key(request.job_type) for request in requests]
        args: list[str | int | float] = []
        for request in requests:
            args.extend(
                (request.rate_per_s, bucket_capacity(request.rate_per_s), max(0, request.count))
            )
        with self._health.failures(f"take the tokens of {len(requests)} rate-limited type(s)"):
            answer: object = await self._script(keys=keys, args=args)
        if not isinstance(answer, list) or len(answer) != 2 * len(requests):
            raise TypeError(f"The rate script returned {answer!r}, not two numbers per type.")
        return [
            Grant(int(answer[2 * i]), int(answer[2 * i + 1]) / 1_000_000)
            for i in range(len(requests))
        ]


@asynccontextmanager
async def open_redis_rate_buckets(
    url: str, *, prefix: str = DEFAULT_REDIS_PREFIX
) -> AsyncIterator[RedisRateBuckets]:
    """Open the token buckets kept in Redis at ``url`` under the key prefix ``prefix``.

    Resource handling:
        The client and its connections are closed when the context exits.

    Raises:
        StoreUnavailable: Redis cannot be reached when opening.
    """
    async with open_redis_store(
        url,
        lambda client: RedisRateBuckets(client, url=url, prefix=prefix),
        store="rate_buckets",
        prefix=prefix,
        log=log,
    ) as buckets:
        yield buckets


class DeferredRateBuckets:
    """Rate buckets that are a connection's open :class:`RedisRateBuckets` (serve mode).

    A call while Redis is not connected raises :class:`StoreUnavailable` at once.
    """

    def __init__(self, connection: Connection[RedisRateBuckets]) -> None:
        self._connection = connection

    def is_available(self) -> bool:
        """Whether the buckets are connected and usable."""
        return self._connection.available()

    async def take(self, requests: Sequence[TokenRequest]) -> list[Grant]:
        """Forwarded to the connected buckets."""
        try:
            buckets = self._connection.get()
        except DependencyUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None
        return await buckets.take(requests)
