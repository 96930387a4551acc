"""The SQLite job store's write of a new round: a ``FAILED`` job retried.

:func:`~actors.domain.lifecycle.plan_batch` marks the effect that starts a round
(``JobEffect.new_round``); the round's values then replace the earlier round's instead of
being added to them (attempts, history of errors, outcome, cancel marker).
"""

from __future__ import annotations

__all__ = ["START_ROUND"]

# The first write of a new round (a FAILED job retried): the round's values replace the
# earlier round's, guarded by the state it was planned from.
START_ROUND = """
UPDATE jobs SET
    status = :status,
    status_rank = :rank,
    updated_at = max(updated_at, :updated_at),
    attempts = :attempts,
    started_at = :started_at,
    finished_at = :finished_at,
    result = :result,
    error = :error,
    errors = coalesce(:errors, '[]'),
    failed_attempts = :failed_attempts,
    next_attempt_at = :next_attempt_at,
    cancel_requested_at = NULL,
    cancel_requested_by = NULL,
    round = :round
WHERE id = :id
    AND status = :expected
    AND status = 'FAILED'
    AND failed_attempts = :expected_failed
    AND (cancel_requested_at IS NOT NULL) = :expected_cancel
    AND round = :expected_round
    AND round < :round
"""
