"""The gateway's ledger in the job store contract (every ``open_job_store`` adapter:
memory, SQLite, PostgreSQL): claims of job ids by submissions (duplicate, pending,
conflict, release, confirm) and ``Idempotency-Key`` claims and answers (replay,
mismatch, in progress, expiry, stale claims), kept across a reopen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from actors.domain.clock import format_timestamp
from actors.domain.submissions import (
    IDEMPOTENCY_STALE_S,
    ClaimOutcome,
    Fingerprint,
    IdempotencyAnswer,
    IdempotencyClaim,
    KeyOutcome,
    Submission,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from actors.stores import JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def fingerprint(payload: object = None, *, job_type: str = "echo", metadata: object = None) -> str:
    return Fingerprint.of(
        {"type": job_type, "payload": payload or {}, "metadata": metadata or {}}
    ).encode()


def submission(job_id: str, event_id: str, **changes: object) -> Submission:
    return Submission(job_id, fingerprint(**changes), event_id, ts(0))  # type: ignore[arg-type]


async def test_a_new_job_id_is_claimed_and_a_resubmission_is_a_duplicate_once_confirmed(
    job_store: JobStore,
) -> None:
    first = submission("job-1", "event-1", payload={"n": 1})

    [claim] = await job_store.claim_submissions([first])
    assert (claim.outcome, claim.event_id) == (ClaimOutcome.NEW, "event-1")

    # Not confirmed yet: the same submission publishes again under the claimed event id.
    [again] = await job_store.claim_submissions([submission("job-1", "event-2", payload={"n": 1})])
    assert (again.outcome, again.event_id) == (ClaimOutcome.PENDING, "event-1")

    await job_store.settle_submissions([first], [])
    [duplicate] = await job_store.claim_submissions(
        [submission("job-1", "event-3", payload={"n": 1})]
    )
    assert (duplicate.outcome, duplicate.event_id) == (ClaimOutcome.DUPLICATE, "event-1")


async def test_a_resubmission_with_other_fields_is_a_conflict_naming_them(
    job_store: JobStore,
) -> None:
    await job_store.claim_submissions([submission("job-1", "event-1", payload={"n": 1})])

    claims = await job_store.claim_submissions(
        [
            submission("job-1", "event-2", payload={"n": 2}),
        ]
    )
    assert [(c.outcome, c.event_id, c.differences) for c in claims] == [
        (ClaimOutcome.CONFLICT, "event-1", ("payload",))
    ]
    [other] = await job_store.claim_submissions(
        [submission("job-1", "event-3", job_type="sleep", metadata={"a": 1}, payload={"n": 1})]
    )
    assert other.differences == ("type", "metadata")


async def test_one_call_claims_many_ids_and_answers_in_order(job_store: JobStore) -> None:
    await job_store.claim_submissions([submission("b", "event-b")])
    await job_store.settle_submissions([submission("b", "event-b")], [])

    claims = await job_store.claim_submissions(
        [submission(job_id, f"new-{job_id}") for job_id in ("a", "b", "c")]
    )

    assert [(c.submission.job_id, c.outcome, c.event_id) for c in claims] == [
        ("a", ClaimOutcome.NEW, "new-a"),
        ("b", ClaimOutcome.DUPLICATE, "event-b"),
        ("c", ClaimOutcome.NEW, "new-c"),
    ]


async def test_a_claim_call_refuses_an_id_twice(job_store: JobStore) -> None:
    with pytest.raises(
        ValueError, match=r"^The job id 'a' appears twice in one call; claim it once\.$"
    ):
        await job_store.claim_submissions([submission("a", "1"), submission("a", "2")])


async def test_a_released_claim_lets_another_submission_claim_the_id(job_store: JobStore) -> None:
    first = submission("job-1", "event-1", payload={"n": 1})
    await job_store.claim_submissions([first])

    await job_store.settle_submissions([], [first])

    [claim] = await job_store.claim_submissions([submission("job-1", "event-2", payload={"n": 2})])
    assert (claim.outcome, claim.event_id) == (ClaimOutcome.NEW, "event-2")


async def test_only_the_holder_releases_or_confirms_a_claim(job_store: JobStore) -> None:
    holder = submission("job-1", "event-1")
    await job_store.claim_submissions([holder])
    stranger = submission("job-1", "event-2")

    await job_store.settle_submissions([], [stranger])
    await job_store.settle_submissions([stranger], [])

    [claim] = await job_store.claim_submissions([submission("job-1", "event-3")])
    assert (claim.outcome, claim.event_id) == (ClaimOutcome.PENDING, "event-1")


async def test_a_confirmed_claim_is_never_released_and_a_confirm_after_a_release_claims_again(
    job_store: JobStore,
) -> None:
    first = submission("job-1", "event-1")
    await job_store.claim_submissions([first])
    await job_store.settle_submissions([first], [])
    await job_store.settle_submissions([], [first])  # a late release changes nothing
    [claim] = await job_store.claim_submissions([submission("job-1", "event-9")])
    assert claim.outcome is ClaimOutcome.DUPLICATE

    # A publish of the same claim confirmed by a second request after the first released.
    second = submission("job-2", "event-2")
    await job_store.claim_submissions([second])
    await job_store.settle_submissions([], [second])
    await job_store.settle_submissions([second], [])
    [claim] = await job_store.claim_submissions([submission("job-2", "event-8")])
    assert (claim.outcome, claim.event_id) == (ClaimOutcome.DUPLICATE, "event-2")


async def test_claims_survive_a_reopen(
    open_job_store: Callable[[], AbstractAsyncContextManager[JobStore]],
) -> None:
    async with open_job_store() as store:
        await store.claim_submissions([submission("job-1", "event-1")])
        await store.settle_submissions([submission("job-1", "event-1")], [])
    async with open_job_store() as store:
        [claim] = await store.claim_submissions([submission("job-1", "event-2")])
    assert (claim.outcome, claim.event_id) == (ClaimOutcome.DUPLICATE, "event-1")


def key_claim(key: str, body: str, at_s: float = 0.0, ttl_s: float = 3600.0) -> IdempotencyClaim:
    return IdempotencyClaim(key, body, ts(at_s), ts(at_s + ttl_s))


async def test_an_idempotency_key_is_claimed_answered_and_replayed(job_store: JobStore) -> None:
    [(outcome, record)] = await job_store.claim_idempotency_keys(
        [key_claim("k", "body")], now=ts(0)
    )
    assert (outcome, record) == (KeyOutcome.NEW, None)

    [(outcome, record)] = await job_store.claim_idempotency_keys(
        [key_claim("k", "body", 1)], now=ts(1)
    )
    assert outcome is KeyOutcome.IN_PROGRESS

    await job_store.settle_idempotency_keys([IdempotencyAnswer("k", "body", 202, '{"jobId":"1"}')])
    [(outcome, record)] = await job_store.claim_idempotency_keys(
        [key_claim("k", "body", 2)], now=ts(2)
    )
    assert outcome is KeyOutcome.REPLAY
    assert record is not None
    assert (record.status, record.body) == (202, '{"jobId":"1"}')

    [(outcome, _)] = await job_store.claim_idempotency_keys([key_claim("k", "other", 3)], now=ts(3))
    assert outcome is KeyOutcome.MISMATCH


async def test_an_answer_is_kept_once_and_only_for_the_claims_fingerprint(
    job_store: JobStore,
) -> None:
    await job_store.claim_idempotency_keys([key_claim("k", "body")], now=ts(0))
    await job_store.settle_idempotency_keys(
        [IdempotencyAnswer("k", "other", 500, "{}"), IdempotencyAnswer("x", "body", 200, "{}")]
    )
    [(outcome, _)] = await job_store.claim_idempotency_keys([key_claim("k", "body", 1)], now=ts(1))
    assert outcome is KeyOutcome.IN_PROGRESS

    await job_store.settle_idempotency_keys([IdempotencyAnswer("k", "body", 202, "[1]")])
    await job_store.settle_idempotency_keys([IdempotencyAnswer("k", "body", 400, "[2]")])
    [(_, record)] = await job_store.claim_idempotency_keys([key_claim("k", "body", 2)], now=ts(2))
    assert record is not None
    assert (record.status, record.body) == (202, "[1]")


async def test_a_released_key_runs_again(job_store: JobStore) -> None:
    await job_store.claim_idempotency_keys([key_claim("k", "body")], now=ts(0))

    await job_store.settle_idempotency_keys([IdempotencyAnswer("k", "body", None, None)])

    [(outcome, _)] = await job_store.claim_idempotency_keys([key_claim("k", "other", 1)], now=ts(1))
    assert outcome is KeyOutcome.NEW


async def test_an_expired_key_is_claimed_anew_and_expired_keys_are_pruned(
    job_store: JobStore,
) -> None:
    await job_store.claim_idempotency_keys(
        [key_claim("k", "body", 0, ttl_s=10), key_claim("old", "body", 0, ttl_s=10)], now=ts(0)
    )
    await job_store.settle_idempotency_keys(
        [IdempotencyAnswer("k", "body", 202, "{}"), IdempotencyAnswer("old", "body", 202, "{}")]
    )

    [(outcome, _)] = await job_store.claim_idempotency_keys(
        [key_claim("k", "other", 10)], now=ts(10)
    )
    assert outcome is KeyOutcome.NEW
    # "old" expired and was pruned: claiming it is new, with any body.
    [(outcome, _)] = await job_store.claim_idempotency_keys([key_claim("old", "x", 11)], now=ts(11))
    assert outcome is KeyOutcome.NEW


async def test_a_stale_claim_that_never_answered_is_claimed_again(job_store: JobStore) -> None:
    await job_store.claim_idempotency_keys([key_claim("k", "body")], now=ts(0))

    [(outcome, _)] = await job_store.claim_idempotency_keys(
        [key_claim("k", "body", IDEMPOTENCY_STALE_S - 1)], now=ts(IDEMPOTENCY_STALE_S - 1)
    )
    assert outcome is KeyOutcome.IN_PROGRESS
    later_s = IDEMPOTENCY_STALE_S + 1
    [(outcome, _)] = await job_store.claim_idempotency_keys(
        [key_claim("k", "body", later_s)], now=ts(later_s)
    )
    assert outcome is KeyOutcome.NEW


async def test_a_key_claim_call_refuses_a_key_twice(job_store: JobStore) -> None:
    with pytest.raises(ValueError, match=re.escape("The idempotency key 'k' appears twice")):
        await job_store.claim_idempotency_keys(
            [key_claim("k", "a"), key_claim("k", "b")], now=ts(0)
        )
