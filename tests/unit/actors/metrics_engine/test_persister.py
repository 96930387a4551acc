"""The metrics engine's persister: one audit-trail append and one counters apply per flush."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.metrics_engine.service import PERSIST_MAX_MESSAGES, EventPersister, StoreEvents
from actors.observability.prometheus import MetricsEngineMetrics, create_registry
from actors.stores import AppendResult, MemoryCounters
from actors.stores.sqlite import EVENTS_DATABASE, open_sqlite_event_store

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Sequence

    import pytest

_PRODUCER = Producer(service="processor", instance_id="processor-1", version="0.1.0")
_EVENTS_PER_MESSAGE = 5


def _events(message: int) -> list[Envelope]:
    return [
        Envelope(
            event_type=EventType.VALIDATED,
            event_id=lifecycle_event_id(f"m{message}-job-{n}", EventType.VALIDATED),
            occurred_at=f"2026-01-01T00:00:{n:02d}.000000Z",
            producer=_PRODUCER,
            correlation_id=f"corr-{message}-{n}",
            idempotency_key=f"m{message}-job-{n}",
            payload={"id": f"m{message}-job-{n}", "type": "echo"},
        )
        for n in range(_EVENTS_PER_MESSAGE)
    ]


async def test_a_full_mailbox_is_one_append_and_one_apply(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters = MemoryCounters()
    appended: list[int] = []
    applied: list[int] = []
    counted = anyio.Event()

    async with open_sqlite_event_store(tmp_path / EVENTS_DATABASE) as events:
        append, apply = events.append, counters.apply

        async def counting_append(batch: Sequence[Envelope]) -> AppendResult:
            appended.append(len(batch))
            return await append(batch)

        async def counting_apply(batch: Sequence[Envelope]) -> int:
            applied.append(len(batch))
            new = await apply(batch)
            counted.set()
            return new

        monkeypatch.setattr(events, "append", counting_append)
        monkeypatch.setattr(counters, "apply", counting_apply)
        persister = EventPersister(events, counters, MetricsEngineMetrics(create_registry()))
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                await tg.start(persister.run)
                # Sent without yielding: the persister finds them all when it next runs.
                for message in range(PERSIST_MAX_MESSAGES):
                    persister.send_nowait(StoreEvents(_events(message), []))
                await counted.wait()
                persister.request_stop()  # the mailbox is drained first
        stored = await events.recent_events(limit=1000)

    assert appended == applied == [PERSIST_MAX_MESSAGES * _EVENTS_PER_MESSAGE]
    assert len(stored) == PERSIST_MAX_MESSAGES * _EVENTS_PER_MESSAGE
    assert (await counters.snapshot()).total_jobs == PERSIST_MAX_MESSAGES * _EVENTS_PER_MESSAGE
