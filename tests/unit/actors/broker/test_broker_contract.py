"""The broker contract: every adapter (``broker`` fixture params) must pass all of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker import OutgoingMessage
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED, JOBS_DEAD_LETTER
from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    from actors.broker import Broker, Consumer, Delivery


def message(name: str, **headers: str) -> OutgoingMessage:
    return OutgoingMessage(
        body=f"body of {name}".encode(),
        message_id=name,
        correlation_id=f"corr-{name}",
        headers=headers,
    )


async def publish(broker: Broker, queue: str, *names: str) -> None:
    await broker.publish_batch(queue, [message(name) for name in names])


async def receive(consumer: Consumer, count: int) -> list[Delivery]:
    """Receive exactly ``count`` deliveries, in as many batches as the adapter needs."""
    received: list[Delivery] = []
    with anyio.fail_after(5):
        while len(received) < count:
            received.extend(await consumer.receive_batch(count - len(received)))
    assert len(received) == count
    return received


def ids(deliveries: list[Delivery]) -> list[str]:
    return [str(delivery.message_id) for delivery in deliveries]


async def assert_nothing_to_receive(consumer: Consumer) -> None:
    """A receive on ``consumer`` blocks: every task is blocked and it returned nothing."""
    received: list[Delivery] = []
    async with anyio.create_task_group() as tg:

        async def try_receive() -> None:
            received.extend(await consumer.receive_batch(10))

        tg.start_soon(try_receive)
        with anyio.fail_after(5):
            await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert received == []


async def test_published_messages_are_received_in_fifo_order_with_their_fields(
    broker: Broker,
) -> None:
    await broker.publish_batch(
        JOBS_CREATED, [message("m1", trace="t1"), message("m2"), message("m3")]
    )

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        deliveries = await receive(consumer, 3)

    assert ids(deliveries) == ["m1", "m2", "m3"]
    first = deliveries[0]
    assert first.body == b"body of m1"
    assert first.correlation_id == "corr-m1"
    assert first.headers == {"trace": "t1"}
    assert first.queue == JOBS_CREATED
    assert not any(delivery.redelivered for delivery in deliveries)
    assert len({delivery.delivery_tag for delivery in deliveries}) == 3


async def test_receive_batch_returns_at_most_max_messages(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1", "m2", "m3", "m4")

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        with anyio.fail_after(5):
            batch = await consumer.receive_batch(2)
        assert 1 <= len(batch) <= 2
        rest = await receive(consumer, 4 - len(batch))

    assert ids(batch + rest) == ["m1", "m2", "m3", "m4"]


async def test_receive_batch_waits_without_polling_until_a_publish_arrives(
    broker: Broker,
) -> None:
    received: list[Delivery] = []
    done = anyio.Event()

    async with (
        broker.open_consumer(JOBS_CREATED, prefetch=5) as consumer,
        anyio.create_task_group() as tg,
    ):

        async def receive_once() -> None:
            received.extend(await consumer.receive_batch(5))
            done.set()

        tg.start_soon(receive_once)
        with anyio.fail_after(5):
            # Returns only once the receiver is blocked: a busy loop would never block.
            await anyio.wait_all_tasks_blocked()
        assert received == []

        await publish(broker, JOBS_CREATED, "m1")
        with anyio.fail_after(5):
            await done.wait()
        await consumer.ack(received)

    assert ids(received) == ["m1"]


async def test_consumer_never_holds_more_than_its_prefetch_window(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1", "m2", "m3", "m4", "m5")
    later: list[Delivery] = []
    done = anyio.Event()

    async with broker.open_consumer(JOBS_CREATED, prefetch=2) as consumer:
        first = await receive(consumer, 2)
        async with anyio.create_task_group() as tg:

            async def receive_more() -> None:
                later.extend(await consumer.receive_batch(10))
                done.set()

            tg.start_soon(receive_more)
            with anyio.fail_after(5):
                await anyio.wait_all_tasks_blocked()
            assert later == [], "a full prefetch window must block receive_batch"

            await consumer.ack(first[:1])
            with anyio.fail_after(5):
                await done.wait()

        assert ids(first) == ["m1", "m2"]
        assert ids(later) == ["m3"], "one settled delivery makes room for exactly one"
        await consumer.ack([first[1], *later])


async def test_competing_consumers_each_take_different_messages(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1", "m2", "m3", "m4", "m5", "m6")

    async with (
        broker.open_consumer(JOBS_CREATED, prefetch=3) as first,
        broker.open_consumer(JOBS_CREATED, prefetch=3) as second,
    ):
        taken_first = await receive(first, 3)
        taken_second = await receive(second, 3)
        await first.ack(taken_first)
        await second.ack(taken_second)

    assert set(ids(taken_first)).isdisjoint(ids(taken_second))
    assert sorted(ids(taken_first + taken_second)) == ["m1", "m2", "m3", "m4", "m5", "m6"]


async def test_waiting_competing_consumers_are_each_woken_for_one_message(
    broker: Broker,
) -> None:
    results: dict[str, list[Delivery]] = {}
    both_received = anyio.Event()

    async with (
        broker.open_consumer(JOBS_CREATED, prefetch=1) as first,
        broker.open_consumer(JOBS_CREATED, prefetch=1) as second,
        anyio.create_task_group() as tg,
    ):

        async def take(name: str, consumer: Consumer) -> None:
            results[name] = await consumer.receive_batch(5)
            if len(results) == 2:
                both_received.set()

        tg.start_soon(take, "first", first)
        tg.start_soon(take, "second", second)
        with anyio.fail_after(5):
            await anyio.wait_all_tasks_blocked()
        await publish(broker, JOBS_CREATED, "m1", "m2")
        with anyio.fail_after(5):
            await both_received.wait()
        await first.ack(results["first"])
        await second.ack(results["second"])

    assert [len(batch) for batch in results.values()] == [1, 1]
    assert sorted(ids(results["first"] + results["second"])) == ["m1", "m2"]


async def test_acked_messages_are_gone_for_good(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1", "m2")

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        await consumer.ack(await receive(consumer, 2))

    assert await broker.queue_depth(JOBS_CREATED) == 0
    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        await assert_nothing_to_receive(consumer)


async def test_rejected_with_requeue_are_redelivered_first_and_flagged(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1", "m2", "m3")

    # prefetch = what is taken: RabbitMQ pushes up to prefetch messages ahead of time.
    async with broker.open_consumer(JOBS_CREATED, prefetch=2) as consumer:
        taken = await receive(consumer, 2)
        await consumer.reject(taken, requeue=True)
        again = await receive(consumer, 2)
        await consumer.ack(again)
        rest = await receive(consumer, 1)
        await consumer.ack(rest)

    assert ids(again) == ["m1", "m2"]
    assert [delivery.redelivered for delivery in again] == [True, True]
    assert ids(rest) == ["m3"]
    assert rest[0].redelivered is False


async def test_rejected_without_requeue_go_to_the_dead_letter_queue_with_x_death(
    broker: Broker,
) -> None:
    await broker.publish_batch(JOBS_CREATED, [message("poison", trace="t1"), message("fine")])

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        poison, fine = await receive(consumer, 2)
        await consumer.reject([poison], requeue=False)
        await consumer.ack([fine])
    async with broker.open_consumer(JOBS_DEAD_LETTER, prefetch=10) as dead_letters:
        [dead] = await receive(dead_letters, 1)
        await dead_letters.ack([dead])

    assert await broker.queue_depth(JOBS_CREATED) == 0
    assert (dead.message_id, dead.body, dead.correlation_id) == (
        "poison",
        b"body of poison",
        "corr-poison",
    )
    assert dead.queue == JOBS_DEAD_LETTER
    assert dead.headers["trace"] == "t1"
    deaths = dead.headers["x-death"]
    assert isinstance(deaths, list)
    assert len(deaths) == 1
    assert {key: deaths[0][key] for key in ("queue", "reason", "count")} == {
        "queue": JOBS_CREATED,
        "reason": "rejected",
        "count": 1,
    }


async def test_closed_consumer_returns_unsettled_messages_to_the_next_consumer(
    broker: Broker,
) -> None:
    await publish(broker, JOBS_COMPLETED, "m1", "m2", "m3", "m4")

    async with broker.open_consumer(JOBS_COMPLETED, prefetch=3) as consumer:
        taken = await receive(consumer, 3)
        await consumer.ack(taken[1:2])
    async with broker.open_consumer(JOBS_COMPLETED, prefetch=10) as successor:
        again = await receive(successor, 3)
        await successor.ack(again)

    assert ids(again) == ["m1", "m3", "m4"]
    # m4 was never handed out; RabbitMQ may have pushed it ahead, so its flag is free.
    assert [delivery.redelivered for delivery in again[:2]] == [True, True]


async def test_consumer_whose_task_is_cancelled_mid_batch_returns_its_messages(
    broker: Broker,
) -> None:
    await publish(broker, JOBS_CREATED, "m1", "m2", "m3")
    holding = anyio.Event()

    async def process_forever() -> None:
        async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
            batch = await receive(consumer, 3)
            await consumer.ack(batch[:1])
            holding.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(process_forever)
        with anyio.fail_after(5):
            await holding.wait()
        tg.cancel_scope.cancel()

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as successor:
        again = await receive(successor, 2)
        await successor.ack(again)

    assert ids(again) == ["m2", "m3"]
    assert all(delivery.redelivered for delivery in again)


async def test_consumer_whose_task_crashes_returns_its_messages(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1", "m2")

    async def crash_while_holding_two() -> None:
        async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
            await receive(consumer, 2)
            raise RuntimeError("handler crashed")

    with pytest.raises(RuntimeError, match=r"^handler crashed$"):
        await crash_while_holding_two()

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as successor:
        again = await receive(successor, 2)
        await successor.ack(again)

    assert ids(again) == ["m1", "m2"]
    assert all(delivery.redelivered for delivery in again)


async def test_acking_a_delivery_twice_raises(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1")

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        [delivery] = await receive(consumer, 1)
        await consumer.ack([delivery])
        with pytest.raises(
            BrokerUnavailable,
            match=rf"delivery tag {delivery.delivery_tag} is not outstanding on this consumer",
        ):
            await consumer.ack([delivery])
        with pytest.raises(
            BrokerUnavailable,
            match=rf"delivery tag {delivery.delivery_tag} is not outstanding on this consumer",
        ):
            await consumer.reject([delivery], requeue=True)


async def test_queue_depth_counts_ready_messages_only(broker: Broker) -> None:
    assert await broker.queue_depth(JOBS_CREATED) == 0
    await publish(broker, JOBS_CREATED, "m1", "m2", "m3")
    assert await broker.queue_depth(JOBS_CREATED) == 3

    # Measured with no consumer open: RabbitMQ counts messages pushed ahead into a
    # consumer's buffer as unacknowledged, not ready.
    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        first, second, _third = await receive(consumer, 3)
        await consumer.reject([first], requeue=True)
        await consumer.ack([second])
    # `first` was requeued, `third` returned unsettled when the consumer closed.
    assert await broker.queue_depth(JOBS_CREATED) == 2
    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        await consumer.ack(await receive(consumer, 2))

    assert await broker.queue_depth(JOBS_CREATED) == 0


async def test_declaring_the_topology_again_keeps_the_messages(broker: Broker) -> None:
    await publish(broker, JOBS_CREATED, "m1")

    await broker.declare_topology()

    assert await broker.queue_depth(JOBS_CREATED) == 1


async def test_publishing_to_an_undeclared_queue_raises(broker: Broker) -> None:
    with pytest.raises(BrokerUnavailable, match=r"'no\.such\.queue'"):
        await publish(broker, "no.such.queue", "m1")


# -- delayed publishes (issue 8: retries) --------------------------------------------------


async def test_issue_8_delayed_messages_arrive_after_their_delay_in_order(broker: Broker) -> None:
    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        started = anyio.current_time()
        await broker.publish_delayed(JOBS_CREATED, [message("r1"), message("r2")], delay_s=0.3)
        assert await broker.queue_depth(JOBS_CREATED) == 0

        deliveries = await receive(consumer, 2)
        waited_s = anyio.current_time() - started
        await consumer.ack(deliveries)

    assert ids(deliveries) == ["r1", "r2"]
    assert 0.25 <= waited_s < 1.0
    first = deliveries[0]
    assert (first.body, first.correlation_id, first.queue) == (
        b"body of r1",
        "corr-r1",
        JOBS_CREATED,
    )
    deaths = first.headers["x-death"]
    assert isinstance(deaths, list)
    assert (deaths[0]["queue"], deaths[0]["reason"]) == ("jobs.retry.1s", "expired")


async def test_issue_8_a_negative_delay_is_refused(broker: Broker) -> None:
    with pytest.raises(ValueError, match=r"^delay_s must not be negative, not -1\.$"):
        await broker.publish_delayed(JOBS_CREATED, [message("r1")], delay_s=-1)


async def test_issue_18_jobs_created_delivers_higher_priorities_first_fifo_within_one(
    broker: Broker,
) -> None:
    """``jobs.created`` is a priority queue (0 to 9; none counts as 0, above 9 as 9)."""
    published = [("low-1", 1), ("none", None), ("mid-1", 5), ("top", 9), ("mid-2", 5)]
    published += [("capped", 42), ("low-2", 1)]
    await broker.publish_batch(
        JOBS_CREATED,
        [
            OutgoingMessage(body=name.encode(), message_id=name, priority=priority)
            for name, priority in published
        ],
    )

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        deliveries = await receive(consumer, len(published))

    assert ids(deliveries) == ["top", "capped", "mid-1", "mid-2", "low-1", "low-2", "none"]


async def test_issue_18_other_queues_keep_arrival_order_whatever_the_priority(
    broker: Broker,
) -> None:
    await broker.publish_batch(
        JOBS_COMPLETED,
        [OutgoingMessage(body=b"x", message_id=f"m{p}", priority=p) for p in (1, 9, 5)],
    )

    async with broker.open_consumer(JOBS_COMPLETED, prefetch=10) as consumer:
        deliveries = await receive(consumer, 3)

    assert ids(deliveries) == ["m1", "m9", "m5"]
