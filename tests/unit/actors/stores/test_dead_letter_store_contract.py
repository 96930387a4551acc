"""The dead-letter store contract: every adapter (``open_dead_letter_store`` params) passes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.domain.dead_letters import DeadLetter, dead_letter_id
from actors.errors import ValidationIssue
from actors.stores import AppendResult

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import DeadLetterStore


def dead_letter(name: str, occurred_at: str, *, body: bytes | None = None) -> DeadLetter:
    raw = body if body is not None else f'{{"name": "{name}"}}'.encode()
    return DeadLetter(
        dead_letter_id=dead_letter_id("jobs.created", name, raw),
        queue="jobs.created",
        reason=f"Message {name!r} is not a valid envelope.",
        errors=[
            ValidationIssue("/eventType", "'job.unknown' is not one of the event types."),
            ValidationIssue("", "'eventId' is a required property."),
        ],
        body=raw,
        occurred_at=occurred_at,
        service="processor",
        version="0.1.0",
        message_id=name,
        correlation_id=f"corr-{name}",
    )


async def test_added_dead_letters_read_back_unchanged(dead_letter_store: DeadLetterStore) -> None:
    text = dead_letter("text", "2026-01-01T00:00:01.000000Z")
    binary = dead_letter("binary", "2026-01-01T00:00:02.000000Z", body=b"\xff\x00\xfe not utf-8")

    result = await dead_letter_store.add([text, binary])

    assert result == AppendResult(stored=2, duplicates=0)
    assert await dead_letter_store.get(text.dead_letter_id) == text
    assert await dead_letter_store.get(binary.dead_letter_id) == binary


async def test_unknown_dead_letter_is_none(dead_letter_store: DeadLetterStore) -> None:
    assert await dead_letter_store.get("missing") is None


async def test_adding_a_known_dead_letter_again_is_skipped(
    dead_letter_store: DeadLetterStore,
) -> None:
    first = dead_letter("first", "2026-01-01T00:00:01.000000Z")
    second = dead_letter("second", "2026-01-01T00:00:02.000000Z")
    await dead_letter_store.add([first])

    result = await dead_letter_store.add([first, second, second])

    assert result == AppendResult(stored=1, duplicates=2)
    assert await dead_letter_store.count() == 2


async def test_recent_dead_letters_are_newest_first(dead_letter_store: DeadLetterStore) -> None:
    old = dead_letter("old", "2026-01-01T00:00:01.000000Z")
    new = dead_letter("new", "2026-01-01T00:00:03.000000Z")
    middle = dead_letter("middle", "2026-01-01T00:00:02.000000Z")
    await dead_letter_store.add([old, new, middle])

    assert await dead_letter_store.recent(limit=10) == [new, middle, old]
    assert await dead_letter_store.recent(limit=1) == [new]


async def test_remove_deletes_and_counts_only_what_existed(
    dead_letter_store: DeadLetterStore,
) -> None:
    kept = dead_letter("kept", "2026-01-01T00:00:01.000000Z")
    gone = dead_letter("gone", "2026-01-01T00:00:02.000000Z")
    await dead_letter_store.add([kept, gone])

    removed = await dead_letter_store.remove([gone.dead_letter_id, "missing"])
    removed_again = await dead_letter_store.remove([gone.dead_letter_id])

    assert (removed, removed_again) == (1, 0)
    assert await dead_letter_store.get(gone.dead_letter_id) is None
    assert await dead_letter_store.recent(limit=10) == [kept]
    assert await dead_letter_store.count() == 1
    assert await dead_letter_store.remove([]) == 0


async def test_count_of_an_empty_store_is_zero(dead_letter_store: DeadLetterStore) -> None:
    assert await dead_letter_store.count() == 0


async def test_dead_letters_survive_closing_and_reopening_the_store(
    open_dead_letter_store: Callable[[], AbstractAsyncContextManager[DeadLetterStore]],
) -> None:
    record = dead_letter("kept", "2026-01-01T00:00:01.000000Z")
    async with open_dead_letter_store() as store:
        await store.add([record])

    async with open_dead_letter_store() as reopened:
        assert await reopened.get(record.dead_letter_id) == record
        assert await reopened.count() == 1
