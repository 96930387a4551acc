"""``POST /jobs/{id}/retry`` on the gateway: run a FAILED job again.

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

``POST /jobs/retry`` (the bulk retry, by the search filters) lives in
:mod:`quart_app.gateway.bulk`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from quart import Response, g, jsonify

from actors.domain.clock import utc_now
from actors.domain.events import MAX_ROUND, Envelope, EventType, retry_requested_event_id
from actors.domain.jobs import JobStatus
from actors.domain.lifecycle import retry_refusal
from actors.observability.logs import JOB_ID
from contracts import SchemaName
from quart_app._common import json_error
from quart_app.openapi import error_response, json_response, operation, schema_ref

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart import Quart

    from actors.broker import OutgoingMessage
    from actors.domain.events import Producer
    from actors.domain.jobs import JobRecord
    from actors.stores import JobStore

__all__ = ["install_retry_routes", "requester", "retry_envelope"]

log = logging.getLogger(__name__)

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
    """Add ``POST /jobs/<job_id>/retry`` to the gateway ``app``.

    ``publish`` is the gateway's own publish path (``jobs.created``, waits for the
    broker's confirm, answers why not); ``jobs`` is ``None`` for a gateway built without
    a job store: the route then answers 503 saying so.
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
