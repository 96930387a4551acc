"""``GET /jobs`` (search) and ``GET /events`` (filters, cursor) of the real read-model app
over the embedded stores; 400 for unknown and bad parameters."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import pytest

from actors.config.settings import Settings
from actors.domain.events import Envelope, EventType, Producer
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.domain.jobs import DEFAULT_PRIORITY, JobSpec, JobStatus, JobTransition
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from quart_app.read_model.search import NEXT_CURSOR_HEADER
from quart_app.read_model.service import ReadModelService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quart.typing import TestClientProtocol

pytestmark = pytest.mark.timeout(30)

_PRODUCER = Producer("test", "test-1", "0.0.0")
_PRIORITIES = {4: 9, 8: 9, 1: 0}


def at(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000000Z"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClientProtocol]:
    """The read model over 12 jobs (every third FAILED with "boom n", types echo and
    resize alternating, created a second apart; jobs 4 and 8 of priority 9, job 1 of 0,
    the others of none, so 5) and a VALIDATED and a COMPLETED or FAILED event for each."""
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        for n in range(12):
            spec = JobSpec(
                id=f"job-{n:02d}",
                type="echo" if n % 2 else "resize",
                created_at=at(n),
                correlation_id=str(uuid.UUID(int=n)),
                payload={"file": f"picture-{n}.png"},
                priority=_PRIORITIES.get(n, DEFAULT_PRIORITY),
            )
            failed = n % 3 == 0
            status = JobStatus.FAILED if failed else JobStatus.COMPLETED
            await jobs.apply_transitions(
                [
                    JobTransition(spec, JobStatus.VALIDATED, at(n)),
                    JobTransition(spec, JobStatus.EXECUTING, at(n)),
                    JobTransition(
                        spec,
                        status,
                        at(30 + n),
                        result=None if failed else {"ok": True},
                        error=f"boom {n}" if failed else None,
                    ),
                ]
            )
            body = {"id": spec.id, "type": spec.type, "createdAt": spec.created_at}
            await events.append(
                [
                    Envelope(
                        event_type,
                        str(uuid.uuid4()),
                        moment,
                        _PRODUCER,
                        spec.correlation_id,
                        spec.id,
                        {**body, "status": event_status},
                    )
                    for event_type, moment, event_status in (
                        (EventType.VALIDATED, at(n), "VALIDATED"),
                        (
                            EventType.FAILED if failed else EventType.COMPLETED,
                            at(30 + n),
                            status.value,
                        ),
                    )
                ]
            )
        service = ReadModelService(
            jobs,
            events,
            dead,
            MemoryCounters(),
            Settings(read_model_port=0),
            handlers=DEFAULT_REGISTRY,
        )
        yield service.http.app.test_client()


async def page(client: TestClientProtocol, url: str) -> dict[str, object]:
    response = await client.get(url)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert isinstance(body, dict)
    return body


def listed(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [item["id"] for item in items]


async def test_jobs_without_filters_are_newest_first_with_their_last_error(
    client: TestClientProtocol,
) -> None:
    body = await page(client, "/jobs")
    assert listed(body) == [f"job-{n:02d}" for n in reversed(range(12))]
    assert body["nextCursor"] is None
    items = body["items"]
    assert isinstance(items, list)
    last = items[-1]
    assert (last["status"], last["error"], last["attempts"], last["round"]) == (
        "FAILED",
        "boom 0",
        1,
        1,
    )
    assert last["correlationId"] == str(uuid.UUID(int=0))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=FAILED", [9, 6, 3, 0]),
        ("status=failed&status=COMPLETED&type=echo", [11, 9, 7, 5, 3, 1]),
        ("type=echo&type=resize&status=FAILED", [9, 6, 3, 0]),
        (
            "type=resize&status=COMPLETED&createdAfter=2026-01-01T00:00:02Z"
            "&createdBefore=2026-01-01T01:00:08%2B01:00",
            [4, 2],
        ),
        ("finishedAfter=2026-01-01T00:00:40Z", [11, 10]),
        ("finishedBefore=2026-01-01T00:00:32Z", [1, 0]),
        ("error=BOOM", [9, 6, 3, 0]),
        ("error=boom%206", [6]),
        (f"correlationId={uuid.UUID(int=7)}", [7]),
        ("q=job-1", [11, 10]),
        ("q=picture-3.png", [3]),
        ("sort=created:asc&status=FAILED", [0, 3, 6, 9]),
        ("sort=finished&type=echo&limit=2", [11, 9]),
        ("sort=finished:asc&limit=3", [0, 1, 2]),
        ("error=", list(reversed(range(12)))),
        ("priority=9", [8, 4]),
        ("priority=0", [1]),
        ("priority=5&type=resize&status=FAILED", [6, 0]),
        ("priority=9&status=FAILED", []),
        ("priority=", list(reversed(range(12)))),
    ],
)
async def test_every_filter_and_sort(
    client: TestClientProtocol, query: str, expected: list[int]
) -> None:
    body = await page(client, f"/jobs?{query}")
    assert listed(body) == [f"job-{n:02d}" for n in expected]


async def test_every_job_shows_its_priority(client: TestClientProtocol) -> None:
    body = await page(client, "/jobs")
    items = body["items"]
    assert isinstance(items, list)
    assert {item["id"]: item["priority"] for item in items} == {
        f"job-{n:02d}": _PRIORITIES.get(n, 5) for n in range(12)
    }
    detail = await (await client.get("/jobs/job-04")).get_json()
    assert detail["priority"] == 9
    plain = await (await client.get("/jobs/job-03")).get_json()
    assert plain["priority"] == 5
    recent = await (await client.get("/jobs/recent?limit=12")).get_json()
    assert {job["id"]: job["priority"] for job in recent}["job-01"] == 0


async def test_the_cursor_walks_every_page_with_the_same_filters(
    client: TestClientProtocol,
) -> None:
    seen: list[str] = []
    url = "/jobs?type=echo&limit=2"
    pages = 0
    while True:
        body = await page(client, url)
        pages += 1
        seen.extend(listed(body))
        cursor = body["nextCursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
        url = f"/jobs?type=echo&limit=2&cursor={cursor}"
    assert seen == [f"job-{n:02d}" for n in (11, 9, 7, 5, 3, 1)]
    assert pages == 3


@pytest.mark.parametrize(
    ("url", "path", "message"),
    [
        (
            "/jobs?staus=FAILED",
            "/staus",
            "Unknown query parameter 'staus'; /jobs accepts correlationId, createdAfter, "
            "createdBefore, cursor, error, finishedAfter, finishedBefore, limit, priority, q, "
            "sort, status, type.",
        ),
        (
            "/jobs?offset=10&page=2",
            "/offset",
            "Unknown query parameters 'offset', 'page'; /jobs accepts correlationId, "
            "createdAfter, createdBefore, cursor, error, finishedAfter, finishedBefore, "
            "limit, priority, q, sort, status, type.",
        ),
        (
            "/jobs?createdAfter=yesterday",
            "/createdAfter",
            "Query parameter 'createdAfter': 'yesterday' is not an RFC 3339 timestamp, "
            "such as 2026-01-31T09:30:00Z.",
        ),
        (
            "/jobs?finishedBefore=2026-13-01T00:00:00Z",
            "/finishedBefore",
            "Query parameter 'finishedBefore': '2026-13-01T00:00:00Z' is not an RFC 3339 "
            "timestamp, such as 2026-01-31T09:30:00Z.",
        ),
        (
            "/jobs?limit=501",
            "/limit",
            "Query parameter 'limit' must be between 1 and 500, got 501.",
        ),
        ("/jobs?limit=0", "/limit", "Query parameter 'limit' must be between 1 and 500, got 0."),
        (
            "/jobs?priority=10",
            "/priority",
            "Query parameter 'priority' must be between 0 and 9, got 10.",
        ),
        (
            "/jobs?priority=-1",
            "/priority",
            "Query parameter 'priority' must be between 0 and 9, got -1.",
        ),
        (
            "/jobs?priority=high",
            "/priority",
            "Query parameter 'priority' must be an integer, got 'high'.",
        ),
        (
            "/jobs?priority=9&priority=5",
            "/priority",
            "Query parameter 'priority' may be given once.",
        ),
        (
            "/jobs?cursor=not-a-cursor",
            "/cursor",
            "Query parameter 'cursor': The cursor is not one this server gave out.",
        ),
        (
            "/jobs?sort=oldest",
            "/sort",
            "Query parameter 'sort': Unknown sort 'oldest'; expected one of created, "
            "finished, created:desc, created:asc, finished:desc, finished:asc.",
        ),
        ("/jobs?sort=created&sort=finished", "/sort", "Query parameter 'sort' may be given once."),
        (
            "/jobs?status=DONE",
            "/status",
            "Unknown status 'DONE'; expected one of PENDING, VALIDATED, EXECUTING, "
            "COMPLETED, FAILED.",
        ),
        (
            f"/jobs?error={'x' * 201}",
            "/error",
            "Query parameter 'error' is longer than 200 characters.",
        ),
        (
            "/events?kind=job.failed",
            "/kind",
            "Unknown query parameter 'kind'; /events accepts cursor, jobId, limit, since, "
            "type, until.",
        ),
        (
            "/events?type=job.done",
            "/type",
            "Unknown event type 'job.done'; expected one of job.created, job.validated, "
            "job.executed, job.completed, job.failed, jobs.bulk-action.",
        ),
        (
            "/events?since=2026-01-01",
            "/since",
            "Query parameter 'since': '2026-01-01' is not an RFC 3339 timestamp, such as 2026-01-31T09:30:00Z.",
        ),
        (
            "/events?limit=501",
            "/limit",
            "Query parameter 'limit' must be between 1 and 500, got 501.",
        ),
        (
            "/events?cursor=abc",
            "/cursor",
            "Query parameter 'cursor': The cursor is not one this server gave out.",
        ),
    ],
)
async def test_unknown_and_bad_parameters_are_400_naming_them(
    client: TestClientProtocol, url: str, path: str, message: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 400
    body = await response.get_json()
    assert body["details"] == [{"path": path, "message": message}]


async def test_a_cursor_of_another_sort_or_of_events_is_refused(
    client: TestClientProtocol,
) -> None:
    cursor = (await page(client, "/jobs?limit=1"))["nextCursor"]
    response = await client.get(f"/jobs?sort=finished&cursor={cursor}")
    assert response.status_code == 400
    body = await response.get_json()
    assert body["details"][0]["path"] == "/cursor"
    assert "belongs to sort 'created:desc'" in body["details"][0]["message"]
    events = await client.get("/events?limit=1")
    event_cursor = events.headers[NEXT_CURSOR_HEADER]
    response = await client.get(f"/jobs?cursor={event_cursor}")
    assert response.status_code == 400
    response = await client.get(f"/events?cursor={cursor}")
    assert response.status_code == 400


async def test_events_filter_by_type_and_time_and_page_by_header(
    client: TestClientProtocol,
) -> None:
    response = await client.get(
        "/events?type=job.failed&type=job.completed&since=2026-01-01T00:00:35Z&limit=4"
    )
    assert response.status_code == 200
    first = await response.get_json()
    assert [(e["eventType"], e["occurredAt"]) for e in first] == [
        ("job.completed", at(41)),
        ("job.completed", at(40)),
        ("job.failed", at(39)),
        ("job.completed", at(38)),
    ]
    cursor = response.headers[NEXT_CURSOR_HEADER]
    assert response.headers["Link"].endswith('; rel="next"')
    assert f"cursor={cursor}" in response.headers["Link"]
    rest = await client.get(
        "/events?type=job.failed&type=job.completed&since=2026-01-01T00:00:35Z&limit=4"
        f"&cursor={cursor}"
    )
    second = await rest.get_json()
    assert [e["occurredAt"] for e in second] == [at(37), at(36), at(35)]
    assert NEXT_CURSOR_HEADER not in rest.headers
    until = await (await client.get("/events?until=2026-01-01T00:00:02Z")).get_json()
    assert [e["occurredAt"] for e in until] == [at(1), at(0)]
    one_job = await (await client.get("/events?jobId=job-03&type=job.failed")).get_json()
    assert [(e["eventType"], e["payload"]["id"]) for e in one_job] == [("job.failed", "job-03")]


async def test_old_clients_of_events_and_jobs_recent_still_work(
    client: TestClientProtocol,
) -> None:
    events = await (await client.get("/events?limit=50")).get_json()
    assert isinstance(events, list)
    assert len(events) == 24
    recent = await (await client.get("/jobs/recent?limit=3&offset=1&status=COMPLETED")).get_json()
    assert [job["id"] for job in recent] == ["job-10", "job-08", "job-07"]


async def test_the_search_is_documented_in_openapi(client: TestClientProtocol) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    search = document["paths"]["/jobs"]["get"]
    names = {parameter["name"] for parameter in search["parameters"]}
    assert names == {
        "status",
        "type",
        "priority",
        "createdAfter",
        "createdBefore",
        "finishedAfter",
        "finishedBefore",
        "correlationId",
        "error",
        "q",
        "sort",
        "limit",
        "cursor",
    }
    events = document["paths"]["/events"]["get"]
    assert {p["name"] for p in events["parameters"]} == {
        "jobId",
        "type",
        "since",
        "until",
        "limit",
        "cursor",
    }
    assert NEXT_CURSOR_HEADER in events["responses"]["200"]["headers"]
