"""The embedded dead-letter store: one SQLite file (see :mod:`actors.stores.sqlite`)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.lowlevel

from actors.domain.dead_letters import DeadLetter
from actors.errors import ValidationIssue
from actors.stores import _prune_sqlite
from actors.stores._protocols import AppendResult
from actors.stores._sqlite_database import (
    Schema,
    dumps as _dumps,
    integer,
    open_database,
    optional_text,
    text,
    validate_page as _validate_page,
)

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Sequence

    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = ["DEAD_LETTER_SCHEMA", "SQLiteDeadLetterStore", "open_sqlite_dead_letter_store"]


DEAD_LETTER_SCHEMA = Schema(
    store="dead_letters",
    description="dead-letter store",
    migrations=(
        (
            """CREATE TABLE dead_letters (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                dead_letter_id TEXT NOT NULL UNIQUE,
                queue TEXT NOT NULL,
                reason TEXT NOT NULL,
                errors TEXT NOT NULL,
                body BLOB NOT NULL,
                occurred_at TEXT NOT NULL,
                service TEXT NOT NULL,
                version TEXT NOT NULL,
                message_id TEXT,
                correlation_id TEXT
            )""",
            "CREATE INDEX dead_letters_by_time ON dead_letters (occurred_at, seq)",
        ),
    ),
)

_DEAD_LETTER_COLUMNS = (
    "dead_letter_id, queue, reason, errors, body, occurred_at, service, version, "
    "message_id, correlation_id"
)


def _dead_letter(row: tuple[object, ...]) -> DeadLetter:
    (
        dead_letter_id,
        queue,
        reason,
        errors,
        body,
        occurred_at,
        service,
        version,
        message_id,
        correlation_id,
    ) = row
    if not isinstance(body, bytes):
        raise TypeError(f"Expected a blob column, got {type(body).__name__}.")
    return DeadLetter(
        dead_letter_id=text(dead_letter_id),
        queue=text(queue),
        reason=text(reason),
        errors=[
            ValidationIssue(path=str(issue["path"]), message=str(issue["message"]))
            for issue in json.loads(text(errors))
        ],
        body=body,
        occurred_at=text(occurred_at),
        service=text(service),
        version=text(version),
        message_id=optional_text(message_id),
        correlation_id=optional_text(correlation_id),
    )


class SQLiteDeadLetterStore:
    """A :class:`~actors.stores.DeadLetterStore` in one SQLite file.

    Opened and closed by :func:`open_sqlite_dead_letter_store`.
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    def is_available(self) -> bool:
        """Whether the store is open (a local file is there as long as it is)."""
        return self._db.is_open

    def __repr__(self) -> str:
        return f"<SQLiteDeadLetterStore path={str(self._db.path)!r}>"

    async def add(self, records: Sequence[DeadLetter]) -> AppendResult:
        """Store the records whose ``dead_letter_id`` is new, in one transaction.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was stored.
        """
        if not records:
            await anyio.lowlevel.checkpoint()
            return AppendResult(stored=0, duplicates=0)
        # Serialised before the transaction, keyed by id in arrival order; the first of
        # repeated ids is the one kept.
        inserts: dict[str, tuple[object, ...]] = {}
        for record in records:
            if record.dead_letter_id not in inserts:
                inserts[record.dead_letter_id] = (
                    record.dead_letter_id,
                    record.queue,
                    record.reason,
                    _dumps([issue.to_json() for issue in record.errors]),
                    record.body,
                    record.occurred_at,
                    record.service,
                    record.version,
                    record.message_id,
                    record.correlation_id,
                )
        with self._db.failures("add dead letters"):
            async with self._db.transaction():
                stored = await self._db.insert_new(
                    "dead_letters", "dead_letter_id", _DEAD_LETTER_COLUMNS, inserts
                )
        return AppendResult(stored=len(stored), duplicates=len(records) - len(stored))

    async def recent(self, *, limit: int) -> list[DeadLetter]:
        """Dead letters newest first (by ``occurred_at``, then arrival).

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: the file cannot be read.
        """
        _validate_page(limit)
        with self._db.failures("list recent dead letters"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    f"SELECT {_DEAD_LETTER_COLUMNS} FROM dead_letters "
                    "ORDER BY occurred_at DESC, seq DESC LIMIT ?",
                    (limit,),
                )
        return [_dead_letter(row) for row in rows]

    async def get(self, dead_letter_id: str) -> DeadLetter | None:
        """One dead letter, or ``None``.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        with self._db.failures(f"read dead letter {dead_letter_id!r}"):
            async with self._db.reading():
                rows = await self._db.fetchall(
                    f"SELECT {_DEAD_LETTER_COLUMNS} FROM dead_letters WHERE dead_letter_id = ?",
                    (dead_letter_id,),
                )
        return _dead_letter(rows[0]) if rows else None

    async def remove(self, dead_letter_ids: Sequence[str]) -> int:
        """Delete dead letters in one transaction.

        Returns:
            How many of them existed.

        Raises:
            StoreUnavailable: the file cannot be written; nothing was removed.
        """
        if not dead_letter_ids:
            await anyio.lowlevel.checkpoint()
            return 0
        ids = list(dict.fromkeys(dead_letter_ids))
        with self._db.failures("remove dead letters"):
            async with self._db.transaction():
                return await self._db.execute(
                    "DELETE FROM dead_letters "
                    "WHERE dead_letter_id IN (SELECT value FROM json_each(?))",
                    (_dumps(ids),),
                )

    async def count(self) -> int:
        """How many dead letters are kept.

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        with self._db.failures("count dead letters"):
            async with self._db.reading():
                rows = await self._db.fetchall("SELECT count(*) FROM dead_letters")
        return integer(rows[0][0])

    async def count_older(self, *, before: str) -> int:
        """How many dead letters are older than ``before`` (retention dry run).

        Raises:
            StoreUnavailable: the file cannot be read.
        """
        return await _prune_sqlite.count_older_dead_letters(self._db, before)

    async def remove_older(self, *, before: str, limit: int) -> int:
        """Delete up to ``limit`` of the oldest dead letters older than ``before``.

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: the file cannot be written; nothing was removed.
        """
        return await _prune_sqlite.remove_older_dead_letters(self._db, before, limit)


@asynccontextmanager
async def open_sqlite_dead_letter_store(
    path: pathlib.Path,
) -> AsyncIterator[SQLiteDeadLetterStore]:
    """Open the dead-letter store in the SQLite file ``path``, creating it as needed.

    Raises:
        StoreUnavailable: the file cannot be opened or migrated.
    """
    async with open_database(path, DEAD_LETTER_SCHEMA) as db:
        yield SQLiteDeadLetterStore(db)
