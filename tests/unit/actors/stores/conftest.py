"""Fixtures of the store contract suites: one factory per interface, one param per adapter.

``open_*`` fixtures return a function that opens the *same* store each time it is
called, so a suite can close and reopen it; the plain fixtures hold one open store for
the test. A new adapter (PostgreSQL, MongoDB, Redis) joins a suite by adding its name to
``params`` and a branch that opens an empty, isolated store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    DEAD_LETTERS_DATABASE,
    EVENTS_DATABASE,
    JOBS_DATABASE,
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import Counters, DeadLetterStore, EventStore, JobStore


def _unknown(adapter: object) -> ValueError:
    return ValueError(f"Unknown store adapter {adapter!r}; add a branch for it in conftest.py.")


@pytest.fixture(params=["sqlite"])
def open_job_store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Callable[[], AbstractAsyncContextManager[JobStore]]:
    """Opens the test's job store (empty at first, the same one at every call)."""
    if request.param == "sqlite":
        path = tmp_path / JOBS_DATABASE
        return lambda: open_sqlite_job_store(path)
    raise _unknown(request.param)  # pragma: no cover


@pytest.fixture
async def job_store(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> AsyncIterator[JobStore]:
    """An open, empty job store."""
    async with open_job_store() as store:
        yield store


@pytest.fixture(params=["sqlite"])
def open_event_store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Callable[[], AbstractAsyncContextManager[EventStore]]:
    """Opens the test's event store (empty at first, the same one at every call)."""
    if request.param == "sqlite":
        path = tmp_path / EVENTS_DATABASE
        return lambda: open_sqlite_event_store(path)
    raise _unknown(request.param)  # pragma: no cover


@pytest.fixture
async def event_store(
    open_event_store: Callable[[], AbstractAsyncContextManager[EventStore]],
) -> AsyncIterator[EventStore]:
    """An open, empty event store."""
    async with open_event_store() as store:
        yield store


@pytest.fixture(params=["sqlite"])
def open_dead_letter_store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Callable[[], AbstractAsyncContextManager[DeadLetterStore]]:
    """Opens the test's dead-letter store (empty at first, the same one at every call)."""
    if request.param == "sqlite":
        path = tmp_path / DEAD_LETTERS_DATABASE
        return lambda: open_sqlite_dead_letter_store(path)
    raise _unknown(request.param)  # pragma: no cover


@pytest.fixture
async def dead_letter_store(
    open_dead_letter_store: Callable[[], AbstractAsyncContextManager[DeadLetterStore]],
) -> AsyncIterator[DeadLetterStore]:
    """An open, empty dead-letter store."""
    async with open_dead_letter_store() as store:
        yield store


@pytest.fixture(params=["memory"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    """Empty counters."""
    if request.param == "memory":
        yield MemoryCounters()
    else:  # pragma: no cover
        raise _unknown(request.param)
