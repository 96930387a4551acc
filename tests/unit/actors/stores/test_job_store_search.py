"""The job search contract (``JobStore.search_jobs``): every adapter (``open_job_store``
params: memory, SQLite, PostgreSQL) answers every filter, sort and cursor alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from actors.domain.clock import format_timestamp
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.search import JobCursor, JobQuery, JobSort, SortKey

if TYPE_CHECKING:
    from actors.domain.jobs import JobRecord
    from actors.stores import JobStore

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def ts(seconds: float) -> str:
    return format_timestamp(_EPOCH + timedelta(seconds=seconds))


def spec(
    job_id: str, created_s: float, *, job_type: str = "echo", message: str = "hello"
) -> JobSpec:
    return JobSpec(
        id=job_id,
        type=job_type,
        created_at=ts(created_s),
        correlation_id=f"corr-{job_id[:5]}",
        payload={"message": message},
        metadata={},
    )


def move(job: JobSpec, status: JobStatus, at_s: float, error: str | None = None) -> JobTransition:
    result = {"ok": True} if status is JobStatus.COMPLETED else None
    return JobTransition(job=job, status=status, at=ts(at_s), result=result, error=error)


async def finish(
    store: JobStore, job: JobSpec, status: JobStatus, at_s: float, error: str | None = None
) -> None:
    """Take ``job`` through its lifecycle up to ``status`` (terminal or not)."""
    steps = [JobStatus.VALIDATED, JobStatus.EXECUTING]
    if status is JobStatus.PENDING:
        await store.apply_transitions([move(job, JobStatus.PENDING, at_s)])
        return
    moves = [move(job, step, at_s - 0.5) for step in steps if step.rank <= status.rank]
    if status.is_terminal:
        moves.append(move(job, status, at_s, error=error))
    await store.apply_transitions(moves)


async def seed(store: JobStore) -> None:
    """Eight jobs of two types, created one second apart, in every state."""
    plan: list[tuple[str, str, JobStatus, str | None, str]] = [
        ("a1-0001", "echo", JobStatus.COMPLETED, None, "hello world"),
        ("a2-0002", "echo", JobStatus.FAILED, "Timeout after 30 s", "hello"),
        ("b1-0003", "resize", JobStatus.COMPLETED, None, "cat.png"),
        ("b2-0004", "resize", JobStatus.FAILED, "Image 100%_broken", "dog.png"),
        ("c1-0005", "echo", JobStatus.EXECUTING, None, "hello"),
        ("c2-0006", "resize", JobStatus.PENDING, None, "bird.png"),
        ("d1-0007", "echo", JobStatus.FAILED, "connection TIMEOUT", "Zebra"),
        ("d2-0008", "resize", JobStatus.COMPLETED, None, "fish.png"),
    ]
    for n, (job_id, job_type, status, error, message) in enumerate(plan, start=1):
        job = spec(job_id, n * 10, job_type=job_type, message=message)
        # Finished in the reverse order of creation, so the two sorts differ.
        await finish(store, job, status, 200 - n * 10, error)


async def ids(store: JobStore, **filters: object) -> list[str]:
    page = await store.search_jobs(JobQuery(**filters))  # type: ignore[arg-type]
    assert page.next is None, "a test page should hold every match"
    return [record.id for record in page.items]


async def test_no_filter_lists_every_job_newest_first(job_store: JobStore) -> None:
    await seed(job_store)
    assert await ids(job_store) == [
        "d2-0008",
        "d1-0007",
        "c2-0006",
        "c1-0005",
        "b2-0004",
        "b1-0003",
        "a2-0002",
        "a1-0001",
    ]


async def test_statuses_and_types_filter_any_of_their_values(job_store: JobStore) -> None:
    await seed(job_store)
    assert await ids(job_store, statuses=frozenset({JobStatus.FAILED})) == [
        "d1-0007",
        "b2-0004",
        "a2-0002",
    ]
    both = frozenset({JobStatus.FAILED, JobStatus.PENDING})
    assert await ids(job_store, statuses=both) == ["d1-0007", "c2-0006", "b2-0004", "a2-0002"]
    assert await ids(job_store, types=frozenset({"resize"})) == [
        "d2-0008",
        "c2-0006",
        "b2-0004",
        "b1-0003",
    ]
    assert await ids(job_store, types=frozenset({"resize", "echo"})) == await ids(job_store)
    assert await ids(job_store, types=frozenset({"nope"})) == []
    assert await ids(
        job_store, types=frozenset({"echo"}), statuses=frozenset({JobStatus.FAILED})
    ) == ["d1-0007", "a2-0002"]


async def test_time_ranges_are_half_open(job_store: JobStore) -> None:
    await seed(job_store)
    # Created at 10, 20, ..., 80: [30, 60) holds 30, 40, 50.
    assert await ids(job_store, created_after=ts(30), created_before=ts(60)) == [
        "c1-0005",
        "b2-0004",
        "b1-0003",
    ]
    # Finished at 190 - 10n: the terminal ones (n = 1, 2, 3, 4, 7, 8) at
    # 190, 180, 170, 160, 130, 120. [160, 180) holds 160 and 170; unfinished jobs never match.
    assert await ids(job_store, finished_after=ts(160), finished_before=ts(180)) == [
        "b2-0004",
        "b1-0003",
    ]
    assert await ids(job_store, finished_before=ts(1000)) == [
        "d2-0008",
        "d1-0007",
        "b2-0004",
        "b1-0003",
        "a2-0002",
        "a1-0001",
    ]
    combined = await ids(
        job_store,
        types=frozenset({"resize"}),
        statuses=frozenset({JobStatus.COMPLETED}),
        created_after=ts(20),
        created_before=ts(80),
    )
    assert combined == ["b1-0003"]


async def test_correlation_id_matches_exactly(job_store: JobStore) -> None:
    await seed(job_store)
    assert await ids(job_store, correlation_id="corr-b2-00") == ["b2-0004"]
    assert await ids(job_store, correlation_id="corr-b2") == []


async def test_error_is_a_case_insensitive_substring_with_wildcards_taken_literally(
    job_store: JobStore,
) -> None:
    await seed(job_store)
    assert await ids(job_store, error="timeout") == ["d1-0007", "a2-0002"]
    assert await ids(job_store, error="100%_b") == ["b2-0004"]
    assert await ids(job_store, error="%") == ["b2-0004"]
    assert await ids(job_store, error="_") == ["b2-0004"]
    assert await ids(job_store, error="nothing like it") == []


async def test_q_matches_an_id_prefix_or_payload_text(job_store: JobStore) -> None:
    await seed(job_store)
    assert await ids(job_store, q="b2") == ["b2-0004"]
    # "b": the ids b1 and b2, and the payloads "bird.png" and "Zebra".
    assert await ids(job_store, q="b") == ["d1-0007", "c2-0006", "b2-0004", "b1-0003"]
    assert await ids(job_store, q=".png") == ["d2-0008", "c2-0006", "b2-0004", "b1-0003"]
    assert await ids(job_store, q="zebra") == ["d1-0007"]
    assert await ids(job_store, q="0004") == []  # not a prefix, not in a payload


async def test_sort_orders(job_store: JobStore) -> None:
    await seed(job_store)
    created_asc = await ids(job_store, sort=JobSort(SortKey.CREATED, descending=False))
    assert created_asc == list(reversed(await ids(job_store)))
    finished_desc = await ids(job_store, sort=JobSort(SortKey.FINISHED))
    # Only finished jobs; the first created finished last.
    assert finished_desc == ["a1-0001", "a2-0002", "b1-0003", "b2-0004", "d1-0007", "d2-0008"]
    finished_asc = await ids(job_store, sort=JobSort(SortKey.FINISHED, descending=False))
    assert finished_asc == list(reversed(finished_desc))


async def page_through(
    store: JobStore, query: JobQuery, between: list[list[JobSpec]] | None = None
) -> list[JobRecord]:
    """Every page of ``query``; before page ``n`` (from 1) the jobs ``between[n - 1]`` are
    inserted, as new jobs arrive while a client pages."""
    seen: list[JobRecord] = []
    cursor: JobCursor | None = None
    pages = 0
    while True:
        if between and pages and pages <= len(between):
            for job in between[pages - 1]:
                await finish(store, job, JobStatus.COMPLETED, 500 + pages)
        page = await store.search_jobs(JobQuery(sort=query.sort, limit=query.limit, after=cursor))
        pages += 1
        seen.extend(page.items)
        assert len(page.items) <= query.limit
        if page.next is None:
            return seen
        cursor = page.next
        assert pages < 100


@pytest.mark.parametrize(
    "sort",
    [
        JobSort(SortKey.CREATED),
        JobSort(SortKey.CREATED, descending=False),
        JobSort(SortKey.FINISHED),
    ],
    ids=str,
)
async def test_cursor_pages_list_every_job_once(job_store: JobStore, sort: JobSort) -> None:
    # 13 jobs, several created at the same instant (ties broken by id).
    jobs = [spec(f"job-{n:02d}", n // 3) for n in range(13)]
    for job in jobs:
        await finish(job_store, job, JobStatus.COMPLETED, 100)
    seen = await page_through(job_store, JobQuery(sort=sort, limit=4))
    assert sorted(record.id for record in seen) == sorted(job.id for job in jobs)
    assert [record.id for record in seen] == await ids(job_store, sort=sort, limit=500)


async def test_cursor_is_stable_while_new_jobs_arrive(job_store: JobStore) -> None:
    """Newest first: jobs created after the first page are before it, never on a later
    page; no job is listed twice or skipped."""
    old = [spec(f"old-{n:02d}", n) for n in range(10)]
    for job in old:
        await finish(job_store, job, JobStatus.COMPLETED, 100)
    arriving = [
        [spec(f"new-{page}-{n}", 1000 + page * 10 + n) for n in range(3)] for page in range(3)
    ]
    seen = await page_through(job_store, JobQuery(limit=3), between=arriving)
    listed = [record.id for record in seen]
    assert listed == [job.id for job in reversed(old)]
    assert len(await ids(job_store, limit=500)) == 19


async def test_cursor_ascending_takes_in_the_jobs_that_arrive(job_store: JobStore) -> None:
    """Oldest first: jobs arriving while paging come at the end, each once."""
    old = [spec(f"old-{n:02d}", n) for n in range(6)]
    for job in old:
        await finish(job_store, job, JobStatus.COMPLETED, 100)
    arriving = [
        [spec(f"new-{page}-{n}", 1000 + page * 10 + n) for n in range(2)] for page in range(2)
    ]
    query = JobQuery(sort=JobSort(SortKey.CREATED, descending=False), limit=3)
    seen = [record.id for record in await page_through(job_store, query, between=arriving)]
    expected = [job.id for job in old] + [job.id for batch in arriving for job in batch]
    assert seen == expected


async def test_page_holds_at_most_limit_and_tells_the_next_position(job_store: JobStore) -> None:
    await seed(job_store)
    page = await job_store.search_jobs(JobQuery(limit=3))
    assert [record.id for record in page.items] == ["d2-0008", "d1-0007", "c2-0006"]
    assert page.next == JobCursor(JobSort(), ts(60), "c2-0006")
    last = await job_store.search_jobs(JobQuery(limit=8))
    assert (len(last.items), last.next) == (8, None)
