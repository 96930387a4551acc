"""The ``relay`` phase: a raw aio-pika queue → queue relay, the ceiling one Python process
reaches on this RabbitMQ, to set the processor's rate against.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import anyio

from actors.config.urls import redact
from launcher.bench.phase import TEARDOWN_S, PhaseSkipped, progress_lines, record_rate

if TYPE_CHECKING:
    from pathlib import Path

    from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractQueue

    from launcher.bench.options import BenchOptions
    from launcher.bench.report import PhaseOutcome

__all__ = ["relay_phase"]

_RELAY_WINDOW = 250
"""Messages relayed per gathered window of confirmed publishes (then one multiple-ack)."""
_RELAY_WINDOWS_IN_FLIGHT = 4
_RELAY_PREFETCH = 1000
_RELAY_BODY_BYTES = 300


async def relay_phase(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
    """The raw aio-pika relay ceiling: fill queue A with N, time relaying all of it to B.

    aio-pika is an asyncio library, so this phase is an adapter in its own right and
    uses ``asyncio.gather`` for the pipelined publishes, as the broker adapter does.
    ``work_dir`` is not used: the relay keeps nothing on disk.
    """
    import aio_pika
    from aio_pika.exceptions import CONNECTION_EXCEPTIONS

    n = options.jobs
    url = options.rabbitmq_url
    try:
        with anyio.fail_after(10):
            connection = await aio_pika.connect(
                url, client_properties={"connection_name": "observatory-bench relay"}
            )
    except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
        raise PhaseSkipped(
            f"RabbitMQ is not reachable at {redact(url)} ({type(exc).__name__}: {exc}); the "
            "relay ceiling needs it (set --rabbitmq-url or RABBITMQ_URL)"
        ) from exc
    prefix = f"bench-{uuid.uuid4().hex[:10]}."
    source, target = f"{prefix}relay-a", f"{prefix}relay-b"
    try:
        publisher = await connection.channel(publisher_confirms=True)
        for name in (source, target):
            await publisher.declare_queue(name, durable=True)
        exchange = publisher.default_exchange
        for start in range(0, n, 500):
            await _publish_window(
                exchange,
                source,
                [(_relay_body(i), f"{prefix}{i}") for i in range(start, min(n, start + 500))],
            )
            outcome.progress = f"filled {min(n, start + 500)}/{n}"
        consumer = await connection.channel(publisher_confirms=False)
        await consumer.set_qos(prefetch_count=_RELAY_PREFETCH)
        queue = await consumer.declare_queue(source, durable=True)
        relayed = [0]
        async with anyio.create_task_group() as tg:
            tg.start_soon(progress_lines, outcome, lambda: f"relayed {relayed[0]}/{n}")
            started = anyio.current_time()
            await _relay_all(queue, exchange, target, n, relayed)
            record_rate(outcome, "relay_ceiling_rate", n, anyio.current_time() - started)
            tg.cancel_scope.cancel()
    finally:
        with anyio.move_on_after(TEARDOWN_S, shield=True):
            try:
                cleanup = await connection.channel(publisher_confirms=False)
                for name in (source, target):
                    await cleanup.queue_delete(name)
            finally:
                await connection.close()


def _relay_body(index: int) -> bytes:
    body = json.dumps({"eventType": "bench.relay", "n": index, "padding": ""}).encode()
    return body[:-2] + b"." * max(0, _RELAY_BODY_BYTES - len(body)) + body[-2:]


async def _publish_window(
    exchange: AbstractExchange, routing_key: str, messages: list[tuple[bytes, str]]
) -> None:
    """Publish persistently with confirms, pipelined: all written, then all awaited."""
    import asyncio

    import aio_pika

    await asyncio.gather(
        *(
            exchange.publish(
                aio_pika.Message(
                    body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key,
                timeout=10,
            )
            for body, message_id in messages
        )
    )


async def _relay_all(
    queue: AbstractQueue, exchange: AbstractExchange, target: str, n: int, relayed: list[int]
) -> None:
    """Relay ``n`` messages of ``queue`` to ``target``, acknowledging each window once.

    Windows are published concurrently (up to a few in flight) but acknowledged in
    order, each with one ``ack(multiple=True)`` after its publishes are confirmed, so a
    message leaves the source only once its copy is stored.
    """
    slots = anyio.Semaphore(_RELAY_WINDOWS_IN_FLIGHT)

    async def flush(
        window: list[AbstractIncomingMessage], previous: anyio.Event, done: anyio.Event
    ) -> None:
        try:
            await _publish_window(exchange, target, [(m.body, m.message_id or "") for m in window])
            await previous.wait()
            await window[-1].ack(multiple=True)
            relayed[0] += len(window)
        finally:
            done.set()
            slots.release()

    previous = anyio.Event()
    previous.set()
    window: list[AbstractIncomingMessage] = []
    received = 0
    async with anyio.create_task_group() as tg:
        async with queue.iterator() as messages:
            async for message in messages:
                window.append(message)
                received += 1
                if len(window) >= _RELAY_WINDOW or received == n:
                    await slots.acquire()
                    done = anyio.Event()
                    tg.start_soon(flush, window, previous, done)
                    previous, window = done, []
                if received == n:
                    break
