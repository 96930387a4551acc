"""The PostgreSQL job store's write: planned net effects as the column arrays of one statement.

:func:`~actors.domain.lifecycle.plan_batch` decides what a batch does to each job;
:func:`job_writes` lays those net effects out as the arrays :data:`WRITE_JOBS` unnests,
so a whole batch is written in one statement. Nothing here talks to PostgreSQL.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from actors.domain.jobs import TERMINAL_STATUSES, JobStatus
from contracts import dump_json

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.domain.lifecycle import JobEffect

__all__ = ["WRITE_JOBS", "JobWrites", "dumps", "job_writes"]

_TERMINAL_SQL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))

# One statement writes every job of a batch, so it is applied whole or not at all. A row is
# written only if its state is still the one the batch was planned from (``expected``
# status, failed attempts and cancel marker; a NULL status: the job did not exist), and
# only within the lifecycle guard, which is kept here as well so that no writer, whatever
# it believes, moves a job backwards but through a retry. The ids written come back; a job
# missing from them was changed by another writer (or cancelled) and is planned again.
WRITE_JOBS = f"""
WITH incoming AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::smallint[], $10::text[], $11::integer[], $12::text[], $13::text[],
        $14::text[], $15::text[], $16::integer[], $17::boolean[], $18::boolean[],
        $19::text[], $20::integer[], $21::text[], $22::integer[], $23::integer[],
        $24::boolean[], $25::text[], $26::text[], $27::smallint[]
    ) AS t (
        id, expected, type, created_at, correlation_id, payload, metadata,
        status, status_rank, updated_at, attempts, started_at, finished_at, result, error,
        expected_failed, expected_cancel, retried, new_errors, failed_attempts,
        next_attempt_at, round, expected_round, new_round, cancel_requested_at,
        cancel_requested_by, priority
    )
),
updated AS (
    UPDATE jobs SET
        status = incoming.status,
        status_rank = incoming.status_rank,
        updated_at = greatest(jobs.updated_at, incoming.updated_at),
        -- A new round (a FAILED job retried) replaces what the earlier round wrote.
        attempts = CASE WHEN incoming.new_round THEN incoming.attempts
            ELSE jobs.attempts + incoming.attempts END,
        started_at = CASE WHEN incoming.new_round THEN incoming.started_at
            ELSE coalesce(incoming.started_at, jobs.started_at) END,
        finished_at = CASE WHEN incoming.new_round THEN incoming.finished_at
            ELSE coalesce(incoming.finished_at, jobs.finished_at) END,
        result = CASE WHEN incoming.new_round THEN incoming.result::jsonb
            ELSE coalesce(incoming.result::jsonb, jobs.result) END,
        error = CASE WHEN incoming.new_round THEN incoming.error
            ELSE coalesce(incoming.error, jobs.error) END,
        errors = CASE WHEN incoming.new_round THEN incoming.new_errors::jsonb
            ELSE jobs.errors || incoming.new_errors::jsonb END,
        failed_attempts = CASE WHEN incoming.new_round THEN incoming.failed_attempts
            ELSE greatest(jobs.failed_attempts, incoming.failed_attempts) END,
        next_attempt_at = incoming.next_attempt_at,
        cancel_requested_at = CASE WHEN incoming.new_round THEN NULL
            ELSE jobs.cancel_requested_at END,
        cancel_requested_by = CASE WHEN incoming.new_round THEN NULL
            ELSE jobs.cancel_requested_by END,
        round = incoming.round
    FROM incoming
    WHERE incoming.expected IS NOT NULL  -- spelled out: new jobs skip the index probe
        AND jobs.id = incoming.id
        AND jobs.status = incoming.expected
        AND jobs.failed_attempts = incoming.expected_failed
        AND (jobs.cancel_requested_at IS NOT NULL) = incoming.expected_cancel
        AND jobs.round = incoming.expected_round
        AND (jobs.status NOT IN ({_TERMINAL_SQL}) OR incoming.new_round)
        AND (incoming.status_rank >= jobs.status_rank OR incoming.retried OR incoming.new_round)
    RETURNING jobs.id
),
inserted AS (
    INSERT INTO jobs (
        id, type, status, status_rank, created_at, updated_at, correlation_id,
        payload, metadata, attempts, started_at, finished_at, result, error,
        errors, failed_attempts, next_attempt_at, round, cancel_requested_at,
        cancel_requested_by, priority
    )
    SELECT
        id, type, status, status_rank, created_at, updated_at, correlation_id,
        payload::jsonb, metadata::jsonb, attempts, started_at, finished_at, result::jsonb, error,
        new_errors::jsonb, failed_attempts, next_attempt_at, round, cancel_requested_at,
        cancel_requested_by, priority
    FROM incoming
    WHERE expected IS NULL
    ORDER BY id
    ON CONFLICT (id) DO NOTHING
    RETURNING id
),
-- A new job created with the request kept while it was queued now carries it: forget it.
adopted AS (
    DELETE FROM cancel_requests
    WHERE job_id IN (SELECT id FROM inserted)
        AND job_id IN (SELECT id FROM incoming WHERE cancel_requested_at IS NOT NULL)
)
SELECT id FROM updated UNION ALL SELECT id FROM inserted
"""


dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""Compact JSON, as the SQLite store writes it (one encoder: ``json.dumps`` builds one per
call). For what a handler returned: a ``NaN`` is written as such, and PostgreSQL refuses
it (``jsonb`` has none) rather than store another value."""


def _dumps_parsed(value: object) -> str:
    """Compact JSON text of what was parsed from JSON (a job's payload and metadata, which
    hold no ``NaN``): orjson, as the standard library's encoder cost more than the rest of
    building a batch's writes."""
    return dump_json(value).decode()


# Looked up once per job on the hot path; enum properties cost more than a dict.
_RANKS = {status: status.rank for status in JobStatus}
_VALUES = {status: status.value for status in JobStatus}


class JobWrites:
    """The net effect of a batch on each job it changes, as columns for :data:`WRITE_JOBS`."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.expected: list[str | None] = []
        self.types: list[str | None] = []
        self.created_at: list[str | None] = []
        self.correlation_ids: list[str | None] = []
        self.payloads: list[str | None] = []
        self.metadata: list[str | None] = []
        self.statuses: list[str] = []
        self.ranks: list[int] = []
        self.updated_at: list[str] = []
        self.attempts: list[int] = []
        self.started_at: list[str | None] = []
        self.finished_at: list[str | None] = []
        self.results: list[str | None] = []
        self.errors: list[str | None] = []
        self.expected_failed: list[int] = []
        self.expected_cancel: list[bool] = []
        self.retried: list[bool] = []
        self.new_errors: list[str] = []
        self.failed_attempts: list[int] = []
        self.next_attempt_at: list[str | None] = []
        self.rounds: list[int] = []
        self.expected_rounds: list[int] = []
        self.new_rounds: list[bool] = []
        self.cancel_requested_at: list[str | None] = []
        self.cancel_requested_by: list[str | None] = []
        self.priorities: list[int | None] = []
        """A new job's ``priority`` (fixed at submission, so never updated)."""

    def columns(self) -> tuple[Sequence[object], ...]:
        """The arrays, in the order of :data:`WRITE_JOBS`'s parameters."""
        return (
            self.ids,
            self.expected,
            self.types,
            self.created_at,
            self.correlation_ids,
            self.payloads,
            self.metadata,
            self.statuses,
            self.ranks,
            self.updated_at,
            self.attempts,
            self.started_at,
            self.finished_at,
            self.results,
            self.errors,
            self.expected_failed,
            self.expected_cancel,
            self.retried,
            self.new_errors,
            self.failed_attempts,
            self.next_attempt_at,
            self.rounds,
            self.expected_rounds,
            self.new_rounds,
            self.cancel_requested_at,
            self.cancel_requested_by,
            self.priorities,
        )


def job_writes(effects: Sequence[JobEffect]) -> JobWrites:
    """Lay ``effects`` out as the columns of :data:`WRITE_JOBS`, one row per effect.

    A new job (``before`` is ``None``) carries its spec and no expected state; a stored
    one carries the state it was planned from and ``NULL`` spec columns.

    Raises:
        ValueError: a value JSON cannot hold (nothing is sent then).
    """
    writes = JobWrites()
    for effect in effects:
        before = effect.before
        writes.ids.append(effect.job_id)
        if before is None:
            spec = effect.spec
            assert spec is not None  # a new job's effect carries its spec
            writes.expected.append(None)
            writes.types.append(spec.type)
            writes.created_at.append(spec.created_at)
            writes.correlation_ids.append(spec.correlation_id)
            writes.payloads.append(_dumps_parsed(dict(spec.payload)))
            writes.metadata.append(_dumps_parsed(dict(spec.metadata)))
            writes.priorities.append(spec.priority)
            writes.expected_failed.append(0)
            writes.expected_cancel.append(False)
            writes.expected_rounds.append(effect.after.round)
        else:
            writes.expected.append(_VALUES[before.status])
            writes.types.append(None)
            writes.created_at.append(None)
            writes.correlation_ids.append(None)
            writes.payloads.append(None)
            writes.metadata.append(None)
            writes.priorities.append(None)
            writes.expected_failed.append(before.failed_attempts)
            writes.expected_cancel.append(before.cancel_requested)
            writes.expected_rounds.append(before.round)
        status = effect.after.status
        writes.statuses.append(_VALUES[status])
        writes.ranks.append(_RANKS[status])
        writes.updated_at.append(effect.updated_at)
        writes.attempts.append(effect.attempts)
        writes.started_at.append(effect.started_at)
        writes.finished_at.append(effect.finished_at)
        writes.results.append(None if effect.result is None else dumps(effect.result))
        writes.errors.append(effect.error)
        writes.retried.append(effect.retried)
        new_errors = effect.new_errors
        writes.new_errors.append(
            dumps([entry.to_json() for entry in new_errors]) if new_errors else "[]"
        )
        writes.failed_attempts.append(effect.after.failed_attempts)
        writes.next_attempt_at.append(effect.next_attempt_at)
        writes.rounds.append(effect.after.round)
        writes.new_rounds.append(effect.new_round)
        request = effect.cancel_request
        writes.cancel_requested_at.append(None if request is None else request.requested_at)
        writes.cancel_requested_by.append(None if request is None else request.requested_by)
    return writes
