"""The asynchronous client, :class:`AsyncClient` (documented in :mod:`observatory.client`).

The mirror of :mod:`observatory._sync_client`: the same requests, built by
:class:`~observatory._calls.Calls`, awaited on ``httpx.AsyncClient``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import anyio
import httpx

from observatory._answers import unreachable
from observatory._calls import (
    DEFAULT_GATEWAY_URL,
    DEFAULT_READ_MODEL_URL,
    GATEWAY_URL_ENV,
    READ_MODEL_URL_ENV,
    Call,
    Calls,
    auth_headers,
    resolve_url,
)
from observatory._errors import NotFound
from observatory._results import BatchResult, JobStatus, Rejected, Submitted
from observatory._schedules import AsyncSchedules
from observatory._search import search_params
from observatory._submitting import (
    RATE_LIMIT_RETRIES,
    batch_results,
    chunks,
    jobs_list,
    rate_limited_pause,
)
from observatory._waiting import WaitRounds

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping
    from datetime import datetime, timedelta
    from types import TracebackType
    from typing import Self, Unpack

    from observatory._fleet import QueueStats, WorkerList
    from observatory._results import CancelAccepted, Job, NewJob, RetryAccepted, Stats
    from observatory._search import BulkFilters, JobPage, JobSummary

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(AsyncSchedules):
    """The asynchronous client: the same calls as :class:`Client`, awaited.

    Args:
        gateway_url: where jobs are submitted (default ``$GATEWAY_URL`` or port 3000).
        read_model_url: where jobs are read (default ``$READ_MODEL_URL`` or port 8080).
        token: the API token (default ``$OBSERVATORY_API_TOKEN``; none: send no token).
        timeout_s: how long one request may take (a wait adds its own time to it).

    Resource handling:
        Use it with ``async with``, or call :meth:`aclose`.

    Cancellation:
        A cancelled call leaves nothing behind; a submission cancelled after it was sent
        may or may not have been accepted (send it again with the same ``job_id``).

    Example::

        async with AsyncClient() as client:
            submitted = await client.submit("echo", {"hello": "world"})
            job = await client.wait(submitted.job_id, timeout_s=30)
    """

    def __init__(
        self,
        gateway_url: str | None = None,
        read_model_url: str | None = None,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._calls = Calls(
            resolve_url(gateway_url, GATEWAY_URL_ENV, DEFAULT_GATEWAY_URL),
            resolve_url(read_model_url, READ_MODEL_URL_ENV, DEFAULT_READ_MODEL_URL),
        )
        self.gateway_url = self._calls.gateway_url
        self.read_model_url = self._calls.read_model_url
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(headers=auth_headers(token), timeout=timeout_s)

    def __repr__(self) -> str:
        return f"<AsyncClient gateway={self.gateway_url} read_model={self.read_model_url}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close its connections (idempotent)."""
        await self._http.aclose()

    async def _send(
        self, method: str, url: str, *, extra_s: float = 0.0, **kwargs: object
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                url,
                timeout=self._timeout_s + extra_s,
                **kwargs,  # type: ignore[arg-type]
            )
        except httpx.TransportError as exc:
            raise unreachable(url, exc) from exc

    async def _call(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer."""
        response = await self._send(
            call.method, call.url, extra_s=call.extra_s, params=call.params, json=call.json
        )
        return call.read(response)

    async def submit(
        self,
        type: str,
        payload: Mapping[str, object] | None = None,
        *,
        job_id: str | None = None,
        metadata: Mapping[str, object] | None = None,
        run_at: datetime | timedelta | None = None,
        priority: int | None = None,
    ) -> Submitted:
        """Submit one job; see :meth:`Client.submit`."""
        return await self._call(
            self._calls.submit(type, payload, job_id, metadata, run_at, priority)
        )

    async def submit_many(self, jobs: Iterable[NewJob | Mapping[str, object]]) -> BatchResult:
        """Submit many jobs, 1,000 per request; see :meth:`Client.submit_many`."""
        listed = jobs_list(jobs)
        results: list[Submitted | Rejected] = []
        requests = 0
        for start, chunk in chunks(listed):
            for retry in range(RATE_LIMIT_RETRIES + 1):
                response = await self._call(self._calls.batch(chunk))
                requests += 1
                pause_s = rate_limited_pause(response, retry)
                if pause_s is None:
                    break
                await anyio.sleep(pause_s)
            results += batch_results(response, start, chunk)
        return BatchResult(tuple(results), requests)

    async def _get(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        return await self._call(self._calls.get(job_id, wait_s=wait_s))

    async def get(self, job_id: str) -> Job:
        """The job as it is now; see :meth:`Client.get`."""
        return await self._get(job_id)

    async def wait(self, job_id: str, timeout_s: float = 60.0, *, round: int | None = None) -> Job:
        """The job once it has ended; see :meth:`Client.wait` (same errors)."""
        rounds = WaitRounds(job_id, timeout_s, round)
        while True:
            try:
                job = await self._get(job_id, wait_s=rounds.ask())
                pause_s = rounds.pause_after_job(job)
                if pause_s is None:
                    return job
            except NotFound as exc:
                pause_s = rounds.pause_after_not_found(exc)
            if pause_s > 0:
                await anyio.sleep(pause_s)

    async def cancel(self, job_id: str) -> CancelAccepted:
        """Cancel a job that has not ended; see :meth:`Client.cancel`."""
        return await self._call(self._calls.cancel(job_id))

    async def retry(self, job_id: str) -> RetryAccepted:
        """Run a ``FAILED`` job again; see :meth:`Client.retry`."""
        return await self._call(self._calls.retry(job_id))

    async def cancel_jobs(self, **filters: Unpack[BulkFilters]) -> dict[str, object]:
        """Cancel every waiting or running job matching the filters; see
        :meth:`Client.cancel_jobs`."""
        return await self._call(self._calls.cancel_jobs(filters))

    async def retry_jobs(self, **filters: Unpack[BulkFilters]) -> dict[str, object]:
        """Run every ``FAILED`` job matching the filters again; see
        :meth:`Client.retry_jobs`."""
        return await self._call(self._calls.retry_jobs(filters))

    async def stats(self) -> Stats:
        """The live counters; see :meth:`Client.stats`."""
        return await self._call(self._calls.stats())

    async def workers(self) -> WorkerList:
        """The processors and metrics engines seen lately; see :meth:`Client.workers`."""
        return await self._call(self._calls.workers())

    async def queues(self) -> tuple[QueueStats, ...]:
        """Every queue of the topology; see :meth:`Client.queues`."""
        return await self._call(self._calls.queues())

    async def search_jobs(
        self,
        *,
        status: str | JobStatus | Iterable[str | JobStatus] | None = None,
        type: str | Iterable[str] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        finished_after: datetime | str | None = None,
        finished_before: datetime | str | None = None,
        correlation_id: str | None = None,
        error: str | None = None,
        q: str | None = None,
        priority: int | None = None,
        sort: str = "created",
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of the jobs matching every filter given; see :meth:`Client.search_jobs`."""
        params = search_params(
            status=status,
            type=type,
            created_after=created_after,
            created_before=created_before,
            finished_after=finished_after,
            finished_before=finished_before,
            correlation_id=correlation_id,
            error=error,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
            priority=priority,
        )
        return await self._call(self._calls.search_jobs(params))

    async def iter_jobs(
        self,
        *,
        status: str | JobStatus | Iterable[str | JobStatus] | None = None,
        type: str | Iterable[str] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        finished_after: datetime | str | None = None,
        finished_before: datetime | str | None = None,
        correlation_id: str | None = None,
        error: str | None = None,
        q: str | None = None,
        priority: int | None = None,
        sort: str = "created",
        limit: int = 50,
    ) -> AsyncIterator[JobSummary]:
        """Every job matching the filters, page after page; see :meth:`Client.iter_jobs`."""
        cursor: str | None = None
        while True:
            page = await self.search_jobs(
                status=status,
                type=type,
                created_after=created_after,
                created_before=created_before,
                finished_after=finished_after,
                finished_before=finished_before,
                correlation_id=correlation_id,
                error=error,
                q=q,
                priority=priority,
                sort=sort,
                limit=limit,
                cursor=cursor,
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
