"""Issue 16 (item 11): a job's ``durationMs`` covers every attempt of its round."""

from __future__ import annotations

import pytest

from actors.domain.jobs import AttemptError, JobRecord, JobSpec, JobStatus

CREATED = "2026-12-01T10:00:00.000000Z"
SPEC = JobSpec("11111111-1111-4111-8111-111111111111", "fail", CREATED, "c")


def _record(**fields: object) -> JobRecord:
    base: dict[str, object] = {"spec": SPEC, "status": JobStatus.FAILED, "updated_at": CREATED}
    return JobRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_issue_16_a_job_that_has_not_finished_has_no_duration() -> None:
    record = _record(status=JobStatus.EXECUTING, attempts=1, started_at=CREATED)
    assert record.duration_ms is None
    assert record.to_summary()["durationMs"] is None


def test_one_attempt_counts_from_its_start() -> None:
    record = _record(
        attempts=1,
        started_at="2026-12-01T10:00:01.000000Z",
        finished_at="2026-12-01T10:00:01.250000Z",
    )
    assert record.duration_ms == 250
    assert record.to_json()["durationMs"] == 250


def test_issue_16_several_attempts_count_from_the_jobs_creation_not_the_last_start() -> None:
    # Three attempts over about 6 s; the last one started and failed in the same millisecond.
    record = _record(
        attempts=3,
        started_at="2026-12-01T10:00:06.100000Z",
        finished_at="2026-12-01T10:00:06.100000Z",
        errors=(
            AttemptError(1, "boom", "2026-12-01T10:00:00.100000Z"),
            AttemptError(2, "boom", "2026-12-01T10:00:01.100000Z"),
            AttemptError(3, "boom", "2026-12-01T10:00:06.100000Z"),
        ),
    )
    assert record.duration_ms == 6100
    assert record.to_summary()["durationMs"] == 6100


def test_several_attempts_of_a_later_round_count_from_its_first_failed_attempt() -> None:
    # The round started long after the job's creation; its earlier time is not kept.
    record = _record(
        round=2,
        attempts=2,
        started_at="2026-12-01T11:00:02.000000Z",
        finished_at="2026-12-01T11:00:02.000000Z",
        errors=(
            AttemptError(1, "boom", "2026-12-01T11:00:00.500000Z"),
            AttemptError(2, "boom", "2026-12-01T11:00:02.000000Z"),
        ),
    )
    assert record.duration_ms == 1500


@pytest.mark.parametrize("started_at", [None, "2026-12-01T10:00:00.000000Z"])
def test_a_job_cancelled_before_it_ran_counts_from_its_creation(started_at: str | None) -> None:
    record = _record(attempts=0, started_at=started_at, finished_at="2026-12-01T10:00:00.040000Z")
    assert record.duration_ms == 40
