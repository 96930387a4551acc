"""Fixtures of the broker contract suite: one ``broker`` per adapter.

A new adapter (RabbitMQ) joins the suite by adding its name to ``params`` and a branch
that yields a broker with the topology declared and its queues empty.

The RabbitMQ param needs the server (``RABBITMQ_URL``; skipped locally when it is away,
failed in CI). Each test gets a namespace of its own, so its queues start empty, and
deletes them at teardown.

The suite states what every adapter guarantees: RabbitMQ pushes up to ``prefetch``
messages into a consumer's buffer as soon as it subscribes, so the tests never depend on
a message staying in the queue while a consumer with room is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import anyio
import pytest

from actors.broker.amqp import open_amqp_broker
from actors.broker.memory import open_memory_broker

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from actors.broker import Broker

_TEARDOWN_TIMEOUT_S = 10.0


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.integration)])
async def broker(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Broker]:
    """A broker with the observatory's topology declared and every queue empty."""
    if request.param == "memory":
        async with open_memory_broker(tmp_path / "broker.sqlite3") as memory:
            await memory.declare_topology()
            yield memory
    elif request.param == "rabbitmq":
        url: str = request.getfixturevalue("rabbitmq_url")
        async with open_amqp_broker(
            url,
            namespace=f"test-{uuid4().hex[:12]}.",
            connection_name=request.node.nodeid,
            publish_timeout_s=5.0,
        ) as rabbitmq:
            try:
                with anyio.fail_after(10):
                    await rabbitmq.declare_topology()
                yield rabbitmq
            finally:
                with anyio.fail_after(_TEARDOWN_TIMEOUT_S, shield=True):
                    for queue in reversed(rabbitmq.declared_queues):
                        await rabbitmq.delete_queue(queue)
    else:  # pragma: no cover - a param without a branch is a mistake in this file
        raise ValueError(f"Unknown broker adapter {request.param!r}.")
