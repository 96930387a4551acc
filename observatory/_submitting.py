"""Submitting jobs: the bodies sent (each with a client-side id) and the answers read.

Shared by both clients; :meth:`~observatory.Client.submit_many` sends the chunks of
:func:`chunks` and reads each answer with :func:`batch_results`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from observatory._answers import body_of, error_of
from observatory._errors import RateLimited, issues_of
from observatory._results import NewJob, Rejected, Submitted, priority_fields, schedule_fields

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from datetime import datetime, timedelta

    import httpx

__all__ = [
    "MAX_BATCH_JOBS",
    "RATE_LIMIT_RETRIES",
    "as_new_job",
    "batch_results",
    "chunks",
    "jobs_list",
    "rate_limited_pause",
    "submission",
    "submitted",
]

MAX_BATCH_JOBS = 1_000
"""The most jobs the gateway takes in one ``POST /jobs/batch``; more are split."""
RATE_LIMIT_RETRIES = 5
"""How many times :meth:`Client.submit_many` resends a batch the gateway rate-limited."""


def submission(
    job_type: str,
    payload: Mapping[str, object] | None,
    job_id: str | None,
    metadata: Mapping[str, object] | None,
    run_at: datetime | timedelta | None = None,
    priority: int | None = None,
) -> dict[str, object]:
    """The ``POST /jobs`` body, with a client-side id so a resend is safe (``run_at``:
    its ``runAt`` or ``delaySeconds``, :func:`~observatory._results.schedule_fields`;
    ``priority``: 0 to 9, none sent when ``None``).

    Raises:
        ValueError: a bad ``run_at`` or a ``priority`` that is not an integer from 0 to 9.
    """
    body: dict[str, object] = {
        "type": job_type,
        "id": job_id or str(uuid.uuid4()),
        "payload": {} if payload is None else payload,
        **schedule_fields(run_at),
        **priority_fields(priority),
    }
    if metadata is not None:
        body["metadata"] = metadata
    return body


def as_new_job(job: NewJob | Mapping[str, object]) -> dict[str, object]:
    """One job of a batch as sent, given an id when it has none."""
    if isinstance(job, NewJob):
        return submission(job.type, job.payload, job.job_id, job.metadata, job.run_at, job.priority)
    body = dict(job)
    body.setdefault("id", str(uuid.uuid4()))
    if "priority" in body:
        # Checked as a NewJob's is, so a bad one fails before anything is sent.
        priority_fields(body["priority"])
    return body


def jobs_list(jobs: Iterable[NewJob | Mapping[str, object]]) -> list[dict[str, object]]:
    """Every job of a ``submit_many`` as sent.

    Raises:
        ValueError: there is none.
    """
    listed = [as_new_job(job) for job in jobs]
    if not listed:
        raise ValueError("submit_many needs at least one job.")
    return listed


def chunks(jobs: Sequence[dict[str, object]]) -> Iterator[tuple[int, list[dict[str, object]]]]:
    """The batches to send: (index of the first job, its jobs), 1,000 at most each."""
    for start in range(0, len(jobs), MAX_BATCH_JOBS):
        yield start, list(jobs[start : start + MAX_BATCH_JOBS])


def submitted(body: Mapping[str, object]) -> Submitted:
    """A job accepted, from its part of the gateway's answer."""
    return Submitted(str(body["jobId"]), str(body.get("eventId", "")))


def batch_results(
    response: httpx.Response, start: int, sent: list[dict[str, object]]
) -> list[Submitted | Rejected]:
    """The per-job results of one ``POST /jobs/batch`` answer (202, or 400 with results)."""
    body = body_of(response)
    results = body.get("results")
    if response.status_code not in (202, 400) or not isinstance(results, list):
        raise error_of(response)
    found: list[Submitted | Rejected] = []
    for offset, (result, job) in enumerate(zip(results, sent, strict=True)):
        if isinstance(result, dict) and "jobId" in result:
            found.append(submitted(result))
        else:
            error = result.get("error") if isinstance(result, dict) else None
            found.append(
                Rejected(start + offset, str(job.get("id")), str(error), issues_of(result))
            )
    return found


def rate_limited_pause(response: httpx.Response, retry: int) -> float | None:
    """After a batch request: how long to wait before resending it, ``None``: don't.

    A 429 is waited out (its ``Retry-After``) up to :data:`RATE_LIMIT_RETRIES` times;
    anything else, or a 429 after the last retry, is left to :func:`batch_results`.
    """
    if response.status_code != 429 or retry >= RATE_LIMIT_RETRIES:
        return None
    error = error_of(response)
    assert isinstance(error, RateLimited)
    return error.retry_after_s
