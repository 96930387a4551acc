"""Fixtures shared by the integration tests."""

from __future__ import annotations

import gc
import logging
import uuid
from typing import TYPE_CHECKING

import anyio
import coredis
import pytest

from tests.integration.postgres_schema import drop_schema
from tests.redis_keys import own_redis_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator


async def _close_connection_named(name: str) -> None:
    """Have RabbitMQ close the client connection called ``name`` (as an operator would)."""
    listing = await anyio.run_process(
        ["rabbitmqctl", "-q", "list_connections", "--no-table-headers", "pid", "client_properties"],
        check=True,
    )
    pids = [
        line.split("\t", 1)[0]
        for line in listing.stdout.decode().splitlines()
        if f'{{"connection_name","{name}"}}' in line
    ]
    assert len(pids) == 1, f"expected one connection named {name!r}, found {pids}"
    await anyio.run_process(
        ["rabbitmqctl", "-q", "close_connection", pids[0], "closed by a test"], check=True
    )


@pytest.fixture
def close_connection_named() -> Callable[[str], Awaitable[None]]:
    """Closes the RabbitMQ client connection with a given name, server side."""
    return _close_connection_named


@pytest.fixture
async def schema(postgres_url: str) -> AsyncIterator[str]:
    """A PostgreSQL schema name of the test's own, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        await drop_schema(postgres_url, name)


@pytest.fixture
async def redis_admin(redis_url: str) -> AsyncIterator[coredis.Redis[str]]:
    """A Redis client of the test's own, to look at (and break) what a store does."""
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        yield client


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of the test's own; its keys are deleted afterwards."""
    async with own_redis_prefix(redis_url) as prefix:
        yield prefix


@pytest.fixture
def failing_redis_connections(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Let the test's Redis connection attempts fail, and collect what they leaked
    afterwards (with :data:`tests.redis_keys.ignore_coredis_leaks` on the test).

    coredis logs each failed attempt with its traceback; a captured record would keep the
    attempt's streams alive until the session ends, so those logs are not captured.
    """
    caplog.set_level(logging.CRITICAL, logger="coredis")
    yield
    gc.collect()
