"""The client's pure parts: answers read into results and errors, ids, chunks, settings."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

import observatory
from observatory import (
    ApiError,
    BadRequest,
    Client,
    Conflict,
    FieldIssue,
    Forbidden,
    Job,
    JobRejected,
    JobStatus,
    NewJob,
    NotFound,
    RateLimited,
    RequestRefused,
    ServerUnavailable,
    Stats,
    Unauthorized,
    WaitTimedOut,
)
from observatory.client import (
    MAX_BATCH_JOBS,
    _as_new_job,
    _batch_results,
    _chunks,
    _error,
    _rate_limited_pause,
    _submission,
    _wait_params,
)

pytestmark = pytest.mark.timeout(30)


def answer(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", "http://gateway.test/jobs")
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_the_client_names_are_public_and_sorted() -> None:
    names = observatory.__all__
    assert names == sorted(names)
    for name in ("Client", "AsyncClient", "ApiError", "WaitTimedOut", "Job", "Submitted"):
        assert name in names
        assert getattr(observatory, name).__module__.startswith("observatory.")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, BadRequest),
        (415, BadRequest),
        (422, RequestRefused),
        (500, ServerUnavailable),
        (503, ServerUnavailable),
    ],
)
def test_each_status_has_its_error(status: int, kind: type[ApiError]) -> None:
    error = _error(answer(status, {"error": "The server says why."}))
    assert type(error) is kind
    assert (error.status, error.message) == (status, "The server says why.")


def test_a_refused_job_carries_the_message_and_the_paths() -> None:
    body = {
        "error": "The job does not match the job-submission contract: 2 problem(s).",
        "details": [
            {"path": "/type", "message": "'a b' does not match the pattern."},
            {"path": "/payload", "message": "[] is not of type 'object'."},
            {"nonsense": True},
        ],
    }
    error = _error(answer(400, body), job=True)
    assert isinstance(error, JobRejected)
    assert isinstance(error, BadRequest)
    assert error.paths == ["/type", "/payload"]
    assert error.details[0] == FieldIssue("/type", "'a b' does not match the pattern.")
    assert str(error) == (
        "The job does not match the job-submission contract: 2 problem(s). "
        "(/type: 'a b' does not match the pattern.; /payload: [] is not of type 'object'.)"
    )


def test_rate_limited_says_when_to_retry() -> None:
    error = _error(answer(429, {"error": "Too many jobs."}, {"Retry-After": "3"}))
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 3.0


def test_an_answer_without_a_json_error_still_says_what_happened() -> None:
    request = httpx.Request("GET", "http://read-model.test/stats")
    error = _error(httpx.Response(502, text="<html>bad gateway</html>", request=request))
    assert isinstance(error, ServerUnavailable)
    assert error.message == "GET http://read-model.test/stats answered 502 Bad Gateway."


def test_a_conflict_tells_the_jobs_status() -> None:
    error = _error(answer(409, {"error": "Job x is already COMPLETED.", "status": "COMPLETED"}))
    assert isinstance(error, Conflict)
    assert error.job_status == "COMPLETED"


def test_a_submission_gets_its_id_here() -> None:
    body = _submission("echo", None, None, None)
    assert body["type"] == "echo"
    assert body["payload"] == {}
    assert "metadata" not in body
    uuid.UUID(str(body["id"]))
    given = _submission("sleep", {"seconds": 1}, "my-id", {"maxAttempts": 1})
    assert given == {
        "type": "sleep",
        "id": "my-id",
        "payload": {"seconds": 1},
        "metadata": {"maxAttempts": 1},
    }
    assert _as_new_job({"type": "echo", "id": "kept"})["id"] == "kept"
    assert _as_new_job(NewJob("echo", job_id="mine"))["id"] == "mine"


def test_batches_are_cut_at_1000() -> None:
    jobs: list[dict[str, object]] = [{"n": n} for n in range(2500)]
    cuts = [(start, len(chunk)) for start, chunk in _chunks(jobs)]
    assert cuts == [(0, MAX_BATCH_JOBS), (1000, 1000), (2000, 500)]


def test_batch_results_are_read_per_job_with_global_indexes() -> None:
    sent: list[dict[str, object]] = [{"id": "a"}, {"id": "b"}]
    body = {
        "accepted": 1,
        "rejected": 1,
        "results": [
            {"jobId": "a", "eventId": "e"},
            {"error": "Bad.", "details": [{"path": "/type", "message": "No."}]},
        ],
    }
    first, second = _batch_results(answer(202, body), 1000, sent)
    assert first == observatory.Submitted("a", "e")
    assert second == observatory.Rejected(1001, "b", "Bad.", (FieldIssue("/type", "No."),))
    with pytest.raises(BadRequest, match=r"^A batch is a non-empty JSON array"):
        _batch_results(answer(400, {"error": "A batch is a non-empty JSON array."}), 0, sent)


def test_waits_are_cut_at_60_seconds() -> None:
    assert _wait_params(125.0) == (60.0, {"wait": "60"})
    assert _wait_params(2.5) == (2.5, {"wait": "2.5"})
    assert _wait_params(-1.0) == (0.0, {"wait": "0"})


def test_a_job_document_is_read_into_a_job() -> None:
    job = Job.from_json(
        {
            "id": "j",
            "type": "echo",
            "status": "FAILED",
            "createdAt": "2026-01-01T00:00:00.000000Z",
            "payload": {"a": 1},
            "attempts": 2,
            "error": "boom",
            "errors": [{"attempt": 1, "error": "boom", "at": "t1"}],
            "events": [{"eventType": "job.failed"}],
            "somethingNew": 1,
        }
    )
    assert job.status is JobStatus.FAILED
    assert job.is_terminal
    assert (job.attempts, job.error, job.metadata, job.result) == (2, "boom", {}, None)
    assert job.errors[0].attempt == 1
    assert job.events == ({"eventType": "job.failed"},)


def test_stats_are_read_by_type() -> None:
    stats = Stats.from_json(
        {
            "totalJobs": 3,
            "completedJobs": 2,
            "failedJobs": 1,
            "inFlightJobs": 0,
            "lastEventTime": None,
            "byType": {"echo": {"total": 3, "completed": 2, "failed": 1}},
        }
    )
    assert stats.by_type["echo"].failed == 1
    assert (stats.total_jobs, stats.last_event_time) == (3, None)


def test_urls_and_token_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_URL", raising=False)
    monkeypatch.delenv("READ_MODEL_URL", raising=False)
    monkeypatch.delenv("OBSERVATORY_API_TOKEN", raising=False)
    with Client() as client:
        assert (client.gateway_url, client.read_model_url) == (
            "http://127.0.0.1:3000",
            "http://127.0.0.1:8080",
        )
        assert "Authorization" not in client._http.headers
    monkeypatch.setenv("GATEWAY_URL", "http://gw:1/")
    monkeypatch.setenv("READ_MODEL_URL", "http://rm:2")
    monkeypatch.setenv("OBSERVATORY_API_TOKEN", "secret-token-0123456789")
    with Client() as client:
        assert (client.gateway_url, client.read_model_url) == ("http://gw:1", "http://rm:2")
        assert client._http.headers["Authorization"] == "Bearer secret-token-0123456789"
    with Client("http://given:3", token="other-token-0123456789") as client:
        assert client.gateway_url == "http://given:3"
        assert client._http.headers["Authorization"] == "Bearer other-token-0123456789"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_nothing_listening_is_server_unavailable() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with Client(url, url) as client, pytest.raises(ServerUnavailable) as caught:
        client.submit("echo")
    assert caught.value.status is None
    assert caught.value.message.startswith(f"Cannot reach {url}/jobs (ConnectError: ")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_the_async_client_translates_unreachable_too() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with observatory.AsyncClient(url, url) as client:
        with pytest.raises(ServerUnavailable):
            await client.stats()


def test_a_wait_needs_a_sensible_timeout() -> None:
    with Client("http://x", "http://x") as client:
        for bad in (-1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=r"^timeout_s must be a finite number"):
                client.wait("j", timeout_s=bad)


def test_wait_timed_out_keeps_the_job() -> None:
    error = WaitTimedOut("Job j did not end within 1 s; it is EXECUTING.", job=None)
    assert isinstance(error, ApiError)
    assert error.job is None
    assert str(error) == "Job j did not end within 1 s; it is EXECUTING."


def test_a_rate_limited_batch_is_resent_after_retry_after_five_times_at_most() -> None:
    limited = answer(429, {"error": "Too many jobs."}, {"Retry-After": "2"})
    assert _rate_limited_pause(limited, 0) == 2.0
    assert _rate_limited_pause(limited, 4) == 2.0
    assert _rate_limited_pause(limited, 5) is None
    assert _rate_limited_pause(answer(202, {"results": []}), 0) is None
    with pytest.raises(RateLimited, match=r"^Too many jobs\.$"):
        _batch_results(limited, 0, [{"id": "a"}])


def test_search_filters_become_query_parameters() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from observatory._search import search_params

    params = search_params(
        status=[JobStatus.FAILED, "PENDING"],
        type="resize",
        created_after=datetime(2026, 1, 2, 3, 4, 5),
        created_before=datetime(2026, 1, 3, tzinfo=timezone(timedelta(hours=2))),
        finished_after=None,
        finished_before="2026-02-01T00:00:00Z",
        correlation_id=None,
        error="time out",
        q=None,
        sort="finished:asc",
        limit=20,
        cursor="abc",
    )
    assert params == [
        ("status", "FAILED"),
        ("status", "PENDING"),
        ("type", "resize"),
        ("createdAfter", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).isoformat()),
        ("createdBefore", "2026-01-03T00:00:00+02:00"),
        ("finishedBefore", "2026-02-01T00:00:00Z"),
        ("error", "time out"),
        ("sort", "finished:asc"),
        ("limit", "20"),
        ("cursor", "abc"),
    ]


def test_a_search_page_is_read_into_summaries() -> None:
    page = observatory.JobPage.from_json(
        {
            "items": [
                {
                    "id": "j1",
                    "type": "echo",
                    "status": "FAILED",
                    "createdAt": "2026-01-01T00:00:00.000000Z",
                    "updatedAt": "2026-01-01T00:00:01.000000Z",
                    "startedAt": None,
                    "finishedAt": "2026-01-01T00:00:01.000000Z",
                    "correlationId": "c",
                    "attempts": 3,
                    "round": 2,
                    "error": "boom",
                }
            ],
            "nextCursor": "next",
        }
    )
    assert page.next_cursor == "next"
    (job,) = page.items
    assert (job.id, job.status, job.attempts, job.round, job.error) == (
        "j1",
        JobStatus.FAILED,
        3,
        2,
        "boom",
    )
