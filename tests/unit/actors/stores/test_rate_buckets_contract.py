"""The rate buckets contract: the in-memory and the Redis adapter grant the same tokens.

Only what does not depend on the clock is compared (a rate slow enough that nothing
refills during a test: 1 token a minute, bucket capacity 1; 1,000 a second for the
capacity). Refill over time is tested per adapter: ``tests/unit/actors/domain/
test_rate_limits.py`` (an injected clock) and ``tests/integration/
test_redis_rate_buckets.py`` (Redis's clock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actors.domain.rate_limits import MemoryRateBuckets, TokenRequest
from actors.stores.rate_buckets import open_redis_rate_buckets
from tests.redis_keys import own_redis_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from actors.domain.rate_limits import RateBuckets

pytestmark = pytest.mark.timeout(20)

_SLOW = 1 / 60
"""One start a minute: nothing refills within a test."""


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def buckets(request: pytest.FixtureRequest) -> AsyncIterator[RateBuckets]:
    """Buckets nobody has taken from."""
    if request.param == "memory":
        yield MemoryRateBuckets()
        return
    url: str = request.getfixturevalue("redis_url")
    async with (
        own_redis_prefix(url) as prefix,
        open_redis_rate_buckets(url, prefix=prefix) as redis_buckets,
    ):
        yield redis_buckets


async def test_nothing_asked_nothing_taken(buckets: RateBuckets) -> None:
    assert await buckets.take([]) == []


async def test_a_slow_bucket_holds_one_token_then_says_when_the_next_comes(
    buckets: RateBuckets,
) -> None:
    [first] = await buckets.take([TokenRequest("report", 3, _SLOW)])
    [second] = await buckets.take([TokenRequest("report", 1, _SLOW)])
    assert first.granted == 1
    assert 59 < first.retry_after_s <= 60
    assert second.granted == 0
    assert 58 < second.retry_after_s <= 60


async def test_each_type_has_its_own_bucket_and_answers_come_in_order(
    buckets: RateBuckets,
) -> None:
    grants = await buckets.take(
        [
            TokenRequest("report", 2, _SLOW),
            TokenRequest("resize", 0, _SLOW),
            TokenRequest("email", 1, _SLOW),
        ]
    )
    assert [grant.granted for grant in grants] == [1, 0, 1]
    # Asking for none takes none: its token is still there.
    [resize] = await buckets.take([TokenRequest("resize", 5, _SLOW)])
    assert resize.granted == 1


async def test_a_fast_bucket_grants_up_to_one_seconds_worth(buckets: RateBuckets) -> None:
    [fast] = await buckets.take([TokenRequest("fetch", 5000, 1000.0)])
    # 1,000 at once, plus whatever refilled since the bucket was made (the Redis one is
    # made at this call; the memory one at the fixture's).
    assert 1000 <= fast.granted < 1100
