"""``POST /jobs/{id}/retry`` and ``POST /jobs/retry`` on the gateway: run FAILED jobs again.

A retry runs the *same* job id again, from attempt 1 of a new **round**
(:mod:`actors.domain.lifecycle`). The gateway does not change job states (the processor
is their only writer): it reads the job, and publishes it to ``jobs.created`` as a
``job.created`` envelope of round ``n + 1`` (``payload.round``, ``payload.attempt`` 1)
carrying the *retry request* (``payload.retry``: who asked, when, the error that ended
the previous round). Its event id is derived from the job id and the round
(:func:`~actors.domain.events.retry_requested_event_id`), so two requests racing to
retry the same round are one event, run and counted once. The processor that takes it
starts the round in the job store (the job leaves ``FAILED``), tells the retry request
to the audit trail (the job's timeline: the earlier rounds' events, the request, the new
round's events) and runs the job. The counters then count the job as no longer failed
(``failedJobs`` -1) until the new round ends (see :mod:`actors.domain.stats`).

Until a processor takes the message the job still reads ``FAILED``: asking again then
answers 202 with the same round (the same event, run once).

=======  =====================================================================
answer   ``POST /jobs/{id}/retry``
=======  =====================================================================
202      published: ``{"jobId", "round", "eventId", "requestedBy"}``
404      no such job in the job store
409      the job is not ``FAILED``; the body says its ``status``
503      no job store, the store or the broker cannot be reached
=======  =====================================================================

``POST /jobs/retry`` retries every ``FAILED`` job matching a filter (``type``,
``status`` which must be ``FAILED``, ``since``: failed at or after that time), newest
first, at most ``limit`` (default and ceiling :data:`MAX_BULK_RETRY`) in one publish; it
answers ``{"requeued": N, "more": bool}``. ``more`` says that further failed jobs match:
call again once these were taken (they leave ``FAILED`` when a processor starts their
round; until then a second call would publish them again, harmlessly).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from quart import Response, g, jsonify, request

from actors.domain.clock import parse_timestamp, utc_now
from actors.domain.events import MAX_ROUND, Envelope, EventType, retry_requested_event_id
from actors.domain.jobs import JobStatus
from actors.domain.lifecycle import retry_refusal
from actors.errors import ValidationIssue
from actors.observability.logs import JOB_ID
from contracts import SchemaName
from quart_app._common import json_error
from quart_app.openapi import error_response, json_body, json_response, operation, schema_ref

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from quart import Quart

    from actors.broker import OutgoingMessage
    from actors.domain.events import Producer
    from actors.domain.jobs import JobRecord
    from actors.stores import JobStore

__all__ = ["MAX_BULK_RETRY", "install_retry_routes", "requester", "retry_envelope"]

log = logging.getLogger(__name__)

MAX_BULK_RETRY = 1000
"""Most jobs one ``POST /jobs/retry`` requeues (the default of its ``limit``)."""
_PAGE = 200
"""Jobs read from the store per query while a bulk retry gathers its jobs."""
_MAX_SCANNED = 20_000
"""Most FAILED jobs one bulk retry looks at (with ``since`` most may not match): past
it, it answers ``more`` rather than scanning on."""

_RETRIED: dict[str, object] = {
    "type": "object",
    "required": ["jobId", "round", "eventId", "requestedBy"],
    "properties": {
        "jobId": {"type": "string"},
        "round": {"type": "integer", "minimum": 2},
        "eventId": {"type": "string", "format": "uuid"},
        "requestedBy": {"type": "object"},
    },
}
_NOT_FAILED = json_response(
    "The job is not FAILED (only a failed job is retried); `status` says what it is.",
    {
        "allOf": [
            schema_ref(SchemaName.ERROR),
            {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}},
            },
        ]
    },
)
_FILTER: dict[str, object] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "description": "Only jobs of this type."},
        "status": {
            "type": "string",
            "enum": ["FAILED"],
            "description": "Only FAILED jobs are retried (the default).",
        },
        "since": {
            "type": "string",
            "format": "date-time",
            "description": "Only jobs that failed at or after this time.",
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_BULK_RETRY},
    },
}


def requester() -> dict[str, str]:
    """Who sends this request, as the retry request records it: the token's role and a
    short fingerprint of the token (never the token), or ``anonymous`` without tokens."""
    token = getattr(g, "token", None)
    if not isinstance(token, str):
        return {"role": "anonymous"}
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    return {"role": str(getattr(g, "role", "submitter")), "token": f"sha256:{fingerprint}"}


def retry_envelope(
    record: JobRecord, *, producer: Producer, by: dict[str, str], at: str
) -> Envelope:
    """The ``job.created`` envelope that runs the FAILED ``record`` again as its next
    round, from attempt 1, carrying the retry request (who asked, when, and why the
    previous round ended)."""
    round_ = record.round + 1
    spec = record.spec
    payload: dict[str, object] = {
        "id": spec.id,
        "type": spec.type,
        "status": JobStatus.PENDING.value,
        "createdAt": spec.created_at,
        "updatedAt": at,
        "payload": dict(spec.payload),
        "metadata": dict(spec.metadata),
        "attempt": 1,
        "round": round_,
        "retry": {
            "round": round_,
            "requestedAt": at,
            "requestedBy": by,
            "previousError": record.error,
            "previousAttempts": record.attempts,
        },
    }
    return Envelope(
        event_type=EventType.CREATED,
        event_id=retry_requested_event_id(spec.id, round_),
        occurred_at=at,
        producer=producer,
        correlation_id=spec.correlation_id,
        idempotency_key=spec.id,
        payload=payload,
    )


def install_retry_routes(
    app: Quart,
    *,
    jobs: JobStore | None,
    producer: Producer,
    publish: Callable[[list[OutgoingMessage]], Awaitable[str | None]],
    read_json: Callable[[int, str], Awaitable[object | tuple[Response, int]]],
    max_body_bytes: int,
) -> None:
    """Add ``POST /jobs/<job_id>/retry`` and ``POST /jobs/retry`` to the gateway ``app``.

    ``publish`` is the gateway's own publish path (``jobs.created``, waits for the
    broker's confirm, answers why not); ``jobs`` is ``None`` for a gateway built without
    a job store: both routes then answer 503 saying so.
    """

    def no_store() -> tuple[Response, int]:
        return json_error(503, "This gateway has no job store configured, so it cannot retry jobs.")

    @app.post("/jobs/<job_id>/retry")
    @operation(
        "retryJob",
        summary="Run a FAILED job again, from attempt 1 of a new round.",
        description=(
            "Publishes the job (same id) as attempt 1 of its next round, with the retry "
            "request (who asked, when). Its timeline then shows the previous round's "
            "attempts, the request (a `job.created` event with `payload.retry`) and the new "
            "round's attempts; `/stats` counts it as one job with its latest outcome "
            "(`failedJobs` -1 when the round starts). Until a processor takes it the job "
            "still reads FAILED, and asking again answers the same round."
        ),
        tags=["jobs"],
        responses={
            202: json_response("Published; the job runs again shortly.", _RETRIED),
            404: error_response("There is no such job."),
            409: _NOT_FAILED,
            503: error_response("No job store, or the store or the broker is unavailable."),
        },
    )
    async def retry_job(job_id: str) -> tuple[Response, int]:
        JOB_ID.set(job_id)
        if jobs is None:
            return no_store()
        record = await jobs.get_job(job_id)
        if record is None:
            return json_error(404, f"There is no job {job_id!r} in the job store.")
        if retry_refusal(record.status) is not None:
            return jsonify(
                {
                    "error": f"Job {job_id} is {record.status.value}; only a FAILED job can be "
                    "retried.",
                    "status": record.status.value,
                }
            ), 409
        if record.round >= MAX_ROUND:
            return jsonify(
                {
                    "error": f"Job {job_id} ran {record.round} rounds, the most a job may.",
                    "status": record.status.value,
                }
            ), 409
        by = requester()
        envelope = retry_envelope(record, producer=producer, by=by, at=utc_now())
        failure = await publish([envelope.to_message()])
        if failure is not None:
            log.warning("job.retry_publish_failed reason=%s", failure)  # jobId: bound above
            return json_error(
                503,
                f"The broker did not confirm the retry of job {job_id} ({failure}); nothing "
                "was requeued. Ask again.",
            )
        log.info("job.retry_requested round=%d role=%s", record.round + 1, by["role"])
        body = {
            "jobId": job_id,
            "round": record.round + 1,
            "eventId": envelope.event_id,
            "requestedBy": by,
        }
        return jsonify(body), 202

    @app.post("/jobs/retry")
    @operation(
        "retryJobs",
        summary="Run every FAILED job matching a filter again (bulk retry).",
        description=(
            "Retries, as `POST /jobs/{jobId}/retry` does, the FAILED jobs matching the "
            "filter (`type`; `status`, which must be FAILED; `since`: failed at or after "
            f"that time), newest first, at most `limit` (at most {MAX_BULK_RETRY}) in one "
            "publish. `more` says further jobs match: call again once these were taken "
            "(they leave FAILED when a processor starts their round)."
        ),
        tags=["jobs"],
        request_body=json_body(_FILTER, required=False),
        responses={
            200: json_response(
                "How many jobs were requeued.",
                {
                    "type": "object",
                    "required": ["requeued", "more"],
                    "properties": {
                        "requeued": {"type": "integer", "minimum": 0},
                        "more": {"type": "boolean"},
                    },
                },
            ),
            400: error_response("The filter is not valid; `details` say where."),
            413: error_response("The body is too large."),
            415: error_response("Content type is not application/json."),
            503: error_response("No job store, or the store or the broker is unavailable."),
        },
    )
    async def retry_jobs() -> tuple[Response, int]:
        document: object = {}
        if await request.get_data(cache=True):
            read = await read_json(max_body_bytes, "the filter")
            if isinstance(read, tuple):
                return read
            document = read
        parsed = _parse_filter(document)
        if isinstance(parsed, list):
            return json_error(400, "The retry filter is not valid.", parsed)
        job_type, since, limit = parsed
        if jobs is None:
            return no_store()
        records, more = await _failed_jobs(jobs, job_type, since, limit)
        records = [record for record in records if record.round < MAX_ROUND]
        by, at = requester(), utc_now()
        messages = [
            retry_envelope(record, producer=producer, by=by, at=at).to_message()
            for record in records
        ]
        if messages:
            failure = await publish(messages)
            if failure is not None:
                return json_error(
                    503,
                    f"The broker did not confirm the retry of {len(messages)} jobs "
                    f"({failure}); nothing was requeued. Ask again.",
                )
        log.info("jobs.retry_requested count=%d more=%s role=%s", len(messages), more, by["role"])
        return jsonify({"requeued": len(messages), "more": more}), 200


def _parse_filter(
    document: object,
) -> tuple[str | None, datetime | None, int] | list[ValidationIssue]:
    """The bulk retry's filter: (type, since, limit), or the problems found."""
    if not isinstance(document, dict):
        return [ValidationIssue("", "Expected an object: {type?, status?, since?, limit?}.")]
    issues: list[ValidationIssue] = []
    unknown = sorted(set(document) - {"type", "status", "since", "limit"})
    issues.extend(
        ValidationIssue(f"/{name}", "Unknown filter; use type, status, since or limit.")
        for name in unknown
    )
    job_type = document.get("type")
    if job_type is not None and not isinstance(job_type, str):
        issues.append(ValidationIssue("/type", "Expected a string."))
    status = document.get("status", JobStatus.FAILED.value)
    if status != JobStatus.FAILED.value:
        issues.append(ValidationIssue("/status", "Only FAILED jobs can be retried."))
    since: datetime | None = None
    raw_since = document.get("since")
    if raw_since is not None:
        try:
            since = parse_timestamp(str(raw_since)) if isinstance(raw_since, str) else None
        except ValueError:
            since = None
        if since is None:
            issues.append(ValidationIssue("/since", "Expected an ISO 8601 date-time."))
    limit = document.get("limit", MAX_BULK_RETRY)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BULK_RETRY:
        issues.append(ValidationIssue("/limit", f"Expected an integer from 1 to {MAX_BULK_RETRY}."))
        limit = MAX_BULK_RETRY
    if issues:
        return issues
    return (job_type if isinstance(job_type, str) else None), since, limit


async def _failed_jobs(
    jobs: JobStore, job_type: str | None, since: datetime | None, limit: int
) -> tuple[list[JobRecord], bool]:
    """The FAILED jobs matching, newest first, at most ``limit``; and whether more match
    (or may: more than :data:`_MAX_SCANNED` were looked at)."""
    found: list[JobRecord] = []
    offset = 0
    while offset < _MAX_SCANNED:
        page = await jobs.recent_jobs(
            limit=_PAGE, offset=offset, status=JobStatus.FAILED, job_type=job_type
        )
        for record in page:
            failed_at = parse_timestamp(record.finished_at or record.updated_at)
            if since is not None and failed_at < since:
                continue
            if len(found) == limit:
                return found, True
            found.append(record)
        if len(page) < _PAGE:
            return found, False
        offset += _PAGE
    return found, True
