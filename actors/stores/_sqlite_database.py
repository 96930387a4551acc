"""Plumbing shared by the SQLite stores: connection, versioned migrations, transactions, errors.

aiosqlite runs each connection's calls on its own worker thread, in order. Each store
keeps one connection and serialises its calls with a lock, so a store call that writes is
one transaction with one commit, and a read never sees half of another call's batch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import aiosqlite
import anyio
import anyio.lowlevel

from actors.domain.clock import utc_now
from actors.errors import StoreUnavailable
from contracts import dump_json

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence

__all__ = [
    "Params",
    "SQLiteDatabase",
    "Schema",
    "dumps",
    "dumps_result",
    "integer",
    "open_database",
    "optional_text",
    "text",
    "validate_page",
]

log = logging.getLogger(__name__)

_ROLLBACK_TIMEOUT_S = 5.0
"""Bound of the shielded rollback after a failed or cancelled transaction."""

_BUSY_TIMEOUT_S = 5.0
"""How long a write waits for another process's lock on the file before failing."""

_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    store TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (store, version)
)"""
"""Applied migrations, per store: several stores may share one file without clashing."""

Params: TypeAlias = "Sequence[object] | Mapping[str, object]"
"""Statement parameters: positional (``?``) or named (``:name``)."""


def text(value: object) -> str:
    """A ``TEXT NOT NULL`` column's value."""
    if not isinstance(value, str):
        raise TypeError(f"Expected a text column, got {type(value).__name__}.")
    return value


def optional_text(value: object) -> str | None:
    """A nullable ``TEXT`` column's value."""
    return None if value is None else text(value)


def integer(value: object) -> int:
    """An ``INTEGER NOT NULL`` column's value."""
    if not isinstance(value, int):
        raise TypeError(f"Expected an integer column, got {type(value).__name__}.")
    return value


@dataclass(frozen=True, slots=True)
class Schema:
    """A store's schema as an ordered list of migrations.

    Migration ``n`` (1-based) is ``migrations[n - 1]``, a script given as its statements.
    Published migrations are never edited; a change is a new migration at the end.
    """

    store: str
    """Name of the store in ``schema_migrations``, e.g. ``jobs``."""
    description: str
    """What the store is, for error messages, e.g. ``job store``."""
    migrations: Sequence[Sequence[str]]


class SQLiteDatabase:
    """One aiosqlite connection of one store, with transactions and error translation.

    Created and closed by :func:`open_database`.
    """

    def __init__(self, conn: aiosqlite.Connection, path: pathlib.Path, schema: Schema) -> None:
        self._conn = conn
        self._path = path
        self._schema = schema
        self._lock = anyio.Lock()
        self._closed = False

    @property
    def path(self) -> pathlib.Path:
        """The database file."""
        return self._path

    @property
    def is_open(self) -> bool:
        """Whether the connection is open."""
        return not self._closed

    @contextmanager
    def failures(self, action: str) -> Iterator[None]:
        """Translate sqlite3 errors raised while doing ``action`` into StoreUnavailable."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(
                f"The SQLite {self._schema.description} at {str(self._path)!r} could not "
                f"{action}: {exc}. Check that the file is writable and not locked by "
                "another process."
            ) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the body in one write transaction, committed at the end.

        Cancellation:
            A body that raises or is cancelled is rolled back (in a bounded shield), so
            nothing of it is stored; except that a call cancelled while its ``COMMIT`` is
            in flight may still be stored, as with any database (writes are idempotent).
        """
        async with self._lock:
            self._check_open()
            try:
                # Inside the try: a BEGIN whose caller was cancelled still runs on the
                # connection's thread, and the rollback queued after it must undo it.
                await self._conn.execute("BEGIN IMMEDIATE")
                yield
                await self._conn.execute("COMMIT")
            except BaseException:
                with anyio.move_on_after(_ROLLBACK_TIMEOUT_S, shield=True):
                    await self._rollback()
                raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Hold the store's lock while reading, so no half-applied batch is ever seen."""
        async with self._lock:
            self._check_open()
            yield

    async def fetchall(self, sql: str, parameters: Params = ()) -> list[tuple[object, ...]]:
        """Run a query and return every row as a tuple."""
        rows = await self._conn.execute_fetchall(sql, parameters)
        return [tuple(row) for row in rows]

    async def execute(self, sql: str, parameters: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        async with self._conn.execute(sql, parameters) as cursor:
            return int(cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement for each of ``rows``; returns how many rows they changed."""
        async with self._conn.executemany(sql, rows) as cursor:
            return int(cursor.rowcount)

    async def insert_new(
        self, table: str, key: str, columns: str, rows: Mapping[str, Sequence[object]]
    ) -> list[str]:
        """Insert those of ``rows`` whose ``key`` column value (their key in ``rows``)
        ``table`` does not hold yet; returns their keys, in the order of ``rows``.

        Args:
            table: the table written.
            key: the table's unique column that ``rows`` are keyed by.
            columns: the columns of each row, comma separated, ``key`` among them.
            rows: the rows to insert, by key.

        Call it inside :meth:`transaction`, so that no other write comes between the
        look-up of the keys already stored and the insert.
        """
        found = await self.fetchall(
            f"SELECT {key} FROM {table} WHERE {key} IN (SELECT value FROM json_each(?))",
            (dumps(list(rows)),),
        )
        stored = {text(value) for (value,) in found}
        new = {row_key: row for row_key, row in rows.items() if row_key not in stored}
        placeholders = ", ".join("?" for _ in columns.split(","))
        await self.executemany(
            f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({placeholders})",
            list(new.values()),
        )
        return list(new)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(
                f"The SQLite {self._schema.description} at {str(self._path)!r} is closed; "
                "open it again."
            )

    async def _rollback(self) -> None:
        try:
            # sqlite3's rollback() is a no-op when the transaction already ended.
            await self._conn.rollback()
        except sqlite3.Error:
            log.exception("store.rollback_failed path=%s", self._path)

    async def _aclose(self) -> None:
        async with self._lock:
            self._closed = True
            await self._conn.close()


@asynccontextmanager
async def open_database(path: pathlib.Path, schema: Schema) -> AsyncIterator[SQLiteDatabase]:
    """Open (creating if needed) the SQLite file at ``path`` and bring ``schema`` up to date.

    Resource handling:
        The connection is closed when the context exits.

    Raises:
        StoreUnavailable: the file cannot be created, opened or migrated, or was written
            by a newer version of the schema.
    """
    db: SQLiteDatabase | None = None
    conn: aiosqlite.Connection | None = None
    try:
        with _translate_open_errors(path, schema):
            await anyio.to_thread.run_sync(_make_parent, path)
            # Autocommit mode: transactions are opened explicitly, one per store call.
            # Shielded (and bounded): a connect cancelled half-way leaves aiosqlite's worker
            # thread to deliver its result to an event loop that may be gone by then.
            connecting = aiosqlite.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
            try:
                with anyio.move_on_after(_ROLLBACK_TIMEOUT_S, shield=True):
                    conn = await connecting
            except sqlite3.Error:
                # A failed connect queues a stop whose result aiosqlite's worker thread
                # delivers later; wait for that thread, or it may find our loop closed.
                await anyio.to_thread.run_sync(connecting._thread.join, _ROLLBACK_TIMEOUT_S)
                raise
            if conn is None:
                raise sqlite3.OperationalError(
                    f"connecting took longer than {_ROLLBACK_TIMEOUT_S:g} s"
                )
            await anyio.lowlevel.checkpoint()
            async with conn.execute("PRAGMA journal_mode = WAL"):
                pass
            # In WAL mode NORMAL survives a process crash; only a power cut may lose the
            # last transactions.
            async with conn.execute("PRAGMA synchronous = NORMAL"):
                pass
            db = SQLiteDatabase(conn, path, schema)
            await _migrate(db, schema)
        yield db
    finally:
        with anyio.move_on_after(_ROLLBACK_TIMEOUT_S, shield=True):
            if db is not None:
                with db.failures("close"):
                    await db._aclose()
            elif conn is not None:
                await conn.close()


@contextmanager
def _translate_open_errors(path: pathlib.Path, schema: Schema) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(
            f"Cannot open the SQLite {schema.description} at {str(path)!r}: {exc}. Check "
            "that the data directory exists and is writable."
        ) from exc


def _make_parent(path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)


async def _migrate(db: SQLiteDatabase, schema: Schema) -> None:
    """Apply the migrations ``schema`` has and the file lacks, in one transaction."""
    async with db.transaction():
        await db.execute(_MIGRATIONS_TABLE)
        rows = await db.fetchall(
            "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE store = ?",
            (schema.store,),
        )
        current = integer(rows[0][0])
        known = len(schema.migrations)
        if current > known:
            raise StoreUnavailable(
                f"The SQLite {schema.description} at {str(db.path)!r} has schema version "
                f"{current}, newer than the {known} this version knows; upgrade the "
                "observatory or use another data directory."
            )
        for version in range(current + 1, known + 1):
            for statement in schema.migrations[version - 1]:
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (store, version, applied_at) VALUES (?, ?, ?)",
                (schema.store, version, utc_now()),
            )
            log.info("store.migrated store=%s version=%d path=%s", schema.store, version, db.path)


def dumps(value: object) -> str:
    """Compact JSON of what was parsed from JSON or built by the code (payloads, events,
    ids), as every SQLite store writes it: orjson (:func:`contracts.dump_json`), as the
    standard library's encoder cost the embedded observatory more CPU than any other
    step of storing a batch. What holds no ``NaN`` is written the same either way."""
    return dump_json(value).decode()


def dumps_result(value: object) -> str:
    """Compact JSON of what a handler returned: the standard library's encoder, which
    writes a ``NaN`` as such (kept, as the memory store keeps it) where orjson would write
    ``null``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def validate_page(limit: int, offset: int = 0) -> None:
    """Refuse a negative page size or offset.

    Raises:
        ValueError: ``limit`` or ``offset`` is negative.
    """
    if limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}.")
    if offset < 0:
        raise ValueError(f"offset must not be negative, not {offset}.")
