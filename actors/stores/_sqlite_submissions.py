"""The SQLite job store's ledger: migration 6 and its queries.

``submissions`` holds one row per job id claimed by a submission through the gateway
(:mod:`actors.domain.submissions`); ``idempotency_keys`` the answers kept for
``Idempotency-Key`` requests until they expire. Each function runs inside the store's
transaction, so a call is one transaction with one commit.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from actors.domain.submissions import (
    IDEMPOTENCY_STALE_S,
    IdempotencyRecord,
    StoredSubmission,
    claim_outcome,
    key_outcome,
    later,
)
from actors.stores._ledger import check_unique
from actors.stores._sqlite_database import integer, optional_text, text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )
    from actors.stores._sqlite_database import SQLiteDatabase

__all__ = [
    "LEDGER_MIGRATION",
    "claim_keys",
    "claim_submissions",
    "settle_keys",
    "settle_submissions",
]

LEDGER_MIGRATION = (
    """CREATE TABLE submissions (
        job_id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        event_id TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        confirmed INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        status INTEGER,
        body TEXT
    )""",
    "CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at)",
)
"""Migration 6 of the job store: the gateway's ledger of submissions and idempotency keys."""

_PRUNE_LIMIT = 100
"""Expired keys deleted per claim call, at most (the index finds them)."""

_READ_SUBMISSIONS = (
    "SELECT job_id, fingerprint, event_id, confirmed FROM submissions "
    "WHERE job_id IN (SELECT value FROM json_each(?))"
)
_INSERT_SUBMISSION = (
    "INSERT INTO submissions (job_id, fingerprint, event_id, submitted_at, confirmed) "
    "VALUES (?, ?, ?, ?, 0) ON CONFLICT (job_id) DO NOTHING"
)
_RELEASE = "DELETE FROM submissions WHERE job_id = ? AND event_id = ? AND confirmed = 0"
_CONFIRM = (
    "INSERT INTO submissions (job_id, fingerprint, event_id, submitted_at, confirmed) "
    "VALUES (?, ?, ?, ?, 1) ON CONFLICT (job_id) DO UPDATE SET confirmed = 1 "
    "WHERE submissions.event_id = excluded.event_id"
)
_PRUNE_KEYS = (
    "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys "
    "WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)"
)
_READ_KEYS = (
    "SELECT key, fingerprint, claimed_at, expires_at, status, body FROM idempotency_keys "
    "WHERE key IN (SELECT value FROM json_each(?))"
)
_TAKE_KEY = (
    "INSERT INTO idempotency_keys (key, fingerprint, claimed_at, expires_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, "
    "claimed_at = excluded.claimed_at, expires_at = excluded.expires_at, status = NULL, "
    "body = NULL"
)
_ANSWER_KEY = (
    "UPDATE idempotency_keys SET status = ?, body = ? "
    "WHERE key = ? AND fingerprint = ? AND status IS NULL"
)
_RELEASE_KEY = "DELETE FROM idempotency_keys WHERE key = ? AND fingerprint = ? AND status IS NULL"


async def claim_submissions(
    db: SQLiteDatabase, submissions: Sequence[Submission]
) -> list[SubmissionClaim]:
    """Claim each submission's job id unless claimed before; see :class:`JobStore`."""
    check_unique([s.job_id for s in submissions], "job id")
    rows = await db.fetchall(_READ_SUBMISSIONS, (json.dumps([s.job_id for s in submissions]),))
    stored = {
        text(job_id): StoredSubmission(text(fingerprint), text(event_id), bool(confirmed))
        for job_id, fingerprint, event_id, confirmed in rows
    }
    new = [s for s in submissions if s.job_id not in stored]
    if new:
        await db.executemany(
            _INSERT_SUBMISSION,
            [(s.job_id, s.fingerprint, s.event_id, s.submitted_at) for s in new],
        )
    return [
        claim_outcome(s, inserted=s.job_id not in stored, stored=stored.get(s.job_id))
        for s in submissions
    ]


async def settle_submissions(
    db: SQLiteDatabase, confirmed: Sequence[Submission], released: Sequence[Submission]
) -> None:
    """Release the claims whose publish failed, confirm those the broker confirmed."""
    if released:
        await db.executemany(_RELEASE, [(s.job_id, s.event_id) for s in released])
    if confirmed:
        await db.executemany(
            _CONFIRM, [(s.job_id, s.fingerprint, s.event_id, s.submitted_at) for s in confirmed]
        )


async def claim_keys(
    db: SQLiteDatabase, claims: Sequence[IdempotencyClaim], now: str
) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
    """Claim each key unless it holds a live claim; prune expired keys."""
    check_unique([c.key for c in claims], "idempotency key")
    await db.execute(_PRUNE_KEYS, (now, _PRUNE_LIMIT))
    rows = await db.fetchall(_READ_KEYS, (json.dumps([c.key for c in claims]),))
    stale_before = later(now, -IDEMPOTENCY_STALE_S)
    stored: dict[str, IdempotencyRecord] = {}
    for key, fingerprint, claimed_at, expires_at, status, body in rows:
        record = IdempotencyRecord(
            text(fingerprint),
            text(claimed_at),
            text(expires_at),
            None if status is None else integer(status),
            optional_text(body),
        )
        expired = record.expires_at <= now
        stale = record.status is None and record.claimed_at < stale_before
        if not expired and not stale:
            stored[text(key)] = record
    taken = [c for c in claims if c.key not in stored]
    if taken:
        await db.executemany(
            _TAKE_KEY, [(c.key, c.fingerprint, c.claimed_at, c.expires_at) for c in taken]
        )
    return [
        (key_outcome(c, inserted=c.key not in stored, stored=stored.get(c.key)), stored.get(c.key))
        for c in claims
    ]


async def settle_keys(db: SQLiteDatabase, answers: Sequence[IdempotencyAnswer]) -> None:
    """Keep the answers of claimed keys; release the claims answered ``None``."""
    kept = [(a.status, a.body, a.key, a.fingerprint) for a in answers if a.status is not None]
    released = [(a.key, a.fingerprint) for a in answers if a.status is None]
    if kept:
        await db.executemany(_ANSWER_KEY, kept)
    if released:
        await db.executemany(_RELEASE_KEY, released)
