"""Fixtures of the broker contract suite: one ``broker`` per adapter.

A new adapter (RabbitMQ) joins the suite by adding its name to ``params`` and a branch
that yields a broker with the topology declared and its queues empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actors.broker.memory import open_memory_broker

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from actors.broker import Broker


@pytest.fixture(params=["memory"])
async def broker(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Broker]:
    """A broker with the observatory's topology declared and every queue empty."""
    if request.param == "memory":
        async with open_memory_broker(tmp_path / "broker.sqlite3") as memory:
            await memory.declare_topology()
            yield memory
    else:  # pragma: no cover - a param without a branch is a mistake in this file
        raise ValueError(f"Unknown broker adapter {request.param!r}.")
