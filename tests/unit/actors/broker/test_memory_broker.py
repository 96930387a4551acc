"""What only the in-process broker does: spilling across restarts, statistics, its errors."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker import OutgoingMessage
from actors.broker.memory import MemoryBroker, _with_death, open_memory_broker
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED, JOBS_DEAD_LETTER
from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    import pathlib

    from actors.broker import Delivery
    from actors.broker.memory import MemoryConsumer


def message(name: str) -> OutgoingMessage:
    return OutgoingMessage(body=name.encode(), message_id=name, headers={"origin": "test"})


async def publish(broker: MemoryBroker, queue: str, *names: str) -> None:
    await broker.publish_batch(queue, [message(name) for name in names])


async def receive(consumer: MemoryConsumer, count: int) -> list[Delivery]:
    with anyio.fail_after(5):
        batch = await consumer.receive_batch(count)
    assert len(batch) == count
    return batch


def ids(deliveries: list[Delivery]) -> list[str | None]:
    return [delivery.message_id for delivery in deliveries]


def spilled_message_count(path: pathlib.Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        [(count,)] = conn.execute("SELECT count(*) FROM messages").fetchall()
    return int(count)


async def test_messages_survive_a_restart_with_unsettled_ones_first(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "data" / "broker.sqlite3"
    holding = anyio.Event()
    release = anyio.Event()

    async with anyio.create_task_group() as tg:
        async with open_memory_broker(path) as broker:
            await broker.declare_topology()
            await publish(broker, JOBS_CREATED, "m1", "m2", "m3", "m4")
            await publish(broker, JOBS_COMPLETED, "poison", "c2")
            async with broker.open_consumer(JOBS_COMPLETED, prefetch=1) as consumer:
                await consumer.reject(await receive(consumer, 1), requeue=False)

            async def hold_two() -> None:
                # Still open (and holding m1, m2) when the broker stops.
                async with broker.open_consumer(JOBS_CREATED, prefetch=2) as consumer:
                    await receive(consumer, 2)
                    holding.set()
                    await release.wait()

            tg.start_soon(hold_two)
            with anyio.fail_after(5):
                await holding.wait()
        release.set()

    assert await anyio.to_thread.run_sync(spilled_message_count, path) == 6
    async with open_memory_broker(path) as restarted:
        assert await anyio.to_thread.run_sync(spilled_message_count, path) == 0
        await restarted.declare_topology()
        assert await restarted.queue_depth(JOBS_CREATED) == 4
        assert await restarted.queue_depth(JOBS_COMPLETED) == 1
        async with restarted.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
            created = await receive(consumer, 4)
            await consumer.ack(created)
        async with restarted.open_consumer(JOBS_DEAD_LETTER, prefetch=10) as consumer:
            [dead] = await receive(consumer, 1)
            await consumer.ack([dead])

    assert ids(created) == ["m1", "m2", "m3", "m4"]
    assert [delivery.redelivered for delivery in created] == [True, True, False, False]
    assert created[0].body == b"m1"
    assert created[0].headers == {"origin": "test"}
    assert dead.message_id == "poison"
    assert dead.headers == {
        "origin": "test",
        "x-death": [{"queue": JOBS_COMPLETED, "reason": "rejected", "count": 1}],
    }
    async with open_memory_broker(path) as third:
        assert await third.queue_depth(JOBS_CREATED) == 0
        assert await third.queue_depth(JOBS_COMPLETED) == 1


async def test_messages_are_spilled_when_the_broker_exits_by_cancellation(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "broker.sqlite3"

    with anyio.CancelScope() as scope:
        async with open_memory_broker(path) as broker:
            await broker.declare_topology()
            await publish(broker, JOBS_CREATED, "m1")
            scope.cancel()
            await anyio.sleep_forever()

    async with open_memory_broker(path) as restarted:
        assert await restarted.queue_depth(JOBS_CREATED) == 1


async def test_broker_without_state_path_works_without_being_entered() -> None:
    broker = MemoryBroker()
    await broker.declare_topology()
    await publish(broker, JOBS_CREATED, "m1")

    async with broker.open_consumer(JOBS_CREATED, prefetch=1) as consumer:
        await consumer.ack(await receive(consumer, 1))

    assert await broker.queue_depth(JOBS_CREATED) == 0


async def test_closing_the_broker_fails_waiting_receives_and_later_publishes() -> None:
    failed = anyio.Event()

    async with anyio.create_task_group() as tg:
        async with open_memory_broker() as broker:
            await broker.declare_topology()

            async def wait_for_a_message() -> None:
                async with broker.open_consumer(JOBS_CREATED, prefetch=1) as consumer:
                    with pytest.raises(
                        BrokerUnavailable,
                        match=r"^Cannot receive from queue 'jobs\.created': the in-process "
                        r"broker is closed; open a new MemoryBroker\.$",
                    ):
                        await consumer.receive_batch(1)
                    failed.set()

            tg.start_soon(wait_for_a_message)
            with anyio.fail_after(5):
                await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(5):
            await failed.wait()

    with pytest.raises(
        BrokerUnavailable,
        match=r"^Cannot publish to queue 'jobs\.created': the in-process broker is closed; "
        r"open a new MemoryBroker\.$",
    ):
        await publish(broker, JOBS_CREATED, "m1")


async def test_statistics_count_ready_unacked_and_settled_messages() -> None:
    broker = MemoryBroker()
    await broker.declare_topology()
    await publish(broker, JOBS_CREATED, "m1", "m2", "m3", "m4")

    async with broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        first, second, third = await receive(consumer, 3)
        await consumer.ack([first])
        await consumer.reject([second], requeue=False)
        during = broker.statistics()
        await consumer.ack([third])

    created = during.queues[JOBS_CREATED]
    assert (created.ready, created.unacked, created.consumers) == (1, 1, 1)
    assert (created.published, created.acked, created.rejected) == (4, 1, 1)
    assert created.dead_letter_to == JOBS_DEAD_LETTER
    dead = during.queues[JOBS_DEAD_LETTER]
    assert (dead.ready, dead.dead_lettered, dead.published) == (1, 1, 0)
    after = broker.statistics()
    assert (after.published, after.acked, after.rejected) == (4, 2, 1)
    assert after.queues[JOBS_CREATED].consumers == 0


async def test_rejecting_without_requeue_drops_when_the_queue_has_no_dead_letter_queue() -> None:
    broker = MemoryBroker()
    await broker.declare_queue("scratch")
    await publish(broker, "scratch", "m1")

    async with broker.open_consumer("scratch", prefetch=1) as consumer:
        await consumer.reject(await receive(consumer, 1), requeue=False)

    assert await broker.queue_depth("scratch") == 0
    assert broker.statistics().queues["scratch"].rejected == 1


async def test_redeclaring_a_queue_with_another_dead_letter_queue_raises() -> None:
    broker = MemoryBroker()
    await broker.declare_topology()

    with pytest.raises(
        BrokerUnavailable,
        match=r"^Cannot declare queue 'jobs\.created' with dead_letter_to=None, "
        r"max_priority=9: it exists with dead_letter_to='jobs\.dead-letter', max_priority=9\.$",
    ):
        await broker.declare_queue(JOBS_CREATED, max_priority=9)


async def test_declaring_a_queue_whose_dead_letter_queue_is_undeclared_raises() -> None:
    broker = MemoryBroker()

    with pytest.raises(
        BrokerUnavailable,
        match=r"^Cannot declare queue 'work' dead-lettering into 'dlq': declare 'dlq' first\.$",
    ):
        await broker.declare_queue("work", dead_letter_to="dlq")


async def test_publishing_to_an_undeclared_queue_says_what_to_do() -> None:
    broker = MemoryBroker()

    with pytest.raises(
        BrokerUnavailable,
        match=r"^Cannot publish to queue 'jobs\.created': it is not declared; call "
        r"declare_topology\(\) \(or declare_queue\(\)\) first\.$",
    ):
        await publish(broker, JOBS_CREATED, "m1")


async def test_settling_another_consumers_delivery_raises_and_settles_nothing() -> None:
    broker = MemoryBroker()
    await broker.declare_topology()
    await publish(broker, JOBS_CREATED, "m1", "m2")

    async with (
        broker.open_consumer(JOBS_CREATED, prefetch=1) as owner,
        broker.open_consumer(JOBS_CREATED, prefetch=1) as other,
    ):
        [mine] = await receive(owner, 1)
        [theirs] = await receive(other, 1)
        with pytest.raises(
            BrokerUnavailable,
            match=rf"^Cannot ack: delivery tag {mine.delivery_tag} is not outstanding on this "
            r"consumer of queue 'jobs\.created'; it was settled already or delivered to "
            r"another consumer\. Nothing in this call was settled\.$",
        ):
            await other.ack([theirs, mine])
        with pytest.raises(BrokerUnavailable, match=r"is not outstanding on this consumer"):
            await owner.ack([mine, mine])
        assert (owner.unsettled, other.unsettled) == (1, 1)
        await owner.ack([mine])
        await other.ack([theirs])


async def test_receive_batch_and_open_consumer_refuse_sizes_below_one() -> None:
    broker = MemoryBroker()
    await broker.declare_topology()

    with pytest.raises(ValueError, match=r"^prefetch must be at least 1, not 0\.$"):
        async with broker.open_consumer(JOBS_CREATED, prefetch=0):
            pass
    async with broker.open_consumer(JOBS_CREATED, prefetch=1) as consumer:
        with pytest.raises(ValueError, match=r"^max_messages must be at least 1, not 0\.$"):
            await consumer.receive_batch(0)


def test_x_death_counts_repeated_deaths_in_one_queue_most_recent_first() -> None:
    headers: dict[str, object] = {
        "x-death": [
            {"queue": "a", "reason": "rejected", "count": 1},
            {"queue": "b", "reason": "rejected", "count": 1},
        ]
    }

    assert _with_death(headers, "b", "rejected")["x-death"] == [
        {"queue": "b", "reason": "rejected", "count": 2},
        {"queue": "a", "reason": "rejected", "count": 1},
    ]
    assert _with_death({}, "a", "rejected") == {
        "x-death": [{"queue": "a", "reason": "rejected", "count": 1}]
    }


async def test_issue_8_delayed_messages_wait_out_a_restart_with_what_was_left(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "broker.sqlite3"
    async with open_memory_broker(path) as broker:
        await broker.declare_topology()
        await broker.publish_delayed(
            JOBS_CREATED, [OutgoingMessage(b"later", message_id="m1")], delay_s=0.3
        )
        assert broker.statistics().queues[JOBS_CREATED].delayed == 1
        assert await broker.queue_depth(JOBS_CREATED) == 0

    async with open_memory_broker(path) as broker:
        assert broker.statistics().queues[JOBS_CREATED].delayed == 1
        async with broker.open_consumer(JOBS_CREATED, prefetch=1) as consumer:
            with anyio.fail_after(5):
                [delivery] = await consumer.receive_batch(1)
            await consumer.ack([delivery])
        assert (delivery.body, delivery.message_id) == (b"later", "m1")
        assert broker.statistics().queues[JOBS_CREATED].delayed == 0


async def test_issue_8_delays_are_capped_at_the_longest_retry_queue() -> None:
    broker = MemoryBroker()
    await broker.declare_topology()
    await broker.publish_delayed(
        JOBS_CREATED, [OutgoingMessage(b"x", message_id="m1")], delay_s=1e9
    )
    queue = broker._queues[JOBS_CREATED]
    next_due = queue.delayed.next_due()
    assert next_due is not None
    assert next_due - anyio.current_time() <= 30.0
