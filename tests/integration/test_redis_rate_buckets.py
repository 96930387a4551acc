"""Issue 18, item 4: the per-type token buckets in Redis, shared by every processor.

Two :class:`RedisRateBuckets` opened apart stand for two processor processes. Redis's
clock refills the buckets, so the counts are bounded by the time that passed, measured
around the calls (never a timed assertion of speed: bounds derived from the rate).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.domain.rate_limits import TokenRequest
from actors.errors import StoreUnavailable
from actors.stores.rate_buckets import RedisRateBuckets, open_redis_rate_buckets
from tests.integration.tcp_proxy import closed_port
from tests.redis_keys import ignore_coredis_leaks

if TYPE_CHECKING:
    import coredis

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

_DEADLINE_S = 10


async def test_a_new_bucket_is_full_grants_its_capacity_and_says_when_the_next_token_comes(
    redis_url: str, redis_prefix: str, redis_admin: coredis.Redis[str]
) -> None:
    async with open_redis_rate_buckets(redis_url, prefix=redis_prefix) as buckets:
        with anyio.fail_after(_DEADLINE_S):
            [resize, other] = await buckets.take(
                [TokenRequest("resize", 8, 5.0), TokenRequest("other", 2, 5.0)]
            )
        assert (resize.granted, other.granted) == (5, 2)
        assert 0 < resize.retry_after_s <= 0.2
        assert other.retry_after_s == 0  # 3 tokens left
        # The bucket is a hash under the prefix, expiring once it would be full again.
        key = buckets.key("resize")
        assert key == f"{redis_prefix}rate:resize"
        assert set(await redis_admin.hgetall(key)) == {"tokens", "at"}
        assert 0 < await redis_admin.pttl(key) <= 2000


async def test_two_processes_share_one_bucket_and_never_get_more_than_the_rate(
    redis_url: str, redis_prefix: str
) -> None:
    async with (
        open_redis_rate_buckets(redis_url, prefix=redis_prefix) as first,
        open_redis_rate_buckets(redis_url, prefix=redis_prefix) as second,
    ):
        started = time.monotonic()
        with anyio.fail_after(_DEADLINE_S):
            [a] = await first.take([TokenRequest("resize", 3, 10.0)])
            [b] = await second.take([TokenRequest("resize", 10, 10.0)])
        elapsed_s = time.monotonic() - started
        assert a.granted == 3
        # What the first left (7), plus at most what refilled meanwhile.
        assert 7 <= b.granted <= min(10, 7 + 10 * elapsed_s)

        # Many takers at once, from both: the total never exceeds the bucket plus refill.
        granted: list[int] = []

        async def take_repeatedly(buckets: RedisRateBuckets) -> None:
            for _ in range(15):
                [grant] = await buckets.take([TokenRequest("burst", 1, 20.0)])
                granted.append(grant.granted)

        started = time.monotonic()
        with anyio.fail_after(_DEADLINE_S):
            async with anyio.create_task_group() as tg:
                for index in range(20):
                    tg.start_soon(take_repeatedly, first if index % 2 else second)
        elapsed_s = time.monotonic() - started
        assert len(granted) == 300
        assert 20 <= sum(granted) <= 20 + 20 * elapsed_s + 1


async def test_a_bucket_refills_at_its_rate(redis_url: str, redis_prefix: str) -> None:
    async with open_redis_rate_buckets(redis_url, prefix=redis_prefix) as buckets:
        with anyio.fail_after(_DEADLINE_S):
            [empty] = await buckets.take([TokenRequest("resize", 4, 4.0)])
            assert empty.granted == 4
            started = time.monotonic()
            await anyio.sleep(0.6)  # the test is about elapsed time: 2.4 tokens
            [refilled] = await buckets.take([TokenRequest("resize", 4, 4.0)])
            elapsed_s = time.monotonic() - started
        assert 2 <= refilled.granted <= min(4, int(4 * elapsed_s))


@ignore_coredis_leaks
@pytest.mark.usefixtures("failing_redis_connections")
async def test_an_unreachable_redis_is_store_unavailable(redis_prefix: str) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with anyio.fail_after(_DEADLINE_S), pytest.raises(StoreUnavailable, match=r"^Redis at"):
        async with open_redis_rate_buckets(url, prefix=redis_prefix):
            pass
