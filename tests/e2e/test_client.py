"""``observatory.Client`` and ``AsyncClient`` against a real ``observatory up`` (issue 14, item 8)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

import pytest

from observatory import (
    AsyncClient,
    BadRequest,
    Client,
    Conflict,
    Forbidden,
    JobRejected,
    JobStatus,
    NewJob,
    NotFound,
    Rejected,
    Submitted,
    Unauthorized,
    WaitTimedOut,
)
from tests.e2e.conftest import observatory_running, start_observatory

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def observatory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObservatory]:
    with observatory_running(tmp_path_factory.mktemp("client") / "data") as running:
        yield running


@pytest.fixture
def client(observatory: RunningObservatory) -> Iterator[Client]:
    with Client(observatory.gateway, observatory.read_model) as client:
        yield client


def test_submit_then_wait_gives_the_completed_job_and_its_result(client: Client) -> None:
    submitted = client.submit("echo", {"hello": "world"}, metadata={"origin": "test"})
    job = client.wait(submitted.job_id, timeout_s=30)
    assert job.id == submitted.job_id
    assert job.status is JobStatus.COMPLETED
    assert job.result == {"hello": "world"}
    assert job.metadata == {"origin": "test"}
    assert [event["eventType"] for event in job.events][-1] == "job.completed"
    assert client.get(submitted.job_id) == job


def test_issue_18_run_at_delays_a_job_and_a_batch_entry(client: Client) -> None:
    submitted = client.submit("echo", {"n": 1}, run_at=timedelta(seconds=1))
    waiting = client.get(submitted.job_id)
    batch = client.submit_many(
        [NewJob("echo", run_at=datetime.now(UTC) + timedelta(hours=1)), NewJob("echo")]
    )
    later, now = (cast("Submitted", result) for result in batch.results)

    assert (waiting.status, waiting.attempts) == (JobStatus.PENDING, 0)
    assert waiting.scheduled_for is not None
    job = client.wait(submitted.job_id, timeout_s=30)
    assert job.status is JobStatus.COMPLETED
    assert job.started_at is not None
    assert job.started_at >= waiting.scheduled_for
    assert client.get(later.job_id).scheduled_for is not None
    assert client.cancel(later.job_id).status == "PENDING"
    assert client.wait(now.job_id, timeout_s=30).scheduled_for is None


def test_issue_18_priority_is_kept_and_shown(client: Client) -> None:
    urgent = client.submit("echo", {"n": 9}, priority=9)
    plain = client.submit("echo", {"n": 5})
    batch = client.submit_many([NewJob("echo", priority=0), {"type": "echo", "priority": 8}])
    low, high = (cast("Submitted", result) for result in batch.results)

    assert client.wait(urgent.job_id, timeout_s=30).priority == 9
    assert client.wait(plain.job_id, timeout_s=30).priority == 5
    assert client.wait(low.job_id, timeout_s=30).priority == 0
    assert client.wait(high.job_id, timeout_s=30).priority == 8
    found = {job.id: job.priority for job in client.iter_jobs(priority=9, limit=500)}
    assert found[urgent.job_id] == 9
    assert set(found.values()) == {9}
    assert plain.job_id not in found


def test_a_failed_job_is_returned_by_wait_not_raised(client: Client) -> None:
    job = client.wait(client.submit("fail").job_id, timeout_s=30)
    assert job.status is JobStatus.FAILED
    assert job.attempts == 3
    assert [failure.attempt for failure in job.errors] == [1, 2, 3]


def test_the_client_picks_the_job_id_so_a_resend_never_runs_twice(client: Client) -> None:
    job_id = str(uuid.uuid4())
    assert client.submit("echo", {"n": 1}, job_id=job_id).job_id == job_id
    assert client.submit("echo", {"n": 1}, job_id=job_id).job_id == job_id
    assert client.wait(job_id, timeout_s=30).attempts == 1


def test_submit_many_splits_2500_jobs_into_3_requests_and_all_complete(client: Client) -> None:
    before = client.stats()
    result = client.submit_many(NewJob("echo", {"n": n}) for n in range(2500))
    assert result.requests == 3
    assert len(result.submitted) == 2500
    assert result.rejected == []
    assert len({s.job_id for s in result.submitted}) == 2500
    started = time.monotonic()
    statuses = {client.wait(s.job_id, timeout_s=60).status for s in result.submitted}
    print(f"2,500 jobs all ended {time.monotonic() - started:.1f} s after their submission")
    assert statuses == {JobStatus.COMPLETED}
    after = client.stats()
    assert after.completed_jobs - before.completed_jobs >= 2500
    assert after.by_type["echo"].completed - before.by_type["echo"].completed >= 2500


def test_a_batch_reports_each_refused_job_by_its_index(client: Client) -> None:
    jobs: list[NewJob | Mapping[str, object]] = [
        NewJob("echo"),
        {"type": "not a type!", "payload": {}},
        NewJob("echo", job_id="not-a-uuid"),
    ]
    result = client.submit_many(jobs)
    assert result.requests == 1
    first, second, third = result.results
    assert isinstance(first, Submitted)
    assert isinstance(second, Rejected)
    assert second.index == 1
    assert [issue.path for issue in second.details] == ["/type"]
    assert isinstance(third, Rejected)
    assert (third.index, third.job_id) == (2, "not-a-uuid")
    assert [issue.path for issue in third.details] == ["/id"]


def test_a_bad_job_raises_job_rejected_with_the_server_message_and_path(client: Client) -> None:
    with pytest.raises(JobRejected) as caught:
        client.submit("echo", cast("dict[str, object]", ["not", "an", "object"]))
    assert caught.value.status == 400
    assert caught.value.message == (
        "The job does not match the job-submission contract: 1 problem(s)."
    )
    assert caught.value.paths == ["/payload"]
    assert "/payload: " in str(caught.value)
    with pytest.raises(JobRejected) as bad_type:
        client.submit("no spaces allowed")
    assert bad_type.value.paths == ["/type"]


def test_unknown_jobs_are_not_found(client: Client) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(NotFound, match=rf"^No job with id '{unknown}' is known\.$"):
        client.get(unknown)
    started = time.monotonic()
    with pytest.raises(NotFound):
        client.wait(unknown, timeout_s=1)
    assert time.monotonic() - started >= 1


def test_cancelling_an_ended_job_is_a_conflict(client: Client) -> None:
    job = client.wait(client.submit("echo").job_id, timeout_s=30)
    with pytest.raises(Conflict) as caught:
        client.cancel(job.id)
    assert caught.value.status == 409
    assert caught.value.job_status == "COMPLETED"
    assert "COMPLETED" in caught.value.message


def test_a_failed_job_retried_runs_a_new_round_to_completed(client: Client) -> None:
    failed = client.wait(client.submit("fail", {"succeedFromRound": 2}).job_id, timeout_s=30)
    assert failed.status is JobStatus.FAILED
    assert failed.round == 1
    retried = client.retry(failed.id)
    assert retried.job_id == failed.id
    assert retried.round == 2
    # Until a processor takes the retry the job reads FAILED (round 1): wait for round 2.
    job = client.wait(failed.id, timeout_s=30, round=retried.round)
    assert job.status is JobStatus.COMPLETED
    assert job.round == 2
    assert job.attempts == 1
    with pytest.raises(Conflict) as caught:
        client.retry(job.id)
    assert caught.value.status == 409
    with pytest.raises(NotFound):
        client.retry(str(uuid.uuid4()))


def test_a_wait_that_runs_out_raises_with_the_job_as_last_seen(client: Client) -> None:
    submitted = client.submit("sleep", {"seconds": 3})
    started = time.monotonic()
    with pytest.raises(WaitTimedOut, match=rf"^Job {submitted.job_id} did not end within 1 s") as e:
        client.wait(submitted.job_id, timeout_s=1)
    assert 1 <= time.monotonic() - started < 2
    assert e.value.job is not None
    assert e.value.job.status in (JobStatus.PENDING, JobStatus.VALIDATED, JobStatus.EXECUTING)
    assert client.wait(submitted.job_id, timeout_s=30).status is JobStatus.COMPLETED


async def test_the_async_client_submits_waits_and_reads(observatory: RunningObservatory) -> None:
    async with AsyncClient(observatory.gateway, observatory.read_model) as client:
        submitted = await client.submit("echo", {"async": True})
        job = await client.wait(submitted.job_id, timeout_s=30)
        assert job.status is JobStatus.COMPLETED
        assert job.result == {"async": True}
        assert (await client.get(submitted.job_id)).id == submitted.job_id
        many = await client.submit_many([NewJob("echo", {"n": n}) for n in range(3)])
        assert (many.requests, len(many.submitted)) == (1, 3)
        for item in many.submitted:
            assert (await client.wait(item.job_id, timeout_s=30)).is_terminal
        assert (await client.stats()).completed_jobs >= 4
        with pytest.raises(JobRejected) as caught:
            await client.submit("echo", job_id="x")
        assert caught.value.paths == ["/id"]
        with pytest.raises(NotFound):
            await client.get(str(uuid.uuid4()))


def test_search_finds_jobs_by_payload_text_and_status_and_pages_through_them(
    client: Client,
) -> None:
    marker = uuid.uuid4().hex
    batch = client.submit_many([NewJob("echo", {"marker": marker, "n": n}) for n in range(5)])
    failed = client.submit("fail", {"marker": marker})
    for job_id in [item.job_id for item in batch.submitted] + [failed.job_id]:
        client.wait(job_id, timeout_s=30)

    page = client.search_jobs(q=marker, status="FAILED")
    assert [(job.id, job.status, job.attempts) for job in page.items] == [
        (failed.job_id, JobStatus.FAILED, 3)
    ]
    assert page.items[0].error
    assert page.next_cursor is None
    first = client.search_jobs(q=marker, type="echo", limit=2)
    assert len(first.items) == 2
    assert first.next_cursor is not None
    listed = [job.id for job in client.iter_jobs(q=marker, type="echo", limit=2)]
    assert sorted(listed) == sorted(item.job_id for item in batch.submitted)
    assert listed[:2] == [job.id for job in first.items]
    oldest = [job.id for job in client.iter_jobs(q=marker, sort="created:asc")]
    assert oldest == [*reversed(listed), failed.job_id]
    with pytest.raises(BadRequest) as caught:
        client.search_jobs(created_after="yesterday")
    assert caught.value.paths == ["/createdAfter"]


async def test_the_async_client_searches_too(observatory: RunningObservatory) -> None:
    async with AsyncClient(observatory.gateway, observatory.read_model) as client:
        marker = uuid.uuid4().hex
        submitted = await client.submit("echo", {"marker": marker})
        await client.wait(submitted.job_id, timeout_s=30)
        page = await client.search_jobs(q=marker, sort="finished")
        assert [job.id for job in page.items] == [submitted.job_id]
        assert [job.id async for job in client.iter_jobs(q=marker, limit=1)] == [submitted.job_id]


def test_tokens_are_taken_from_the_environment_and_refusals_raised(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer, submitter = f"viewer-{uuid.uuid4().hex}", f"submitter-{uuid.uuid4().hex}"
    running = start_observatory(
        tmp_path_factory.mktemp("tokens") / "data",
        env={"OBSERVATORY_API_TOKENS": f"viewer:{viewer},submitter:{submitter}"},
    )
    try:
        monkeypatch.delenv("OBSERVATORY_API_TOKEN", raising=False)
        with Client(running.gateway, running.read_model) as anonymous:
            with pytest.raises(Unauthorized, match=r"^This API needs a token"):
                anonymous.submit("echo")
            with pytest.raises(Unauthorized):
                anonymous.stats()
        with Client(running.gateway, running.read_model, token=viewer) as reader:
            with pytest.raises(Forbidden, match=r"^A viewer token may not POST"):
                reader.submit("echo")
            assert reader.stats().total_jobs >= 0
        monkeypatch.setenv("OBSERVATORY_API_TOKEN", submitter)
        monkeypatch.setenv("GATEWAY_URL", running.gateway)
        monkeypatch.setenv("READ_MODEL_URL", running.read_model)
        with Client() as client:
            job = client.wait(client.submit("echo", {"x": 1}).job_id, timeout_s=30)
            assert job.status is JobStatus.COMPLETED
    finally:
        running.stop()
        if running.process.stdout is not None:
            running.process.stdout.close()


def test_a_rate_limited_batch_is_sent_again_after_retry_after(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    running = start_observatory(
        tmp_path_factory.mktemp("limited") / "data",
        env={"OBSERVATORY_RATE_LIMIT": "1000", "OBSERVATORY_RATE_BURST": "1000"},
    )
    try:
        with Client(running.gateway, running.read_model) as client:
            result = client.submit_many(NewJob("echo", {"n": n}) for n in range(2500))
            # 1,000 at once, then each further 1,000 after one 429 (Retry-After: 1).
            assert len(result.submitted) == 2500
            assert result.requests == 5
            assert {client.wait(s.job_id, 60).status for s in result.submitted[-10:]} == {
                JobStatus.COMPLETED
            }
    finally:
        running.stop()
        if running.process.stdout is not None:
            running.process.stdout.close()
