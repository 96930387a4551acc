"""``DELETE /jobs/{id}`` on the gateway: ask for a waiting job to be cancelled.

The gateway does not change job states (the processor is their only writer): it marks
the job in the job store (:meth:`~actors.stores.JobStore.request_cancel`), which from
then on never lets it be validated or started, and the processor ends it ``FAILED``
with error ``cancelled`` (one ``job.failed`` event, counted once) when its next delivery
arrives: at once for a job waiting in the queue, after the backoff for one waiting for a
retry.

=======  =====================================================================
answer   when
=======  =====================================================================
202      the job waits (``PENDING``, also between attempts, or ``VALIDATED``);
         ``{"jobId", "status", "cancelRequestedAt"}``; asking again answers the
         same
404      no such job in the job store: the processor stores a job when it takes it
         from the queue, so a job still queued behind others is not known yet
409      the job is ``EXECUTING`` (an attempt runs; ask again once it ended) or
         already ``COMPLETED`` / ``FAILED``; the body says its ``status``
503      the job store cannot be reached
=======  =====================================================================
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from quart import Response, jsonify

from actors.observability.logs import JOB_ID
from contracts import SchemaName
from quart_app._common import json_error
from quart_app.openapi import error_response, json_response, operation, schema_ref

if TYPE_CHECKING:
    from quart import Quart

    from actors.stores import JobStore

__all__ = ["install_cancel_route"]

log = logging.getLogger(__name__)


def install_cancel_route(app: Quart, jobs: JobStore | None) -> None:
    """Add ``DELETE /jobs/<job_id>`` to the gateway ``app``, backed by ``jobs``.

    ``jobs`` is ``None`` for a gateway built without a job store: the route then answers
    503 saying so.
    """

    @app.delete("/jobs/<job_id>")
    @operation(
        "cancelJob",
        summary="Cancel a job that waits for its first attempt or for a retry.",
        description=(
            "Marks the job for cancelling; the processor then ends it `FAILED` with error "
            "`cancelled` (one `job.failed` event, whose payload has `reason: cancelled`) "
            "instead of validating or running it: at once for a job waiting in the queue, "
            "after its backoff for one waiting for a retry. Asking again answers the same "
            "202. A job whose attempt is running (`EXECUTING`) or that has ended cannot be "
            "cancelled."
        ),
        tags=["jobs"],
        responses={
            202: json_response(
                "The cancel is accepted; the job ends FAILED (cancelled) shortly.",
                {
                    "type": "object",
                    "required": ["jobId", "status", "cancelRequestedAt"],
                    "properties": {
                        "jobId": {"type": "string"},
                        "status": {"type": "string", "enum": ["PENDING", "VALIDATED"]},
                        "cancelRequestedAt": {"type": "string", "format": "date-time"},
                    },
                },
            ),
            404: error_response(
                "There is no such job (a job just accepted may take a moment to appear)."
            ),
            409: json_response(
                "The job is EXECUTING, COMPLETED or FAILED; `status` says which.",
                {
                    "allOf": [
                        schema_ref(SchemaName.ERROR),
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {
                                    "type": "string",
                                    "enum": ["EXECUTING", "COMPLETED", "FAILED"],
                                }
                            },
                        },
                    ]
                },
            ),
            503: error_response("The job store cannot be reached; nothing was marked."),
        },
    )
    async def cancel_job(job_id: str) -> tuple[Response, int]:
        JOB_ID.set(job_id)
        if jobs is None:
            return json_error(
                503, "This gateway has no job store configured, so it cannot cancel jobs."
            )
        record = await jobs.request_cancel(job_id)
        if record is None:
            return json_error(
                404,
                f"There is no job {job_id!r} in the job store: it does not exist, or it was "
                "accepted so recently that no processor has taken it yet (ask again shortly).",
            )
        if record.status.is_terminal or record.cancel_requested_at is None:
            if record.status.is_terminal:
                message = f"Job {job_id} is already {record.status.value}; it cannot be cancelled."
            else:
                message = (
                    f"Job {job_id} is {record.status.value} (attempt {record.attempts}) and "
                    "cannot be cancelled while an attempt runs; a job is cancelled while it "
                    "waits, for its first attempt or for a retry."
                )
            return jsonify({"error": message, "status": record.status.value}), 409
        log.info("job.cancel_requested job_id=%s status=%s", job_id, record.status.value)
        return jsonify(
            {
                "jobId": job_id,
                "status": record.status.value,
                "cancelRequestedAt": record.cancel_requested_at,
            }
        ), 202
