"""The in-memory job store's ledger of submissions and ``Idempotency-Key`` answers.

The same rules as the SQL stores' migration 6 (:mod:`actors.stores._sqlite_submissions`,
:mod:`actors.stores._postgres_submissions`), kept in dictionaries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.domain.submissions import (
    IDEMPOTENCY_STALE_S,
    IdempotencyRecord,
    StoredSubmission,
    claim_outcome,
    key_outcome,
    later,
)
from actors.stores._ledger import check_unique, forgotten_claims_before

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.domain.submissions import (
        IdempotencyAnswer,
        IdempotencyClaim,
        KeyOutcome,
        Submission,
        SubmissionClaim,
    )

__all__ = ["MemoryLedger"]


class MemoryLedger:
    """Submissions and idempotency keys in dictionaries (calls never await halfway)."""

    def __init__(self) -> None:
        self._submissions: dict[str, StoredSubmission] = {}
        self._submitted_at: dict[str, str] = {}
        """When each claim in ``_submissions`` was made (the SQL stores' ``submitted_at``)."""
        self._keys: dict[str, IdempotencyRecord] = {}

    def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        check_unique([s.job_id for s in submissions], "job id")
        claims: list[SubmissionClaim] = []
        for submission in submissions:
            stored = self._submissions.get(submission.job_id)
            if stored is None:
                self._submissions[submission.job_id] = StoredSubmission(
                    submission.fingerprint, submission.event_id, confirmed=False
                )
                self._submitted_at[submission.job_id] = submission.submitted_at
            claims.append(claim_outcome(submission, inserted=stored is None, stored=stored))
        return claims

    def settle_submissions(
        self, confirmed: Sequence[Submission], released: Sequence[Submission]
    ) -> None:
        for submission in released:
            stored = self._submissions.get(submission.job_id)
            if stored is not None and stored.event_id == submission.event_id:
                if not stored.confirmed:
                    del self._submissions[submission.job_id]
                    del self._submitted_at[submission.job_id]
        for submission in confirmed:
            stored = self._submissions.get(submission.job_id)
            if stored is None:
                self._submissions[submission.job_id] = StoredSubmission(
                    submission.fingerprint, submission.event_id, confirmed=True
                )
                self._submitted_at[submission.job_id] = submission.submitted_at
            elif stored.event_id == submission.event_id:
                self._submissions[submission.job_id] = StoredSubmission(
                    stored.fingerprint, stored.event_id, confirmed=True
                )

    def forget_claims(self, job_ids: Sequence[str], finished_before: str) -> None:
        """Drop the claims of jobs retention removed (see :func:`forgotten_claims_before`)."""
        unconfirmed_before = forgotten_claims_before(finished_before)
        for job_id in job_ids:
            stored = self._submissions.get(job_id)
            if stored is None:
                continue
            if stored.confirmed or self._submitted_at[job_id] < unconfirmed_before:
                del self._submissions[job_id]
                del self._submitted_at[job_id]

    def claim_keys(
        self, claims: Sequence[IdempotencyClaim], now: str
    ) -> list[tuple[KeyOutcome, IdempotencyRecord | None]]:
        check_unique([c.key for c in claims], "idempotency key")
        stale_before = later(now, -IDEMPOTENCY_STALE_S)
        for key in [k for k, record in self._keys.items() if record.expires_at <= now]:
            del self._keys[key]
        answers: list[tuple[KeyOutcome, IdempotencyRecord | None]] = []
        for claim in claims:
            stored = self._keys.get(claim.key)
            if stored is not None and stored.status is None and stored.claimed_at < stale_before:
                stored = None
            if stored is None:
                self._keys[claim.key] = IdempotencyRecord(
                    claim.fingerprint, claim.claimed_at, claim.expires_at, None, None
                )
            answers.append((key_outcome(claim, inserted=stored is None, stored=stored), stored))
        return answers

    def settle_keys(self, answers: Sequence[IdempotencyAnswer]) -> None:
        for answer in answers:
            stored = self._keys.get(answer.key)
            if stored is None or stored.fingerprint != answer.fingerprint:
                continue
            if stored.status is not None:
                continue
            if answer.status is None:
                del self._keys[answer.key]
            else:
                self._keys[answer.key] = IdempotencyRecord(
                    stored.fingerprint,
                    stored.claimed_at,
                    stored.expires_at,
                    answer.status,
                    answer.body,
                )
