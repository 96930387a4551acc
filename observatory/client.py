"""Submit jobs and follow them from Python: :class:`Client` (sync) and :class:`AsyncClient`.

Both speak to a running observatory over HTTP (httpx): jobs go to the gateway, reads go
to the read model. Where they are, and the token, come from the arguments or else from
the environment the other tools read too:

==========================  =========================  ===========================
argument                    environment                default
==========================  =========================  ===========================
``gateway_url``             ``GATEWAY_URL``            ``http://127.0.0.1:3000``
``read_model_url``          ``READ_MODEL_URL``         ``http://127.0.0.1:8080``
``token``                   ``OBSERVATORY_API_TOKEN``  none (sent as a Bearer token)
==========================  =========================  ===========================

Example::

    from observatory import Client

    with Client() as client:
        submitted = client.submit("echo", {"hello": "world"})
        job = client.wait(submitted.job_id, timeout_s=30)
        print(job.status, job.result)

and the same with ``async with AsyncClient() as client:`` and ``await``. Failures are
exceptions from :mod:`observatory._errors` (``ApiError`` and below), carrying the
server's message and the paths of the fields it refused.

Ids: a job submitted without ``job_id`` gets a fresh UUID *here*, before it is sent, so
a submission that ended in :class:`~observatory.ServerUnavailable` can be sent again
as is: the observatory never runs one id twice.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from typing import TYPE_CHECKING

import anyio
import httpx

from observatory._errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    JobRejected,
    NotFound,
    RateLimited,
    RequestRefused,
    ServerUnavailable,
    Unauthorized,
    WaitTimedOut,
    issues_of,
)
from observatory._results import (
    AttemptFailure,
    BatchResult,
    CancelAccepted,
    Job,
    JobStatus,
    NewJob,
    Rejected,
    RetryAccepted,
    Stats,
    Submitted,
    TypeCounts,
    text_field,
)
from observatory._schedules import AsyncSchedules, Schedules
from observatory._search import BulkFilters, JobPage, JobSummary, bulk_body, search_params

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
    from datetime import datetime
    from types import TracebackType
    from typing import Self, Unpack

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_READ_MODEL_URL",
    "MAX_BATCH_JOBS",
    "AsyncClient",
    "AttemptFailure",
    "BatchResult",
    "CancelAccepted",
    "Client",
    "Job",
    "JobPage",
    "JobStatus",
    "JobSummary",
    "NewJob",
    "Rejected",
    "RetryAccepted",
    "Stats",
    "Submitted",
    "TypeCounts",
]

DEFAULT_GATEWAY_URL = "http://127.0.0.1:3000"
"""Where ``observatory up`` runs the gateway by default."""
DEFAULT_READ_MODEL_URL = "http://127.0.0.1:8080"
"""Where ``observatory up`` runs the read model by default."""
GATEWAY_URL_ENV = "GATEWAY_URL"
READ_MODEL_URL_ENV = "READ_MODEL_URL"
TOKEN_ENV = "OBSERVATORY_API_TOKEN"
MAX_BATCH_JOBS = 1_000
"""The most jobs the gateway takes in one ``POST /jobs/batch``; more are split."""
MAX_WAIT_PER_REQUEST_S = 60.0
"""The longest ``?wait=`` the read model allows; longer waits take several requests."""
_MIN_ROUND_S = 0.25
"""A wait round that came back sooner than this (a server without ``?wait=``) is paced."""
RATE_LIMIT_RETRIES = 5
"""How many times :meth:`Client.submit_many` resends a batch the gateway rate-limited."""
_FIRST_UNKNOWN_PAUSE_S = 0.05
_MAX_UNKNOWN_PAUSE_S = 1.0
"""Pauses before asking again for a job the read model does not know yet."""

_REFUSALS: dict[int, type[RequestRefused]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: BadRequest,
    415: BadRequest,
}


# -- what both clients share -------------------------------------------------------------


def _url(given: str | None, env: str, default: str) -> str:
    return (given or os.environ.get(env) or default).rstrip("/")


def _headers(token: str | None) -> dict[str, str]:
    token = token or os.environ.get(TOKEN_ENV) or None
    return {"Authorization": f"Bearer {token}"} if token else {}


def _submission(
    job_type: str,
    payload: Mapping[str, object] | None,
    job_id: str | None,
    metadata: Mapping[str, object] | None,
) -> dict[str, object]:
    """The ``POST /jobs`` body, with a client-side id so a resend is safe."""
    body: dict[str, object] = {
        "type": job_type,
        "id": job_id or str(uuid.uuid4()),
        "payload": {} if payload is None else payload,
    }
    if metadata is not None:
        body["metadata"] = metadata
    return body


def _as_new_job(job: NewJob | Mapping[str, object]) -> dict[str, object]:
    if isinstance(job, NewJob):
        return _submission(job.type, job.payload, job.job_id, job.metadata)
    body = dict(job)
    body.setdefault("id", str(uuid.uuid4()))
    return body


def _chunks(jobs: Sequence[dict[str, object]]) -> Iterator[tuple[int, list[dict[str, object]]]]:
    for start in range(0, len(jobs), MAX_BATCH_JOBS):
        yield start, list(jobs[start : start + MAX_BATCH_JOBS])


def _body(response: httpx.Response) -> dict[str, object]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _error(response: httpx.Response, *, job: bool = False) -> ApiError:
    """The exception for an answer that is not a success."""
    body = _body(response)
    status = response.status_code
    message = body.get("error")
    if not isinstance(message, str) or not message:
        message = (
            f"{response.request.method} {response.request.url} answered {status} "
            f"{response.reason_phrase}."
        )
    details = issues_of(body)
    if status == 429:
        try:
            retry_after_s = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            retry_after_s = 1.0
        return RateLimited(message, retry_after_s=retry_after_s, details=details, body=body)
    if job and status == 400:
        return JobRejected(message, status=status, details=details, body=body)
    if status in _REFUSALS:
        return _REFUSALS[status](message, status=status, details=details, body=body)
    if 400 <= status < 500:
        return RequestRefused(message, status=status, details=details, body=body)
    return ServerUnavailable(message, status=status, details=details, body=body)


def _checked(response: httpx.Response, *, job: bool = False) -> dict[str, object]:
    """The JSON body of a 2xx answer; the matching :class:`ApiError` otherwise."""
    if not response.is_success:
        raise _error(response, job=job)
    return _body(response)


def _unreachable(url: str, exc: httpx.TransportError) -> ServerUnavailable:
    return ServerUnavailable(
        f"Cannot reach {url} ({type(exc).__name__}: {exc or 'no answer'}); is the "
        "observatory running there? Set GATEWAY_URL / READ_MODEL_URL to point elsewhere."
    )


def _submitted(body: Mapping[str, object]) -> Submitted:
    return Submitted(str(body["jobId"]), str(body.get("eventId", "")))


def _batch_results(
    response: httpx.Response, start: int, sent: list[dict[str, object]]
) -> list[Submitted | Rejected]:
    """The per-job results of one ``POST /jobs/batch`` answer (202, or 400 with results)."""
    body = _body(response)
    results = body.get("results")
    if response.status_code not in (202, 400) or not isinstance(results, list):
        raise _error(response)
    found: list[Submitted | Rejected] = []
    for offset, (result, job) in enumerate(zip(results, sent, strict=True)):
        if isinstance(result, dict) and "jobId" in result:
            found.append(_submitted(result))
        else:
            error = result.get("error") if isinstance(result, dict) else None
            found.append(
                Rejected(start + offset, str(job.get("id")), str(error), issues_of(result))
            )
    return found


def _rate_limited_pause(response: httpx.Response, retry: int) -> float | None:
    """After a batch request: how long to wait before resending it, ``None``: don't.

    A 429 is waited out (its ``Retry-After``) up to :data:`RATE_LIMIT_RETRIES` times;
    anything else, or a 429 after the last retry, is left to :func:`_batch_results`.
    """
    if response.status_code != 429 or retry >= RATE_LIMIT_RETRIES:
        return None
    error = _error(response)
    assert isinstance(error, RateLimited)
    return error.retry_after_s


def _wait_params(remaining_s: float) -> tuple[float, dict[str, str]]:
    wait_s = min(MAX_WAIT_PER_REQUEST_S, max(0.0, remaining_s))
    return wait_s, {"wait": f"{math.floor(wait_s * 1000) / 1000:g}"}


def _timed_out(job_id: str, timeout_s: float, job: Job | None) -> WaitTimedOut:
    state = "unknown to the read model" if job is None else job.status.value
    return WaitTimedOut(f"Job {job_id} did not end within {timeout_s:g} s; it is {state}.", job=job)


def _check_timeout(timeout_s: float) -> None:
    if not timeout_s >= 0 or math.isinf(timeout_s):
        raise ValueError(f"timeout_s must be a finite number of seconds >= 0, got {timeout_s!r}.")


def _jobs_list(jobs: Iterable[NewJob | Mapping[str, object]]) -> list[dict[str, object]]:
    listed = [_as_new_job(job) for job in jobs]
    if not listed:
        raise ValueError("submit_many needs at least one job.")
    return listed


class _WaitRounds:
    """The rounds of one :meth:`Client.wait`: what each asks, and the pause after it.

    A round asks the read model to wait for the rest of the time (60 s at most). A job
    it does not know yet (accepted, not yet taken by a processor) is asked for again
    after 50 ms, then twice as long each time up to 1 s; a round that came back early
    without the job ending (a read model without ``?wait=``) is followed by 0.25 s.
    """

    def __init__(self, job_id: str, timeout_s: float, job_round: int | None = None) -> None:
        _check_timeout(timeout_s)
        self.job_id = job_id
        self.job_round = job_round
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.asked = self.deadline
        self.last: Job | None = None
        self._unknown_pause_s = _FIRST_UNKNOWN_PAUSE_S

    def ask(self) -> float:
        """Start a round: how long the read model may wait in it."""
        self.asked = time.monotonic()
        return max(0.0, self.deadline - self.asked)

    def pause_after_job(self, job: Job) -> float | None:
        """After an answer: ``None`` when the job has ended, else the pause before the next.

        Raises:
            WaitTimedOut: the time is up.
        """
        self.last = job
        if job.is_terminal and (self.job_round is None or job.round >= self.job_round):
            return None
        if job.is_terminal:  # the retry is queued but not yet taken: the old round's end
            return self._pause(self._next_unknown_pause_s())
        return self._pause(_MIN_ROUND_S if time.monotonic() - self.asked < _MIN_ROUND_S else 0.0)

    def pause_after_not_found(self, error: NotFound) -> float:
        """After a 404: the pause before asking again.

        Raises:
            NotFound: ``error``, when the time is up.
        """
        if time.monotonic() >= self.deadline:
            raise error
        return self._pause(self._next_unknown_pause_s())

    def _next_unknown_pause_s(self) -> float:
        pause_s = self._unknown_pause_s
        self._unknown_pause_s = min(2 * pause_s, _MAX_UNKNOWN_PAUSE_S)
        return pause_s

    def _pause(self, pause_s: float) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(self.job_id, self.timeout_s, self.last)
        return min(pause_s, left)


def _retry_accepted(job_id: str, body: Mapping[str, object]) -> RetryAccepted:
    new_round = body.get("round")
    return RetryAccepted(
        str(body.get("jobId", job_id)), new_round if isinstance(new_round, int) else 2, body
    )


# -- the clients -------------------------------------------------------------------------


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
        self.gateway_url = _url(gateway_url, GATEWAY_URL_ENV, DEFAULT_GATEWAY_URL)
        self.read_model_url = _url(read_model_url, READ_MODEL_URL_ENV, DEFAULT_READ_MODEL_URL)
        self._timeout_s = timeout_s
        self._http = httpx.Client(headers=_headers(token), timeout=timeout_s)

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
            raise _unreachable(url, exc) from exc

    def submit(
        self,
        type: str,
        payload: Mapping[str, object] | None = None,
        *,
        job_id: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> Submitted:
        """Submit one job; it returns once the broker confirmed it.

        Args:
            type: the job type, e.g. ``"echo"``.
            payload: what its handler gets (``{}`` when ``None``).
            job_id: a UUID to submit it under (a fresh one when ``None``).
            metadata: e.g. ``{"maxAttempts": 5}``.

        Returns:
            The job's id and the id of its ``job.created`` event.

        Raises:
            JobRejected: the job does not pass validation (``paths`` names the fields).
            RateLimited: too many jobs from this client; retry after ``retry_after_s``.
            Unauthorized, Forbidden: the token is missing, not valid or only a viewer's.
            ServerUnavailable: the gateway or its broker cannot take it now; resend it.

        Example::

            submitted = client.submit("sleep", {"seconds": 2}, metadata={"maxAttempts": 1})
        """
        body = _submission(type, payload, job_id, metadata)
        response = self._send("POST", f"{self.gateway_url}/jobs", json=body)
        return _submitted(_checked(response, job=True))

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
        listed = _jobs_list(jobs)
        results: list[Submitted | Rejected] = []
        requests = 0
        for start, chunk in _chunks(listed):
            for retry in range(RATE_LIMIT_RETRIES + 1):
                response = self._send("POST", f"{self.gateway_url}/jobs/batch", json=chunk)
                requests += 1
                pause_s = _rate_limited_pause(response, retry)
                if pause_s is None:
                    break
                time.sleep(pause_s)
            results += _batch_results(response, start, chunk)
        return BatchResult(tuple(results), requests)

    def _get(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        params = _wait_params(wait_s)[1] if wait_s > 0 else {}
        response = self._send(
            "GET", f"{self.read_model_url}/jobs/{job_id}", params=params, extra_s=wait_s
        )
        return Job.from_json(_checked(response))

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
        rounds = _WaitRounds(job_id, timeout_s, round)
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
        response = self._send("DELETE", f"{self.gateway_url}/jobs/{job_id}")
        body = _checked(response)
        return CancelAccepted(str(body.get("jobId", job_id)), text_field(body, "status"), body)

    def retry(self, job_id: str) -> RetryAccepted:
        """Run a ``FAILED`` job again under the same id, from attempt 1 of a new round.

        Raises:
            NotFound: there is no such job.
            Conflict: the job is not ``FAILED``.
        """
        response = self._send("POST", f"{self.gateway_url}/jobs/{job_id}/retry")
        return _retry_accepted(job_id, _checked(response))

    def cancel_jobs(self, **filters: Unpack[BulkFilters]) -> dict[str, object]:
        """Cancel every waiting or running job (``PENDING``, ``VALIDATED``, ``EXECUTING``)
        matching the search filters (``POST /jobs/cancel``; the arguments of
        :meth:`search_jobs`, and ``limit``, at most 10,000).

        Returns:
            The answer: ``matched``, ``actedOn``, ``skipped``, ``more`` (further jobs
            match past ``limit``) and ``filter`` (as understood).

        Raises:
            BadRequest: a filter is unknown or malformed (``details`` names it).

        Example::

            client.cancel_jobs(status="PENDING", type="resize")
        """
        response = self._send("POST", f"{self.gateway_url}/jobs/cancel", json=bulk_body(filters))
        return _checked(response)

    def retry_jobs(self, **filters: Unpack[BulkFilters]) -> dict[str, object]:
        """Run every ``FAILED`` job matching the search filters again (``POST /jobs/retry``;
        the arguments of :meth:`search_jobs`, and ``limit``), each as :meth:`retry` does.

        Returns:
            The answer: ``matched``, ``actedOn``, ``skipped``, ``more`` and ``filter``.

        Raises:
            BadRequest: a filter is unknown or malformed, or ``status`` is not ``FAILED``.
        """
        response = self._send("POST", f"{self.gateway_url}/jobs/retry", json=bulk_body(filters))
        return _checked(response)

    def stats(self) -> Stats:
        """The live counters: totals, in flight, per type."""
        return Stats.from_json(_checked(self._send("GET", f"{self.read_model_url}/stats")))

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
        )
        response = self._send("GET", f"{self.read_model_url}/jobs", params=params)
        return JobPage.from_json(_checked(response))

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
                sort=sort,
                limit=limit,
                cursor=cursor,
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


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
        self.gateway_url = _url(gateway_url, GATEWAY_URL_ENV, DEFAULT_GATEWAY_URL)
        self.read_model_url = _url(read_model_url, READ_MODEL_URL_ENV, DEFAULT_READ_MODEL_URL)
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(headers=_headers(token), timeout=timeout_s)

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
            raise _unreachable(url, exc) from exc

    async def submit(
        self,
        type: str,
        payload: Mapping[str, object] | None = None,
        *,
        job_id: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> Submitted:
        """Submit one job; see :meth:`Client.submit`."""
        body = _submission(type, payload, job_id, metadata)
        response = await self._send("POST", f"{self.gateway_url}/jobs", json=body)
        return _submitted(_checked(response, job=True))

    async def submit_many(self, jobs: Iterable[NewJob | Mapping[str, object]]) -> BatchResult:
        """Submit many jobs, 1,000 per request; see :meth:`Client.submit_many`."""
        listed = _jobs_list(jobs)
        results: list[Submitted | Rejected] = []
        requests = 0
        for start, chunk in _chunks(listed):
            for retry in range(RATE_LIMIT_RETRIES + 1):
                response = await self._send("POST", f"{self.gateway_url}/jobs/batch", json=chunk)
                requests += 1
                pause_s = _rate_limited_pause(response, retry)
                if pause_s is None:
                    break
                await anyio.sleep(pause_s)
            results += _batch_results(response, start, chunk)
        return BatchResult(tuple(results), requests)

    async def _get(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        params = _wait_params(wait_s)[1] if wait_s > 0 else {}
        response = await self._send(
            "GET", f"{self.read_model_url}/jobs/{job_id}", params=params, extra_s=wait_s
        )
        return Job.from_json(_checked(response))

    async def get(self, job_id: str) -> Job:
        """The job as it is now; see :meth:`Client.get`."""
        return await self._get(job_id)

    async def wait(self, job_id: str, timeout_s: float = 60.0, *, round: int | None = None) -> Job:
        """The job once it has ended; see :meth:`Client.wait` (same errors)."""
        rounds = _WaitRounds(job_id, timeout_s, round)
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
        body = _checked(await self._send("DELETE", f"{self.gateway_url}/jobs/{job_id}"))
        return CancelAccepted(str(body.get("jobId", job_id)), text_field(body, "status"), body)

    async def retry(self, job_id: str) -> RetryAccepted:
        """Run a ``FAILED`` job again; see :meth:`Client.retry`."""
        body = _checked(await self._send("POST", f"{self.gateway_url}/jobs/{job_id}/retry"))
        return _retry_accepted(job_id, body)

    async def stats(self) -> Stats:
        """The live counters; see :meth:`Client.stats`."""
        return Stats.from_json(_checked(await self._send("GET", f"{self.read_model_url}/stats")))

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
        )
        response = await self._send("GET", f"{self.read_model_url}/jobs", params=params)
        return JobPage.from_json(_checked(response))

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
                sort=sort,
                limit=limit,
                cursor=cursor,
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
