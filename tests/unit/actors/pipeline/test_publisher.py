"""The publisher shares one confirm round among the requests that arrive together: the
gateway's concurrent ``POST /jobs`` requests cost one pipelined publish, not one each,
and their envelopes share broker messages (packed)."""

from __future__ import annotations

import json
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


class RecordingBroker:
    """Keeps every message published, per queue."""

    def __init__(self) -> None:
        self.published: dict[str, list[OutgoingMessage]] = {}

    async def publish_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        self.published.setdefault(queue, []).extend(messages)


async def test_packable_requests_arriving_together_share_broker_messages() -> None:
    broker = RecordingBroker()
    publisher = Publisher(broker, retry=False, mailbox_size=64, max_batch=64)  # type: ignore[arg-type]

    def envelope(n: int) -> OutgoingMessage:
        return OutgoingMessage(body=json.dumps({"n": n}).encode(), message_id=f"event-{n}")

    singles = [
        PublishRequest("jobs.created", [envelope(n)], done=anyio.Event(), packable=True)
        for n in range(5)
    ]
    # Not packable: a probe's malformed body, and a message to another queue.
    probe = PublishRequest(
        "jobs.created",
        [OutgoingMessage(body=b"not json", message_id="probe")],
        done=anyio.Event(),
    )
    elsewhere = PublishRequest("jobs.completed", [envelope(9)], done=anyio.Event(), packable=True)
    async with anyio.create_task_group() as tg:
        await tg.start(publisher.run)
        # All in the mailbox at once, as concurrent requests are when the publisher wakes.
        for each in [*singles[:2], probe, *singles[2:], elsewhere]:
            publisher.send_nowait(each)
        with anyio.fail_after(5):
            for each in [*singles, probe, elsewhere]:
                assert each.done is not None
                await each.done.wait()
        publisher.request_stop()

    created = broker.published["jobs.created"]
    # The probe as it was; the five envelopes in one array, in the order they came.
    assert [m.body for m in created] == [
        b"not json",
        b'[{"n": 0},{"n": 1},{"n": 2},{"n": 3},{"n": 4}]',
    ]
    assert [m.message_id for m in broker.published["jobs.completed"]] == ["event-9"]
    assert all(each.error is None for each in [*singles, probe, elsewhere])
