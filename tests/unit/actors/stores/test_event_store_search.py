"""The event search contract (``EventStore.search_events``): every adapter
(``open_event_store`` params: SQLite, MongoDB) filters and pages alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.domain.events import Envelope, EventType
from actors.domain.search import EventCursor, EventQuery
from tests.store_events import event, ts

if TYPE_CHECKING:
    from actors.stores import EventStore


async def seed(store: EventStore) -> None:
    """Jobs j0..j4: validated at n, completed (even n) or failed (odd n) at 10 + n; j0
    and j1 also share one instant for their validation (ties by arrival)."""
    for n in range(5):
        await store.append([event(f"j{n}", EventType.VALIDATED, n if n > 1 else 0)])
    for n in range(5):
        ended = EventType.COMPLETED if n % 2 == 0 else EventType.FAILED
        await store.append([event(f"j{n}", ended, 10 + n)])


def listed(events: list[Envelope]) -> list[tuple[str, str]]:
    return [(e.job_id, e.event_type.value.removeprefix("job.")) for e in events]


async def search(store: EventStore, **filters: object) -> list[tuple[str, str]]:
    page = await store.search_events(EventQuery(**filters))  # type: ignore[arg-type]
    assert page.next is None
    return listed(page.items)


async def test_filters_by_type_job_and_half_open_time_range(event_store: EventStore) -> None:
    await seed(event_store)
    assert await search(event_store, types=frozenset({EventType.FAILED})) == [
        ("j3", "failed"),
        ("j1", "failed"),
    ]
    both = frozenset({EventType.FAILED, EventType.COMPLETED})
    assert await search(event_store, types=both, since=ts(12), until=ts(14)) == [
        ("j3", "failed"),
        ("j2", "completed"),
    ]
    assert await search(event_store, job_id="j2") == [("j2", "completed"), ("j2", "validated")]
    assert await search(event_store, until=ts(1)) == [("j1", "validated"), ("j0", "validated")]


async def test_cursor_pages_newest_first_each_event_once(event_store: EventStore) -> None:
    await seed(event_store)
    everything = await search(event_store, limit=500)
    assert len(everything) == 10
    seen: list[tuple[str, str]] = []
    cursor: EventCursor | None = None
    while True:
        page = await event_store.search_events(EventQuery(limit=3, after=cursor))
        seen += listed(page.items)
        if page.next is None:
            break
        cursor = page.next
        # New events arrive between pages: newer than the first page, never on later ones.
        await event_store.append([event(f"late-{len(seen)}", EventType.VALIDATED, 100)])
    assert seen == everything


async def test_a_full_page_tells_the_next_position(event_store: EventStore) -> None:
    await seed(event_store)
    page = await event_store.search_events(EventQuery(limit=2))
    assert listed(page.items) == [("j4", "completed"), ("j3", "failed")]
    assert page.next is not None
    assert page.next.occurred_at == ts(13)
