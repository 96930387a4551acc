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
]

STALE_S = IDEMPOTENCY_STALE_S

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
