"""Fixtures of the store contract suites: one factory per interface, one param per adapter.

``open_*`` fixtures return a function that opens the *same* store each time it is
called, so a suite can close and reopen it; the plain fixtures hold one open store for
the test (the in-memory job store is "reopened" as itself). A new adapter (PostgreSQL, MongoDB, Redis) joins a suite by adding its name to
``params`` and a branch that opens an empty, isolated store.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import pymongo
import pytest

from actors.stores.memory import MemoryCounters, MemoryJobStore
from actors.stores.mongo import open_mongo_dead_letter_store, open_mongo_event_store
from actors.stores.redis import open_redis_counters
from actors.stores.sqlite import (
    DEAD_LETTERS_DATABASE,
    EVENTS_DATABASE,
    JOBS_DATABASE,
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from tests.redis_keys import own_redis_prefix

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import Counters, DeadLetterStore, EventStore, JobStore


def _unknown(adapter: object) -> ValueError:
    return ValueError(f"Unknown store adapter {adapter!r}; add a branch for it in conftest.py.")


@asynccontextmanager
async def _still_open(store: MemoryJobStore) -> AsyncIterator[JobStore]:
    """The same in-memory store at every opening (as a file or a schema would be)."""
    yield store


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
async def open_job_store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[Callable[[], AbstractAsyncContextManager[JobStore]]]:
    """Opens the test's job store (empty at first, the same one at every call)."""
    if request.param == "memory":
        memory = MemoryJobStore()
        yield lambda: _still_open(memory)
    elif request.param == "sqlite":
        path = tmp_path / JOBS_DATABASE
        yield lambda: open_sqlite_job_store(path)
    elif request.param == "postgres":
        # Imported here: only this branch needs them (and the imports above are shared).
        from uuid import uuid4

        import anyio
        import asyncpg

        from actors.stores.postgres import open_postgres_job_store

        url: str = request.getfixturevalue("postgres_url")
        schema = f"test_{uuid4().hex[:12]}"  # the test's own schema, dropped afterwards
        try:
            yield lambda: open_postgres_job_store(url, schema=schema)
        finally:
            with anyio.fail_after(10, shield=True):
                conn = await asyncpg.connect(url)
                try:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                finally:
                    await conn.close()
    else:  # pragma: no cover
        raise _unknown(request.param)


@pytest.fixture
async def job_store(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> AsyncIterator[JobStore]:
    """An open, empty job store."""
    async with open_job_store() as store:
        yield store


_TEARDOWN_TIMEOUT_S = 10
"""Bound of dropping a test's MongoDB database."""


@asynccontextmanager
async def _mongo_database(url: str) -> AsyncIterator[str]:
    """A database name of the test's own, dropped afterwards."""
    database = f"test_{uuid.uuid4().hex}"
    try:
        yield database
    finally:
        with anyio.fail_after(_TEARDOWN_TIMEOUT_S, shield=True):
            client: pymongo.AsyncMongoClient[dict[str, object]] = pymongo.AsyncMongoClient(url)
            try:
                await client.drop_database(database)
            finally:
                await client.close()


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.integration)])
async def open_event_store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[Callable[[], AbstractAsyncContextManager[EventStore]]]:
    """Opens the test's event store (empty at first, the same one at every call)."""
    if request.param == "sqlite":
        path = tmp_path / EVENTS_DATABASE
        yield lambda: open_sqlite_event_store(path)
    elif request.param == "mongo":
        url: str = request.getfixturevalue("mongo_url")
        async with _mongo_database(url) as database:
            yield lambda: open_mongo_event_store(url, database=database)
    else:  # pragma: no cover
        raise _unknown(request.param)


@pytest.fixture
async def event_store(
    open_event_store: Callable[[], AbstractAsyncContextManager[EventStore]],
) -> AsyncIterator[EventStore]:
    """An open, empty event store."""
    async with open_event_store() as store:
        yield store


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.integration)])
async def open_dead_letter_store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[Callable[[], AbstractAsyncContextManager[DeadLetterStore]]]:
    """Opens the test's dead-letter store (empty at first, the same one at every call)."""
    if request.param == "sqlite":
        path = tmp_path / DEAD_LETTERS_DATABASE
        yield lambda: open_sqlite_dead_letter_store(path)
    elif request.param == "mongo":
        url: str = request.getfixturevalue("mongo_url")
        async with _mongo_database(url) as database:
            yield lambda: open_mongo_dead_letter_store(url, database=database)
    else:  # pragma: no cover
        raise _unknown(request.param)


@pytest.fixture
async def dead_letter_store(
    open_dead_letter_store: Callable[[], AbstractAsyncContextManager[DeadLetterStore]],
) -> AsyncIterator[DeadLetterStore]:
    """An open, empty dead-letter store."""
    async with open_dead_letter_store() as store:
        yield store


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    """Empty counters."""
    if request.param == "memory":
        yield MemoryCounters()
    elif request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        async with (
            own_redis_prefix(url) as prefix,
            open_redis_counters(url, prefix=prefix) as redis_counters,
        ):
            assert await redis_counters.lost()  # no epoch yet: a new deployment
            assert await redis_counters.initialize()
            yield redis_counters
    else:  # pragma: no cover
        raise _unknown(request.param)
