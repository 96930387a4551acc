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
        position INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body BLOB NOT NULL,
        message_id TEXT,
        correlation_id TEXT,
        headers TEXT NOT NULL,
        redelivered INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS delayed_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body BLOB NOT NULL,
        message_id TEXT,
        correlation_id TEXT,
        headers TEXT NOT NULL,
        wait_s REAL NOT NULL
    )""",
)


@dataclass(slots=True)
class Message:
    """A message held by the broker, ready or delivered."""

    body: bytes
    message_id: str | None
    correlation_id: str | None
    headers: dict[str, object]
    redelivered: bool = False


def load_spilled(
    path: pathlib.Path,
) -> tuple[
    list[tuple[str, str | None]], list[tuple[str, Message]], list[tuple[str, float, Message]]
]:
    """Read and delete the spilled queues and messages (blocking; run in a thread)."""
    if not path.exists():
        return [], [], []
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for statement in SPILL_SCHEMA:
            conn.execute(statement)
        queues = [
            (str(name), None if dlq is None else str(dlq))
            for name, dlq in conn.execute(
                "SELECT name, dead_letter_to FROM queues ORDER BY position"
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
                ),
            )
            for queue, body, message_id, correlation_id, headers, redelivered in conn.execute(
                "SELECT queue, body, message_id, correlation_id, headers, redelivered "
                "FROM messages ORDER BY seq"
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
                ),
            )
            for queue, body, message_id, correlation_id, headers, wait_s in conn.execute(
                "SELECT queue, body, message_id, correlation_id, headers, wait_s "
                "FROM delayed_messages ORDER BY seq"
            )
        ]
        conn.execute("DELETE FROM messages")
        conn.execute("DELETE FROM delayed_messages")
        conn.execute("DELETE FROM queues")
    return queues, messages, delayed


def spill(
    path: pathlib.Path,
    queues: Sequence[tuple[str, str | None]],
    messages: Sequence[tuple[str, Message]],
    delayed: Sequence[tuple[str, float, Message]] = (),
) -> None:
    """Append ``messages`` (and ``delayed`` ones with their remaining wait) and record
    ``queues`` in ``path`` (blocking; run in a thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for statement in SPILL_SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT OR REPLACE INTO queues (name, dead_letter_to, position) VALUES (?, ?, ?)",
            [(name, dlq, position) for position, (name, dlq) in enumerate(queues)],
        )
        conn.executemany(
            "INSERT INTO messages (queue, body, message_id, correlation_id, headers, redelivered)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    queue,
                    message.body,
                    message.message_id,
                    message.correlation_id,
                    json.dumps(message.headers, separators=(",", ":")),
                    int(message.redelivered),
                )
                for queue, message in messages
            ],
        )
        conn.executemany(
            "INSERT INTO delayed_messages (queue, body, message_id, correlation_id, headers,"
            " wait_s) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    queue,
                    message.body,
                    message.message_id,
                    message.correlation_id,
                    json.dumps(message.headers, separators=(",", ":")),
                    wait_s,
                )
                for queue, wait_s, message in delayed
            ],
        )
