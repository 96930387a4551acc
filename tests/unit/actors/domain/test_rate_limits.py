"""Issue 18, item 4: ``rate_limit`` on a handler, and the in-process token bucket."""

from __future__ import annotations

import pytest

from actors.domain.handlers import HandlerRegistry, JobContext, handler
from actors.domain.rate_limits import Grant, MemoryRateBuckets, TokenRequest, parse_rate_limit
from actors.errors import ConfigError


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _echo(job: JobContext) -> object:
    return dict(job.payload)


@pytest.mark.parametrize(
    ("value", "per_s"),
    [(5, 5.0), (2.5, 2.5), ("5/s", 5.0), ("300/m", 5.0), (" 3600 / h ", 1.0), ("0.5/s", 0.5)],
)
def test_a_rate_limit_is_a_number_per_second_or_a_string_with_its_unit(
    value: object, per_s: float
) -> None:
    assert parse_rate_limit("resize", value) == per_s


@pytest.mark.parametrize("value", [0, -1, "5", "5/d", "five/s", "0/m", True, float("inf"), [5]])
def test_a_bad_rate_limit_is_refused_with_the_forms_allowed(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^rate_limit of job type 'resize' must be a number"):
        parse_rate_limit("resize", value)


def test_the_handler_declares_its_rate_limit_and_the_registry_lists_them() -> None:
    registry = HandlerRegistry()

    @handler("resize", registry=registry, rate_limit="300/m", concurrency=2)
    async def resize(job: JobContext) -> object:
        return None

    registry.register("echo", _echo)
    found = registry.find("resize")
    assert found is not None
    assert (found.rate_limit, found.concurrency) == (5.0, 2)
    assert registry.rate_limits() == {"resize": 5.0}
    with pytest.raises(ConfigError, match=r"^rate_limit of job type 'bad' must be"):
        registry.register("bad", _echo, rate_limit="fast")


async def test_a_bucket_starts_full_with_one_seconds_worth_then_refills_at_the_rate() -> None:
    clock = _Clock()
    buckets = MemoryRateBuckets(now=clock)
    # Full: 5 tokens; 8 asked, 5 granted; the next token in 1/5 s.
    assert await buckets.take([TokenRequest("resize", 8, 5.0)]) == [Grant(5, 0.2)]
    assert buckets.take_nowait("resize", 1, 5.0) == Grant(0, 0.2)
    clock.now += 0.3  # 1.5 tokens
    grant = buckets.take_nowait("resize", 3, 5.0)
    assert grant.granted == 1
    assert grant.retry_after_s == pytest.approx(0.1)
    clock.now += 60  # never more than one second's worth
    assert buckets.take_nowait("resize", 100, 5.0) == Grant(5, 0.2)


async def test_buckets_are_per_type_and_a_slow_rate_holds_one_token() -> None:
    clock = _Clock()
    buckets = MemoryRateBuckets(now=clock)
    grants = await buckets.take([TokenRequest("slow", 3, 0.5), TokenRequest("fast", 3, 100.0)])
    assert grants == [Grant(1, 2.0), Grant(3, 0.0)]
    clock.now += 1.0
    grant = buckets.take_nowait("slow", 1, 0.5)
    assert grant.granted == 0
    assert grant.retry_after_s == pytest.approx(1.0)
    clock.now += 1.0
    assert buckets.take_nowait("slow", 1, 0.5) == Grant(1, 2.0)


async def test_over_a_long_run_the_bucket_grants_the_rate_and_no_more() -> None:
    clock = _Clock()
    buckets = MemoryRateBuckets(now=clock)
    granted = 0
    for _ in range(1000):  # 10 s in steps of 10 ms, always asking for plenty
        granted += buckets.take_nowait("resize", 50, 5.0).granted
        clock.now += 0.01
    # The first second's worth at once, then 5 a second.
    assert 5 + 5 * 9 <= granted <= 5 + 5 * 10
