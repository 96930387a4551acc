"""The in-process broker's spill file: messages kept across a clean stop (SQLite)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Sequence

__all__ = ["SPILL_SCHEMA", "Message", "load_spilled", "spill"]

SPILL_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS queues (
        name TEXT PRIMARY KEY,
        dead_letter_to TEXT,
        position INTEGER NOT NULL,
        max_priority INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body BLOB NOT NULL,
        message_id TEXT,
        correlation_id TEXT,
        headers TEXT NOT NULL,
        redelivered INTEGER NOT NULL,
        priority INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS delayed_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body BLOB NOT NULL,
        message_id TEXT,
        correlation_id TEXT,
        headers TEXT NOT NULL,
        wait_s REAL NOT NULL,
        priority INTEGER
    )""",
)

_ADDED_COLUMNS = (
    ("queues", "max_priority"),
    ("messages", "priority"),
    ("delayed_messages", "priority"),
)
"""Columns a spill file written before priorities lacks (added as NULL)."""


def _create(conn: sqlite3.Connection) -> None:
    for statement in SPILL_SCHEMA:
        conn.execute(statement)
    for table, column in _ADDED_COLUMNS:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")


@dataclass(slots=True)
class Message:
    """A message held by the broker, ready or delivered."""

    body: bytes
    message_id: str | None
    correlation_id: str | None
    headers: dict[str, object]
    redelivered: bool = False
    priority: int | None = None
    """Its ``priority`` as published (kept across a spill)."""


def load_spilled(
    path: pathlib.Path,
) -> tuple[
    list[tuple[str, str | None, int | None]],
    list[tuple[str, Message]],
    list[tuple[str, float, Message]],
]:
    """Read and delete the spilled queues and messages (blocking; run in a thread)."""
    if not path.exists():
        return [], [], []
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        _create(conn)
        queues = [
            (str(name), None if dlq is None else str(dlq), max_priority)
            for name, dlq, max_priority in conn.execute(
                "SELECT name, dead_letter_to, max_priority FROM queues ORDER BY position"
            )
        ]
        messages = [
            (
                str(queue),
                Message(
                    body=bytes(body),
                    message_id=message_id,
                    correlation_id=correlation_id,
                    headers=json.loads(headers),
                    redelivered=bool(redelivered),
                    priority=priority,
                ),
            )
            for queue, body, message_id, correlation_id, headers, redelivered, priority in (
                conn.execute(
                    "SELECT queue, body, message_id, correlation_id, headers, redelivered, "
                    "priority FROM messages ORDER BY seq"
                )
            )
        ]
        delayed = [
            (
                str(queue),
                float(wait_s),
                Message(
                    body=bytes(body),
                    message_id=message_id,
                    correlation_id=correlation_id,
                    headers=json.loads(headers),
                    priority=priority,
                ),
            )
            for queue, body, message_id, correlation_id, headers, wait_s, priority in (
                conn.execute(
                    "SELECT queue, body, message_id, correlation_id, headers, wait_s, priority "
                    "FROM delayed_messages ORDER BY seq"
                )
            )
        ]
        conn.execute("DELETE FROM messages")
        conn.execute("DELETE FROM delayed_messages")
        conn.execute("DELETE FROM queues")
    return queues, messages, delayed


def spill(
    path: pathlib.Path,
    queues: Sequence[tuple[str, str | None, int | None]],
    messages: Sequence[tuple[str, Message]],
    delayed: Sequence[tuple[str, float, Message]] = (),
) -> None:
    """Append ``messages`` (and ``delayed`` ones with their remaining wait) and record
    ``queues`` (name, dead-letter queue, max priority) in ``path`` (blocking; run in a thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        _create(conn)
        conn.executemany(
            "INSERT OR REPLACE INTO queues (name, dead_letter_to, position, max_priority)"
            " VALUES (?, ?, ?, ?)",
            [
                (name, dlq, position, max_priority)
                for position, (name, dlq, max_priority) in enumerate(queues)
            ],
        )
        conn.executemany(
            "INSERT INTO messages (queue, body, message_id, correlation_id, headers, redelivered,"
            " priority) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    queue,
                    message.body,
                    message.message_id,
                    message.correlation_id,
                    json.dumps(message.headers, separators=(",", ":")),
                    int(message.redelivered),
                    message.priority,
                )
                for queue, message in messages
            ],
        )
        conn.executemany(
            "INSERT INTO delayed_messages (queue, body, message_id, correlation_id, headers,"
            " wait_s, priority) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    queue,
                    message.body,
                    message.message_id,
                    message.correlation_id,
                    json.dumps(message.headers, separators=(",", ":")),
                    wait_s,
                    message.priority,
                )
                for queue, wait_s, message in delayed
            ],
        )
