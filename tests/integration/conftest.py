"""Fixtures shared by the integration tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


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
