"""What only the RabbitMQ broker does, checked against the real server.

The broker contract suite (tests/unit/actors/broker) runs against RabbitMQ as well; these
tests cover what it cannot see: what RabbitMQ itself holds (looked at through a separate,
plain aio-pika connection), dead-lettering and the TTL retry path, pipelined confirms,
batched acks and the robust reconnect.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from typing import TYPE_CHECKING, Protocol
from uuid import uuid4

import aio_pika
import aiormq
import anyio
import pytest
from yarl import URL

from actors.broker import OutgoingMessage
from actors.broker.amqp import AmqpBroker, open_amqp_broker
from actors.broker.names import (
    JOBS_CREATED,
    JOBS_DEAD_LETTER,
    RETRY_DELAYS_S,
    retry_queue,
)
from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from aio_pika.abc import AbstractChannel

    from actors.broker import Delivery
    from actors.broker.amqp import AmqpConsumer

pytestmark = pytest.mark.integration


class OpenBroker(Protocol):
    async def __call__(self, *, reconnect_interval_s: float | None = None) -> AmqpBroker: ...


@pytest.fixture
async def open_broker(
    rabbitmq_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[OpenBroker]:
    """Factory of entered brokers, each in a namespace of its own, with the topology declared.

    At teardown (last in, first out) each deletes the queues it declared and disconnects.
    """
    async with contextlib.AsyncExitStack() as stack:
        count = 0

        async def create(*, reconnect_interval_s: float | None = None) -> AmqpBroker:
            nonlocal count
            count += 1
            url = URL(rabbitmq_url)
            if reconnect_interval_s is not None:
                url = url.update_query(reconnect_interval=str(reconnect_interval_s))
            broker = open_amqp_broker(
                str(url),
                namespace=f"test-{uuid4().hex[:12]}.",
                connection_name=f"{request.node.nodeid}#{count}",
                publish_timeout_s=5.0,
            )
            with anyio.fail_after(10):
                await stack.enter_async_context(broker)
            stack.push_async_callback(delete_queues, broker)
            with anyio.fail_after(10):
                await broker.declare_topology()
            return broker

        yield create


async def delete_queues(broker: AmqpBroker) -> None:
    with anyio.fail_after(10, shield=True):
        for queue in reversed(broker.declared_queues):
            await broker.delete_queue(queue)


@pytest.fixture
async def observer(rabbitmq_url: str) -> AsyncIterator[AbstractChannel]:
    """A channel on a plain connection of its own, to see what RabbitMQ holds."""
    with anyio.fail_after(10):
        connection = await aio_pika.connect(
            rabbitmq_url, client_properties={"connection_name": "test observer"}
        )
    async with connection:
        yield await connection.channel()


def message(name: str, **headers: str) -> OutgoingMessage:
    return OutgoingMessage(
        body=f"body of {name}".encode(),
        message_id=name,
        correlation_id=f"corr-{name}",
        headers=headers,
    )


def deaths(headers: Mapping[str, object]) -> list[dict[str, object]]:
    """The ``x-death`` entries of ``headers``, checked to be a list of dicts."""
    entries = headers["x-death"]
    assert isinstance(entries, list)
    assert all(isinstance(entry, dict) for entry in entries)
    return entries


async def receive(consumer: AmqpConsumer, count: int) -> list[Delivery]:
    received: list[Delivery] = []
    with anyio.fail_after(10):
        while len(received) < count:
            received.extend(await consumer.receive_batch(count - len(received)))
    return received


async def test_published_messages_sit_in_the_namespaced_queue_persistent_with_their_ids(
    open_broker: OpenBroker, observer: AbstractChannel
) -> None:
    broker = await open_broker()

    await broker.publish_batch(JOBS_CREATED, [message("m1", trace="t1"), message("m2")])

    assert await broker.queue_depth(JOBS_CREATED) == 2
    queue = await observer.declare_queue(broker.namespace + JOBS_CREATED, passive=True)
    assert queue.declaration_result.message_count == 2
    stored = [await queue.get(no_ack=True, timeout=5) for _ in range(2)]
    assert [
        (m.message_id, m.correlation_id, m.delivery_mode, m.headers, m.body) for m in stored
    ] == [
        ("m1", "corr-m1", aio_pika.DeliveryMode.PERSISTENT, {"trace": "t1"}, b"body of m1"),
        ("m2", "corr-m2", aio_pika.DeliveryMode.PERSISTENT, {}, b"body of m2"),
    ]


async def test_the_namespace_keeps_two_brokers_apart(open_broker: OpenBroker) -> None:
    first, second = await open_broker(), await open_broker()

    await first.publish_batch(JOBS_CREATED, [message("m1")])

    assert (await first.queue_depth(JOBS_CREATED), await second.queue_depth(JOBS_CREATED)) == (
        1,
        0,
    )


async def test_rejected_message_is_dead_lettered_with_an_x_death_naming_its_queue(
    open_broker: OpenBroker, observer: AbstractChannel
) -> None:
    broker = await open_broker()
    await broker.publish_batch(JOBS_CREATED, [message("poison-1"), message("poison-2")])

    async with broker.open_consumer(JOBS_CREATED, prefetch=2) as consumer:
        await consumer.reject(await receive(consumer, 2), requeue=False)
    async with broker.open_consumer(JOBS_DEAD_LETTER, prefetch=1) as dead_letters:
        [dead] = await receive(dead_letters, 1)
        await dead_letters.ack([dead])
    # The other one as RabbitMQ stores it: the header names the namespaced queue.
    dlq = await observer.declare_queue(broker.namespace + JOBS_DEAD_LETTER, passive=True)
    raw = await dlq.get(no_ack=True, timeout=5)

    assert (dead.message_id, dead.queue) == ("poison-1", JOBS_DEAD_LETTER)
    [death] = deaths(dead.headers)
    assert isinstance(death.pop("time"), datetime.datetime)
    assert death == {
        "count": 1,
        "reason": "rejected",
        "queue": JOBS_CREATED,
        "exchange": "",
        "routing-keys": [JOBS_CREATED],
    }
    assert dead.headers["x-first-death-queue"] == JOBS_CREATED
    assert raw.message_id == "poison-2"
    [raw_death] = deaths(raw.headers)
    assert raw_death["queue"] == broker.namespace + JOBS_CREATED


async def test_topology_declares_retry_queues_that_expire_back_into_jobs_created(
    open_broker: OpenBroker, observer: AbstractChannel
) -> None:
    broker = await open_broker()

    # Declaring alike succeeds; any other argument would close the channel with 406.
    for delay_s in RETRY_DELAYS_S:
        await observer.declare_queue(
            broker.namespace + retry_queue(delay_s),
            durable=True,
            arguments={
                "x-message-ttl": delay_s * 1000,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": broker.namespace + JOBS_CREATED,
            },
        )
    await observer.declare_queue(
        broker.namespace + JOBS_CREATED,
        durable=True,
        arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": broker.namespace + JOBS_DEAD_LETTER,
            "x-max-priority": 9,
        },
    )
    assert [retry_queue(delay_s) for delay_s in RETRY_DELAYS_S] == [
        "jobs.retry.1s",
        "jobs.retry.5s",
        "jobs.retry.30s",
    ]
    assert set(broker.declared_queues) >= {retry_queue(delay_s) for delay_s in RETRY_DELAYS_S}


async def test_message_in_a_retry_queue_comes_back_to_jobs_created_after_its_ttl(
    open_broker: OpenBroker,
) -> None:
    broker = await open_broker()
    # The topology's shortest retry queue holds messages for a second; the same kind of
    # queue with a 200 ms TTL keeps the test short.
    await broker.declare_queue("jobs.retry.test", dead_letter_to=JOBS_CREATED, ttl_ms=200)

    async with broker.open_consumer(JOBS_CREATED, prefetch=1) as consumer:
        started = anyio.current_time()
        await broker.publish_batch("jobs.retry.test", [message("retry-me")])
        [back] = await receive(consumer, 1)
        waited_s = anyio.current_time() - started
        await consumer.ack([back])

    assert waited_s >= 0.19, "RabbitMQ expires a message no earlier than its TTL"
    assert (back.message_id, back.body, back.queue) == (
        "retry-me",
        b"body of retry-me",
        JOBS_CREATED,
    )
    [death] = deaths(back.headers)
    assert {key: death[key] for key in ("queue", "reason", "count")} == {
        "queue": "jobs.retry.test",
        "reason": "expired",
        "count": 1,
    }


async def test_a_pipelined_batch_of_2000_messages_is_confirmed(open_broker: OpenBroker) -> None:
    broker = await open_broker()
    messages = [
        OutgoingMessage(body=b"x" * 200, message_id=f"bulk-{index}") for index in range(2000)
    ]

    started = time.perf_counter()
    with anyio.fail_after(30):
        await broker.publish_batch(JOBS_CREATED, messages)
    elapsed_s = time.perf_counter() - started

    print(
        f"\npublish_batch: 2000 persistent messages confirmed in {elapsed_s:.3f} s "
        f"({2000 / elapsed_s:,.0f} msgs/s)"
    )
    assert await broker.queue_depth(JOBS_CREATED) == 2000
    stats = broker.statistics()
    assert (stats.published, stats.confirmed) == (2000, 2000)


async def test_publishing_to_a_queue_that_does_not_exist_names_it(open_broker: OpenBroker) -> None:
    broker = await open_broker()

    with pytest.raises(
        BrokerUnavailable,
        match=r"^Cannot publish to queue 'jobs\.nowhere' on RabbitMQ at amqp://guest:\*\*\*@.*: "
        r"it does not exist \(RabbitMQ returned 2 of 2 messages as unroutable\)",
    ):
        await broker.publish_batch("jobs.nowhere", [message("m1"), message("m2")])
    assert broker.statistics().confirmed == 0
    await broker.publish_batch(JOBS_CREATED, [message("m3")])  # the channel is still fine


async def test_acking_the_oldest_deliveries_sends_one_multiple_ack(
    open_broker: OpenBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = await open_broker()
    sent: list[tuple[int, bool]] = []
    basic_ack = aiormq.Channel.basic_ack

    async def spy(
        self: aiormq.Channel, delivery_tag: int, multiple: bool = False, wait: bool = True
    ) -> None:
        sent.append((delivery_tag, multiple))
        await basic_ack(self, delivery_tag, multiple=multiple, wait=wait)

    monkeypatch.setattr(aiormq.Channel, "basic_ack", spy)
    await broker.publish_batch(JOBS_CREATED, [message(f"m{index}") for index in range(1, 6)])

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        deliveries = await receive(consumer, 5)
        await consumer.ack(deliveries[:3])  # the three oldest: one ack, multiple
        await consumer.ack(deliveries[4:])  # not the oldest: acked on its own
        await consumer.ack(deliveries[3:4])

    assert sent == [(3, True), (5, False), (4, False)]
    assert await broker.queue_depth(JOBS_CREATED) == 0
    assert broker.statistics().acked == 5


async def test_the_robust_connection_comes_back_after_rabbitmq_closes_it(
    close_connection_named: Callable[[str], Awaitable[None]],
    open_broker: OpenBroker,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="actors.broker.amqp")
    broker = await open_broker(reconnect_interval_s=0.5)
    await broker.publish_batch(JOBS_CREATED, [message("before")])
    seen: list[bool] = []

    async def watch_availability() -> None:
        await broker.wait_unavailable()
        seen.append(broker.is_available())
        await broker.wait_available()
        seen.append(broker.is_available())

    async with broker.open_consumer(JOBS_CREATED, prefetch=5) as consumer:
        [held] = await receive(consumer, 1)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch_availability)
                await close_connection_named(f"{request.node.nodeid}#1")

        assert seen == [False, True]
        with pytest.raises(
            BrokerUnavailable,
            match=r"^Cannot ack 1 of 1 deliveries of queue 'jobs\.created' on RabbitMQ at "
            r".*: the channel was closed; the broker will redeliver these messages\.$",
        ):
            await consumer.ack([held])
        await broker.publish_batch(JOBS_CREATED, [message("after")])
        again = await receive(consumer, 2)
        await consumer.ack(again)

    assert [(d.message_id, d.redelivered) for d in again] == [("before", True), ("after", False)]
    assert broker.statistics().reconnects == 1
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "actors.broker.amqp" and record.levelno == logging.WARNING
    ]
    assert [line.split(" ", 1)[0] for line in lines] == [
        "broker.connection_lost",
        "broker.reconnected",
    ]
    assert all("amqp://guest:***@" in line for line in lines)


async def test_a_broker_that_cannot_connect_says_where_without_the_password() -> None:
    broker = open_amqp_broker("amqp://guest:s3cret@127.0.0.1:1/")

    with anyio.fail_after(10), pytest.raises(BrokerUnavailable) as caught:
        async with broker:
            pass

    assert str(caught.value).startswith(
        "Cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1/"
    )
    assert "s3cret" not in str(caught.value)
    assert not broker.is_available()


async def test_issue_18_a_jobs_created_queue_from_before_priorities_is_kept_with_a_warning(
    rabbitmq_url: str, observer: AbstractChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """RabbitMQ cannot add ``x-max-priority`` to a queue: an observatory upgraded over an
    old ``jobs.created`` keeps it (and its messages), says how to turn priorities on, and
    works on."""
    namespace = f"test-{uuid4().hex[:12]}."
    await observer.declare_queue(namespace + JOBS_DEAD_LETTER, durable=True)
    old = await observer.declare_queue(
        namespace + JOBS_CREATED,
        durable=True,
        arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": namespace + JOBS_DEAD_LETTER,
        },
    )
    await observer.default_exchange.publish(
        aio_pika.Message(b"waiting since before", message_id="old"), routing_key=old.name
    )
    broker = open_amqp_broker(rabbitmq_url, namespace=namespace, publish_timeout_s=5.0)
    try:
        with anyio.fail_after(10):
            await broker.__aenter__()
        with caplog.at_level(logging.WARNING, logger="actors.broker.amqp"), anyio.fail_after(10):
            await broker.declare_topology()
        [warning] = [r.getMessage() for r in caplog.records if "priorities_off" in r.getMessage()]
        assert f"rabbitmqctl delete_queue {namespace}{JOBS_CREATED}" in warning
        with anyio.fail_after(10):
            await broker.publish_batch(JOBS_CREATED, [message("new")])
            async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
                deliveries = await receive(consumer, 2)
                await consumer.ack(deliveries)
        assert [d.message_id for d in deliveries] == ["old", "new"]
    finally:
        with anyio.fail_after(10, shield=True):
            for queue in reversed(broker.declared_queues):
                await broker.delete_queue(queue)
            await broker.__aexit__(None, None, None)
