"""Per-type rate limits: how many jobs of a type may *start* per second, everywhere.

A handler declares one with ``@handler("resize", rate_limit=5)`` (at most 5 starts per
second of ``resize`` jobs across every processor) or a string with its unit:

==============  =====================================
``rate_limit``  starts allowed
==============  =====================================
``5``, ``2.5``  per second
``"5/s"``       5 per second
``"300/m"``     300 per minute (5 per second)
``"3600/h"``    3,600 per hour (1 per second)
==============  =====================================

The limit is a *token bucket* per type: it holds at most one second's worth of tokens
(at least 1), refilled continuously at the rate; every start takes one. So a burst of
``rate`` jobs starts at once, then they start ``rate`` per second. The buckets are
:class:`RateBuckets`: :class:`MemoryRateBuckets` in one process (the embedded
observatory), :class:`actors.stores.rate_buckets.RedisRateBuckets` shared by every
processor of a deployment.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio.lowlevel

from actors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "Grant",
    "MemoryRateBuckets",
    "RateBuckets",
    "TokenRequest",
    "bucket_capacity",
    "parse_rate_limit",
]

_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*$")


def parse_rate_limit(job_type: str, value: object) -> float | None:
    """The starts per second ``value`` allows: a number, or ``"N/s"``, ``"N/m"``, ``"N/h"``.

    Raises:
        ConfigError: ``value`` is not a positive number nor such a string.
    """
    if value is None:
        return None
    rate: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        rate = float(value)
    elif isinstance(value, str) and (found := _RATE.match(value)):
        rate = float(found.group(1)) / _UNITS_S[found.group(2)]
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise ConfigError(
            f"rate_limit of job type {job_type!r} must be a number of starts per second "
            f'greater than 0, or a string such as "5/s", "300/m" or "3600/h", not {value!r}.'
        )
    return rate


def bucket_capacity(rate_per_s: float) -> float:
    """How many tokens a bucket of ``rate_per_s`` holds: one second's worth, at least 1."""
    return max(1.0, rate_per_s)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """Up to ``count`` tokens from the bucket of ``job_type``, refilled at ``rate_per_s``."""

    job_type: str
    count: int
    rate_per_s: float


@dataclass(frozen=True, slots=True)
class Grant:
    """What a bucket gave: ``granted`` starts now; the next token in ``retry_after_s``."""

    granted: int
    """How many of the starts asked for may go now (the first ones asked)."""
    retry_after_s: float
    """When the bucket holds its next whole token (0 when it holds one now)."""


class RateBuckets(Protocol):
    """Token buckets by job type, shared by whoever shares the object (or the server)."""

    async def take(self, requests: Sequence[TokenRequest]) -> list[Grant]:
        """Take up to ``request.count`` tokens from each request's bucket, atomically (one
        round trip for all of them), answering in the order asked.

        Raises:
            StoreUnavailable: the buckets' server cannot be reached (nothing was taken).
        """
        ...


class MemoryRateBuckets:
    """:class:`RateBuckets` in this process's memory (embedded mode, and tests).

    ``now`` is the clock (seconds, monotonic); tests inject their own.
    """

    def __init__(self, *, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._buckets: dict[str, tuple[float, float]] = {}
        """By type: (tokens, when they were counted)."""

    def __repr__(self) -> str:
        return f"<MemoryRateBuckets types={sorted(self._buckets)}>"

    def is_available(self) -> bool:
        """Always: nothing to connect to."""
        return True

    async def take(self, requests: Sequence[TokenRequest]) -> list[Grant]:
        """Take tokens from each request's bucket (see :class:`RateBuckets`)."""
        await anyio.lowlevel.checkpoint()
        return [self.take_nowait(r.job_type, r.count, r.rate_per_s) for r in requests]

    def take_nowait(self, job_type: str, count: int, rate_per_s: float) -> Grant:
        """Take up to ``count`` tokens of ``job_type``'s bucket, without a checkpoint."""
        capacity = bucket_capacity(rate_per_s)
        now = self._now()
        tokens, at = self._buckets.get(job_type, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - at) * rate_per_s)
        granted = min(count, math.floor(tokens))
        tokens -= granted
        self._buckets[job_type] = (tokens, now)
        retry_after_s = 0.0 if tokens >= 1 else (1 - tokens) / rate_per_s
        return Grant(granted, retry_after_s)
