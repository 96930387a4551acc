"""Fixtures shared by the integration tests."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from tests.integration.postgres_schema import drop_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable


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
