"""The PostgreSQL job store's ledger (migration 6): its statements, one round trip each.

``submissions`` holds one row per job id claimed by a submission through the gateway
(:mod:`actors.domain.submissions`); ``idempotency_keys`` the answers kept for
``Idempotency-Key`` requests until they expire.

A claim is one statement: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` in a
data-modifying CTE, joined with the rows that were there before (the statement's
snapshot). A row another transaction committed during the statement is neither inserted
nor in that snapshot; those few ids are read again by a second statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from actors.domain.submissions import (
    IdempotencyRecord,
    StoredSubmission,
    claim_outcome,
    key_outcome,
    later,
)
from actors.stores._ledger import check_unique
from actors.stores._postgres_connection import PostgresCalls, integer, optional_text, text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )
    from actors.stores._postgres_connection import Connection, Progress, Row

from actors.domain.submissions import IDEMPOTENCY_STALE_S

__all__ = [
    "CLAIM_KEYS",
    "CLAIM_SUBMISSIONS",
    "LEDGER_MIGRATION_SQL",
    "READ_KEYS",
    "READ_SUBMISSIONS",
    "SETTLE_KEYS",
    "SETTLE_SUBMISSIONS",
    "STALE_S",
    "PostgresLedger",
]

STALE_S = IDEMPOTENCY_STALE_S
_PRUNE_LIMIT = 100
"""Expired idempotency keys deleted per claim call, at most (an index finds them)."""

LEDGER_MIGRATION_SQL = """
CREATE TABLE submissions (
    job_id text COLLATE "C" PRIMARY KEY,
    fingerprint text NOT NULL,
    event_id text NOT NULL,
    submitted_at text COLLATE "C" NOT NULL,
    confirmed boolean NOT NULL DEFAULT false
);
CREATE TABLE idempotency_keys (
    key text COLLATE "C" PRIMARY KEY,
    fingerprint text NOT NULL,
    claimed_at text COLLATE "C" NOT NULL,
    expires_at text COLLATE "C" NOT NULL,
    status integer,
    body text
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
"""
"""Migration 6: the gateway's ledger of submissions and idempotency keys."""

# $1..$4: job ids, fingerprints, event ids, times. One row per input id, in any order:
# (job_id, inserted, stored fingerprint, stored event id, stored confirmed, found).
CLAIM_SUBMISSIONS = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
        AS i (job_id, fingerprint, event_id, submitted_at)
), claimed AS (
    INSERT INTO submissions (job_id, fingerprint, event_id, submitted_at)
    SELECT job_id, fingerprint, event_id, submitted_at FROM input
    ON CONFLICT (job_id) DO NOTHING
    RETURNING job_id
)
SELECT input.job_id, claimed.job_id IS NOT NULL, s.fingerprint, s.event_id, s.confirmed
FROM input
LEFT JOIN claimed ON claimed.job_id = input.job_id
LEFT JOIN submissions AS s ON claimed.job_id IS NULL AND s.job_id = input.job_id
"""

READ_SUBMISSIONS = (
    "SELECT job_id, fingerprint, event_id, confirmed FROM submissions "
    "WHERE job_id = ANY($1::text[])"
)

# $1..$4: the confirmed claims; $5, $6: the released ones (job ids, event ids). The ids
# of both lists are distinct, so no row is touched twice by the one statement.
SETTLE_SUBMISSIONS = """
WITH released AS (
    DELETE FROM submissions AS s
    USING unnest($5::text[], $6::text[]) AS r (job_id, event_id)
    WHERE s.job_id = r.job_id AND s.event_id = r.event_id AND NOT s.confirmed
)
INSERT INTO submissions (job_id, fingerprint, event_id, submitted_at, confirmed)
SELECT job_id, fingerprint, event_id, submitted_at, true
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
    AS c (job_id, fingerprint, event_id, submitted_at)
ON CONFLICT (job_id) DO UPDATE SET confirmed = true
WHERE submissions.event_id = excluded.event_id
"""

# $1..$4: keys, fingerprints, claim times, expiry times; $5: now; $6: claims older than
# this that never answered are stale; $7: how many expired keys to prune. A live key is
# left alone; an expired or stale one is claimed again. Rows: (key, taken, fingerprint,
# claimed_at, expires_at, status, body) of what was there when not taken.
CLAIM_KEYS = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
        AS i (key, fingerprint, claimed_at, expires_at)
), pruned AS (
    DELETE FROM idempotency_keys WHERE key IN (
        SELECT key FROM idempotency_keys
        WHERE expires_at <= $5 AND NOT key = ANY($1::text[])
        ORDER BY expires_at LIMIT $7
    )
), taken AS (
    INSERT INTO idempotency_keys (key, fingerprint, claimed_at, expires_at)
    SELECT key, fingerprint, claimed_at, expires_at FROM input
    ON CONFLICT (key) DO UPDATE SET
        fingerprint = excluded.fingerprint,
        claimed_at = excluded.claimed_at,
        expires_at = excluded.expires_at,
        status = NULL,
        body = NULL
    WHERE idempotency_keys.expires_at <= $5
        OR (idempotency_keys.status IS NULL AND idempotency_keys.claimed_at < $6)
    RETURNING key
)
SELECT input.key, taken.key IS NOT NULL, k.fingerprint, k.claimed_at, k.expires_at,
    k.status, k.body
FROM input
LEFT JOIN taken ON taken.key = input.key
LEFT JOIN idempotency_keys AS k ON taken.key IS NULL AND k.key = input.key
"""

READ_KEYS = (
    "SELECT key, fingerprint, claimed_at, expires_at, status, body FROM idempotency_keys "
    "WHERE key = ANY($1::text[])"
)

# $1..$4: keys, fingerprints, statuses, bodies (kept); $5, $6: keys and fingerprints of
# the claims released. Only an unanswered claim with the same fingerprint changes.
SETTLE_KEYS = """
WITH released AS (
    DELETE FROM idempotency_keys AS k
    USING unnest($5::text[], $6::text[]) AS r (key, fingerprint)
    WHERE k.key = r.key AND k.fingerprint = r.fingerprint AND k.status IS NULL
)
UPDATE idempotency_keys AS k SET status = a.status, body = a.body
FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[])
    AS a (key, fingerprint, status, body)
WHERE k.key = a.key AND k.fingerprint = a.fingerprint AND k.status IS NULL
"""


class PostgresLedger(PostgresCalls):
    """The job store's ledger methods (see :class:`~actors.stores.JobStore`)."""

    async def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        """Claim job ids for submissions, in one statement; see :class:`JobStore`.

        Raises:
            ValueError: a job id appears twice.
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not submissions:
            await anyio.lowlevel.checkpoint()
            return []
        check_unique([s.job_id for s in submissions], "job id")

        async def claim(conn: Connection, progress: Progress) -> list[SubmissionClaim]:
            progress.wrote = True
            rows = await conn.fetch(
                CLAIM_SUBMISSIONS,
                [s.job_id for s in submissions],
                [s.fingerprint for s in submissions],
                [s.event_id for s in submissions],
                [s.submitted_at for s in submissions],
            )
            inserted = {text(row[0]) for row in rows if row[1]}
            stored = {
                text(row[0]): StoredSubmission(text(row[2]), text(row[3]), bool(row[4]))
                for row in rows
                if not row[1] and row[2] is not None
            }
            raced = [s.job_id for s in submissions if s.job_id not in inserted | stored.keys()]
            if raced:
                # Committed by another gateway while the claim ran: read them now.
                for row in await conn.fetch(READ_SUBMISSIONS, raced):
                    stored[text(row[0])] = StoredSubmission(
                        text(row[1]), text(row[2]), bool(row[3])
                    )
            return [
                claim_outcome(s, inserted=s.job_id in inserted, stored=stored.get(s.job_id))
                for s in submissions
            ]

        return await self._call("claim submissions", claim)

    async def settle_submissions(
        self, confirmed: Sequence[Submission], released: Sequence[Submission]
    ) -> None:
        """Confirm and release claims, in one statement; see :class:`JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not confirmed and not released:
            await anyio.lowlevel.checkpoint()
            return
        await self._call(
            "settle submissions",
            lambda conn, _: conn.execute(
                SETTLE_SUBMISSIONS,
                [s.job_id for s in confirmed],
                [s.fingerprint for s in confirmed],
                [s.event_id for s in confirmed],
                [s.submitted_at for s in confirmed],
                [s.job_id for s in released],
                [s.event_id for s in released],
            ),
        )

    async def claim_idempotency_keys(
        self, claims: Sequence[IdempotencyClaim], *, now: str
    ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
        """Claim idempotency keys, in one statement; see :class:`JobStore`.

        Raises:
            ValueError: a key appears twice.
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not claims:
            await anyio.lowlevel.checkpoint()
            return []
        check_unique([c.key for c in claims], "idempotency key")

        def record(row: Row, at: int) -> IdempotencyRecord:
            status = row[at + 3]
            return IdempotencyRecord(
                text(row[at]),
                text(row[at + 1]),
                text(row[at + 2]),
                None if status is None else integer(status),
                optional_text(row[at + 4]),
            )

        async def claim(
            conn: Connection, progress: Progress
        ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
            progress.wrote = True
            rows = await conn.fetch(
                CLAIM_KEYS,
                [c.key for c in claims],
                [c.fingerprint for c in claims],
                [c.claimed_at for c in claims],
                [c.expires_at for c in claims],
                now,
                later(now, -STALE_S),
                _PRUNE_LIMIT,
            )
            taken = {text(row[0]) for row in rows if row[1]}
            stored = {
                text(row[0]): record(row, 2) for row in rows if not row[1] and row[2] is not None
            }
            raced = [c.key for c in claims if c.key not in taken | stored.keys()]
            if raced:
                for row in await conn.fetch(READ_KEYS, raced):
                    stored[text(row[0])] = record(row, 1)
            return [
                (
                    key_outcome(c, inserted=c.key in taken, stored=stored.get(c.key)),
                    stored.get(c.key),
                )
                for c in claims
            ]

        return await self._call("claim idempotency keys", claim)

    async def settle_idempotency_keys(self, answers: Sequence[IdempotencyAnswer]) -> None:
        """Keep or release idempotency keys' answers, in one statement; see :class:`JobStore`.

        Raises:
            StoreUnavailable: PostgreSQL cannot be reached or failed.
        """
        if not answers:
            await anyio.lowlevel.checkpoint()
            return
        kept = [a for a in answers if a.status is not None]
        released = [a for a in answers if a.status is None]
        await self._call(
            "keep idempotency keys' answers",
            lambda conn, _: conn.execute(
                SETTLE_KEYS,
                [a.key for a in kept],
                [a.fingerprint for a in kept],
                [a.status for a in kept],
                [a.body for a in kept],
                [a.key for a in released],
                [a.fingerprint for a in released],
            ),
        )
