"""Settlements (actors.pipeline.settlement): ack when the last piece is done, or, for a
delivery a graceful stop interrupted (issue 16), requeue it."""

from __future__ import annotations

import anyio

from actors.broker import OutgoingMessage
from actors.broker.memory import open_memory_broker
from actors.broker.names import JOBS_CREATED
from actors.pipeline.settlement import Settlement, settle


async def test_issue_16_a_requeued_settlement_returns_its_delivery_and_the_rest_are_acked() -> None:
    async with open_memory_broker() as broker:
        await broker.declare_topology()
        await broker.publish_batch(
            JOBS_CREATED,
            [OutgoingMessage(body=b"{}", message_id=name) for name in ("done", "interrupted")],
        )
        async with broker.open_consumer(JOBS_CREATED, prefetch=2) as consumer:
            with anyio.fail_after(5):
                done, interrupted = await consumer.receive_batch(2)
            two_parts = Settlement(consumer, interrupted, parts=2)
            two_parts.requeue = True

            # One piece of two: nothing is settled yet.
            assert await settle([Settlement(consumer, done), two_parts]) == 1
            assert (consumer.unsettled, await broker.queue_depth(JOBS_CREATED)) == (1, 0)
            assert await settle([two_parts]) == 1
            assert consumer.unsettled == 0

            # Back in the queue, flagged as delivered before; the other one is gone.
            assert await broker.queue_depth(JOBS_CREATED) == 1
            with anyio.fail_after(5):
                [again] = await consumer.receive_batch(1)
            assert (again.message_id, again.redelivered) == ("interrupted", True)
            await consumer.ack([again])
