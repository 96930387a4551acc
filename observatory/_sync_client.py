"""The synchronous client, :class:`Client` (documented in :mod:`observatory.client`).

Each method builds its request with :class:`~observatory._calls.Calls` and sends it with
``httpx.Client``; :mod:`observatory._async_client` is the same, awaited.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

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
from observatory._schedules import Schedules
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
    from collections.abc import Iterable, Iterator, Mapping
    from datetime import datetime, timedelta
    from types import TracebackType
    from typing import Self, Unpack

    from observatory._fleet import QueueStats, WorkerList
    from observatory._results import CancelAccepted, Job, NewJob, RetryAccepted, Stats
    from observatory._search import BulkFilters, JobPage, JobSummary

__all__ = ["Client"]

T = TypeVar("T")


class Client(Schedules):
    """A synchronous client of one observatory.

    Args:
        gateway_url: where jobs are submitted (default ``$GATEWAY_URL`` or port 3000).
        read_model_url: where jobs are read (default ``$READ_MODEL_URL`` or port 8080).
        token: the API token (default ``$OBSERVATORY_API_TOKEN``; none: send no token).
        timeout_s: how long one request may take (a wait adds its own time to it).

    Resource handling:
        It holds a connection pool: use it as a context manager, or call :meth:`close`.

    Example::

        with Client("http://127.0.0.1:3000", "http://127.0.0.1:8080") as client:
            job = client.wait(client.submit("sleep", {"seconds": 1}).job_id, timeout_s=10)
            assert job.status is JobStatus.COMPLETED
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
        self._http = httpx.Client(headers=auth_headers(token), timeout=timeout_s)

    def __repr__(self) -> str:
        return f"<Client gateway={self.gateway_url} read_model={self.read_model_url}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close its connections (idempotent)."""
        self._http.close()

    def _send(
        self, method: str, url: str, *, extra_s: float = 0.0, **kwargs: object
    ) -> httpx.Response:
        try:
            return self._http.request(
                method,
                url,
                timeout=self._timeout_s + extra_s,
                **kwargs,  # type: ignore[arg-type]
            )
        except httpx.TransportError as exc:
            raise unreachable(url, exc) from exc

    def _call(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer."""
        response = self._send(
            call.method, call.url, extra_s=call.extra_s, params=call.params, json=call.json
        )
        return call.read(response)

    def submit(
        self,
        type: str,
        payload: Mapping[str, object] | None = None,
        *,
        job_id: str | None = None,
        metadata: Mapping[str, object] | None = None,
        run_at: datetime | timedelta | None = None,
        priority: int | None = None,
    ) -> Submitted:
        """Submit one job; it returns once the broker confirmed it (a delayed job: once
        the job store keeps it).

        Args:
            type: the job type, e.g. ``"echo"``.
            payload: what its handler gets (``{}`` when ``None``).
            job_id: a UUID to submit it under (a fresh one when ``None``).
            metadata: e.g. ``{"maxAttempts": 5}``.
            run_at: delay the job, at most 30 days: an aware ``datetime`` runs it at that
                time (``runAt``), a ``timedelta`` that long after submission
                (``delaySeconds``). It waits ``PENDING`` with ``scheduled_for`` until
                then and can be cancelled meanwhile. ``None``: at once.
            priority: 0 (lowest) to 9 (highest): of the jobs waiting to start, the higher
                run first (arrival order within one). ``None`` sends none: the
                observatory takes 5. :attr:`Job.priority` shows it afterwards.

        Returns:
            The job's id and the id of its ``job.created`` event.

        Raises:
            JobRejected: the job does not pass validation (``paths`` names the fields).
            RateLimited: too many jobs from this client; retry after ``retry_after_s``.
            Unauthorized, Forbidden: the token is missing, not valid or only a viewer's.
            ServerUnavailable: the gateway or its broker cannot take it now; resend it.

        Example::

            submitted = client.submit("sleep", {"seconds": 2}, metadata={"maxAttempts": 1})
            later = client.submit("echo", run_at=timedelta(minutes=10))
            urgent = client.submit("echo", {"message": "now"}, priority=9)

        Raises ``ValueError`` for a ``run_at`` without a timezone or a wait not above 0,
        and for a ``priority`` that is not an integer from 0 to 9 (nothing is sent then).
        """
        return self._call(self._calls.submit(type, payload, job_id, metadata, run_at, priority))

    def submit_many(self, jobs: Iterable[NewJob | Mapping[str, object]]) -> BatchResult:
        """Submit many jobs, 1,000 per request (``POST /jobs/batch``).

        One refused job does not stop the others: its :class:`Rejected` is in the result.
        A request the gateway rate-limits (429) is sent again after its ``Retry-After``,
        up to 5 times.

        Args:
            jobs: :class:`NewJob` s, or mappings as ``POST /jobs`` takes them.

        Returns:
            One :class:`Submitted` or :class:`Rejected` per job, in order.

        Raises:
            ValueError: ``jobs`` is empty.
            ApiError: a whole request was refused (e.g. still :class:`RateLimited`) or failed
                (:class:`ServerUnavailable`). The requests before it were accepted; as
                every job carries its id, calling again with the same jobs is safe.

        Example::

            result = client.submit_many(NewJob("echo", {"n": n}) for n in range(2500))
            assert result.requests == 3 and not result.rejected
        """
        listed = jobs_list(jobs)
        results: list[Submitted | Rejected] = []
        requests = 0
        for start, chunk in chunks(listed):
            for retry in range(RATE_LIMIT_RETRIES + 1):
                response = self._call(self._calls.batch(chunk))
                requests += 1
                pause_s = rate_limited_pause(response, retry)
                if pause_s is None:
                    break
                time.sleep(pause_s)
            results += batch_results(response, start, chunk)
        return BatchResult(tuple(results), requests)

    def _get(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        return self._call(self._calls.get(job_id, wait_s=wait_s))

    def get(self, job_id: str) -> Job:
        """The job as it is now, with its events.

        Raises:
            NotFound: the read model does not know it (yet: a job just accepted appears
                once a processor takes it).
        """
        return self._get(job_id)

    def wait(self, job_id: str, timeout_s: float = 60.0, *, round: int | None = None) -> Job:
        """The job once it has ended (``COMPLETED`` or ``FAILED``).

        The read model answers as soon as the job ends (``GET /jobs/{id}?wait=``); a
        timeout over 60 s takes one request per minute. A job the read model does not
        know yet (accepted, not yet taken by a processor) is asked for again, after
        50 ms and then twice as long each time, up to 1 s.

        Args:
            job_id: the job.
            timeout_s: how long to wait at most, in seconds.
            round: wait for the end of this round (``retry(...).round``): a retried job
                reads ``FAILED`` from its previous round until a processor takes the retry.

        Returns:
            The ended job; check ``status`` (a ``FAILED`` job is returned, not raised).

        Raises:
            WaitTimedOut: it had not ended in time; ``.job`` is how it was last seen.
            NotFound: the read model still did not know the job when the time was up.
        """
        rounds = WaitRounds(job_id, timeout_s, round)
        while True:
            try:
                job = self._get(job_id, wait_s=rounds.ask())
                pause_s = rounds.pause_after_job(job)
                if pause_s is None:
                    return job
            except NotFound as exc:
                pause_s = rounds.pause_after_not_found(exc)
            if pause_s > 0:
                time.sleep(pause_s)

    def cancel(self, job_id: str) -> CancelAccepted:
        """Cancel a job that has not ended: it ends ``FAILED`` with error ``cancelled``.

        Raises:
            NotFound: there is no such job.
            Conflict: it has ended already (``job_status`` says how).
        """
        return self._call(self._calls.cancel(job_id))

    def retry(self, job_id: str) -> RetryAccepted:
        """Run a ``FAILED`` job again under the same id, from attempt 1 of a new round.

        Raises:
            NotFound: there is no such job.
            Conflict: the job is not ``FAILED``.
        """
        return self._call(self._calls.retry(job_id))

    def cancel_jobs(self, **filters: Unpack[BulkFilters]) -> dict[str, object]:
        """Cancel every waiting or running job (``PENDING``, ``VALIDATED``, ``EXECUTING``)
        matching the search filters (``POST /jobs/cancel``; the arguments of
        :meth:`search_jobs`, and ``limit``, at most 10,000).

        Returns:
            The answer: ``matched``, ``actedOn``, ``skipped``, ``more`` (further jobs
            match past ``limit``), ``filter`` (as understood) and ``auditEventId`` (the
            ``jobs.bulk-action`` event recording the action). With ``dry_run=True``
            nothing is done: ``matched`` and ``more`` say what the action would take.

        Raises:
            BadRequest: a filter is unknown or malformed (``details`` names it).

        Example::

            client.cancel_jobs(status="PENDING", type="resize", dry_run=True)["matched"]
            client.cancel_jobs(status="PENDING", type="resize")
        """
        return self._call(self._calls.cancel_jobs(filters))

    def retry_jobs(self, **filters: Unpack[BulkFilters]) -> dict[str, object]:
        """Run every ``FAILED`` job matching the search filters again (``POST /jobs/retry``;
        the arguments of :meth:`search_jobs`, and ``limit``), each as :meth:`retry` does.

        Returns:
            The answer: ``matched``, ``actedOn``, ``skipped``, ``more``, ``filter`` and
            ``auditEventId``; with ``dry_run=True`` only the counts, nothing retried.

        Raises:
            BadRequest: a filter is unknown or malformed, or ``status`` is not ``FAILED``.
        """
        return self._call(self._calls.retry_jobs(filters))

    def stats(self) -> Stats:
        """The live counters: totals, in flight, per type."""
        return self._call(self._calls.stats())

    def workers(self) -> WorkerList:
        """The processors and metrics engines seen in the last hour (``GET /workers``).

        Returns:
            The alive ones first, then the gone or stopped ones, each with its host,
            pid, job types, in-flight jobs and done/failed counts.

        Raises:
            ServerUnavailable: the read model, or the store its heartbeats go to, is away.

        Example::

            for worker in client.workers().workers:
                print(worker.id, worker.status, worker.in_flight_count)
        """
        return self._call(self._calls.workers())

    def queues(self) -> tuple[QueueStats, ...]:
        """Every queue of the broker's topology, retry and dead-letter queues included
        (``GET /queues``): depth, ready, unacked, consumers and rates.

        Returns:
            One :class:`QueueStats` per queue; a figure the broker does not give (RabbitMQ
            without its management API: unacked and the rates; the rates the read model
            computes: on its first call) is ``None``.

        Raises:
            ServerUnavailable: the read model, or its broker, cannot be asked now.

        Example::

            created = {q.name: q for q in client.queues()}["jobs.created"]
            print(created.ready, created.consumers)
        """
        return self._call(self._calls.queues())

    def search_jobs(
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
        """One page of the jobs matching every filter given (``GET /jobs``).

        Args:
            status: one status or several (any of them matches).
            type: one job type or several.
            created_after: created at or after (a datetime, naive taken as UTC, or RFC 3339).
            created_before: created before (exclusive).
            finished_after: ended at or after; jobs that did not end never match.
            finished_before: ended before (exclusive).
            correlation_id: submitted with this correlation id.
            error: the last error contains this text (case-insensitive).
            q: the job id starts with this text, or the payload's JSON contains it.
            priority: submitted with this priority, 0 to 9 (5: submitted without one).
            sort: ``created`` or ``finished``, newest first unless ``:asc`` is added.
            limit: jobs per page, 1 to 500.
            cursor: the previous page's ``next_cursor`` (with the same filters).

        Returns:
            The page; its ``next_cursor`` is ``None`` on the last one. Jobs arriving
            between pages never make a job appear twice or be skipped.

        Raises:
            BadRequest: a filter is malformed (``details`` names the parameter).

        Example::

            page = client.search_jobs(status="FAILED", type="resize", error="timeout")
            for job in page.items:
                print(job.id, job.error)
        """
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
        return self._call(self._calls.search_jobs(params))

    def iter_jobs(
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
    ) -> Iterator[JobSummary]:
        """Every job matching the filters, page after page (``limit`` per request); the
        arguments are those of :meth:`search_jobs`.

        Example::

            failed_today = list(client.iter_jobs(status="FAILED", created_after=midnight))
        """
        cursor: str | None = None
        while True:
            page = self.search_jobs(
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
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
