"""What the tests on Redis share: a key prefix of a test's own, and the coredis leak filter.

Imported as ``tests.redis_keys``; the integration tests reach it through the
``redis_prefix`` fixture (``tests/integration/conftest.py``), the store contract suites
call :func:`own_redis_prefix` in their ``redis`` branches.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import coredis
import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["DELETE_DEADLINE_S", "delete_redis_keys", "ignore_coredis_leaks", "own_redis_prefix"]

DELETE_DEADLINE_S = 10
"""Bound of deleting a test's Redis keys."""

ignore_coredis_leaks = pytest.mark.filterwarnings(
    # coredis 6.9 creates a connection's memory streams in BaseConnection.__init__ and
    # closes them only once connected: each failed attempt leaves them to the garbage
    # collector, which warns (ResourceWarning, turned into errors here). Not our leak.
    r"ignore:Exception ignored in. <function MemoryObject\w+Stream.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)
"""For tests that make connection attempts fail, with the ``failing_redis_connections``
fixture."""


async def delete_redis_keys(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (a test's own) from Redis at ``url``.

    Bounded by :data:`DELETE_DEADLINE_S` and shielded, so that it runs when the test was
    cancelled too.
    """
    with anyio.fail_after(DELETE_DEADLINE_S, shield=True):
        async with coredis.Redis.from_url(url, decode_responses=True) as client:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(keys)


@asynccontextmanager
async def own_redis_prefix(url: str) -> AsyncIterator[str]:
    """A key prefix no other test uses; its keys are deleted from Redis at ``url`` when
    the block ends."""
    prefix = f"test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        await delete_redis_keys(url, prefix)
