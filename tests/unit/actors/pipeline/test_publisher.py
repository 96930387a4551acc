"""The publisher shares one confirm round among the requests that arrive together: the
gateway's concurrent ``POST /jobs`` requests cost one pipelined publish, not one each."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.broker import OutgoingMessage
from actors.pipeline.publisher import Publisher, PublishRequest

if TYPE_CHECKING:
    from collections.abc import Sequence

pytestmark = pytest.mark.timeout(30)


class HeldBroker:
    """Records each ``publish_batch``; the first one waits until ``release`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.first_started = anyio.Event()
        self.release = anyio.Event()

    async def publish_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        self.batches.append([m.message_id for m in messages])
        if len(self.batches) == 1:
            self.first_started.set()
            await self.release.wait()


async def test_requests_arriving_while_a_confirm_is_awaited_share_the_next_one() -> None:
    broker = HeldBroker()
    publisher = Publisher(broker, retry=False, mailbox_size=64, max_batch=64)  # type: ignore[arg-type]

    def request() -> PublishRequest:
        message = OutgoingMessage(body=b"{}", message_id=str(uuid.uuid4()))
        return PublishRequest("jobs.created", [message], done=anyio.Event())

    async with anyio.create_task_group() as tg:
        await tg.start(publisher.run)
        first = request()
        await publisher.send(first)
        await broker.first_started.wait()
        # Ten requests (say ten POST /jobs) arrive while the first confirm is awaited.
        waiting = [request() for _ in range(10)]
        for each in waiting:
            await publisher.send(each)
        broker.release.set()
        with anyio.fail_after(5):
            for each in [first, *waiting]:
                assert each.done is not None
                await each.done.wait()
        publisher.request_stop()

    assert broker.batches == [
        [first.messages[0].message_id],
        [each.messages[0].message_id for each in waiting],
    ]
    assert all(each.error is None for each in [first, *waiting])
