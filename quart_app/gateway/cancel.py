"""``DELETE /jobs/{id}`` on the gateway: cancel a job, queued, waiting or running.

The gateway does not change job states (the processor is their only writer): it keeps a
cancel request in the job store (:meth:`~actors.stores.JobStore.request_cancel`: who,
when; the first one when asked again), and the processor ends the job ``FAILED`` with
error ``cancelled`` (one ``job.failed`` event whose payload has ``reason: cancelled``,
``cancelRequestedAt`` and ``cancelRequestedBy``; counted once, as a failed job):

* a job still **queued** (accepted, not yet taken by a processor, so not in the job
  store) when a processor takes it, without running it;
* a job **waiting** (``PENDING`` between attempts, ``VALIDATED``) when its next delivery
  arrives: at once, or after its backoff;
* a **delayed** job (``runAt``, ``delaySeconds``) waiting for its time: the store makes it
  due at once, so the processor's scheduler publishes it within 0.2 s and the processor
  ends it without running it (:mod:`actors.processor.scheduler`);
* a **running** job (``EXECUTING``) within about 0.3 s: the processor's cancel watcher
  (:mod:`actors.processor.cancel_watcher`) finds the request and cancels the handler (an
  async one at its next ``await``; a sync one's thread is abandoned and its result
  discarded). A handler that returns before that completes the job.

=======  =====================================================================
answer   when
=======  =====================================================================
202      the job has not ended (or is not stored yet: queued); ``{"jobId",
         "status", "cancelRequestedAt", "cancelRequestedBy"}`` (``status``
         ``PENDING`` for a queued job); asking again answers the same
404      the id is not a UUID (every job id is), so no job can have it
409      the job is already ``COMPLETED`` / ``FAILED``; the body says its ``status``
503      the job store cannot be reached
=======  =====================================================================

A request for an id no job was ever submitted with is kept too (the gateway cannot tell
it from a job still queued): a job later submitted with that id is cancelled.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from quart import Response, g, jsonify, request

from actors.domain.jobs import JobStatus
from actors.observability.logs import JOB_ID
from contracts import SchemaName
from quart_app._common import json_error
from quart_app.auth import client_key
from quart_app.openapi import error_response, json_response, operation, schema_ref

if TYPE_CHECKING:
    from quart import Quart

    from actors.stores import JobStore

__all__ = ["install_cancel_route"]

log = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
"""A job id as the submission contract has it (``format: uuid``)."""


def install_cancel_route(app: Quart, jobs: JobStore | None) -> None:
    """Add ``DELETE /jobs/<job_id>`` to the gateway ``app``, backed by ``jobs``.

    ``jobs`` is ``None`` for a gateway built without a job store: the route then answers
    503 saying so.
    """

    @app.delete("/jobs/<job_id>")
    @operation(
        "cancelJob",
        summary="Cancel a job that has not ended: queued, waiting for a retry, or running.",
        description=(
            "Keeps a cancel request (who, when); the processor then ends the job `FAILED` "
            "with error `cancelled` (one `job.failed` event whose payload has "
            "`reason: cancelled`, `cancelRequestedAt` and `cancelRequestedBy`; counted as a "
            "failed job). A job still queued (not yet taken by a processor), waiting for "
            "a retry, or delayed and waiting for its time (`scheduledFor`; it ends at once) "
            "never runs again; a running job's handler is cancelled within about a "
            "second (an async handler at its next await; a sync handler's thread is "
            "abandoned and its result discarded), unless it returns first. Asking again "
            "answers the same 202. A job that has ended cannot be cancelled (409)."
        ),
        tags=["jobs"],
        responses={
            202: json_response(
                "The cancel is accepted; the job ends FAILED (cancelled) shortly.",
                {
                    "type": "object",
                    "required": ["jobId", "status", "cancelRequestedAt", "cancelRequestedBy"],
                    "properties": {
                        "jobId": {"type": "string"},
                        "status": {
                            "type": "string",
                            "enum": ["PENDING", "VALIDATED", "EXECUTING"],
                            "description": "PENDING also for a job still queued.",
                        },
                        "cancelRequestedAt": {"type": "string", "format": "date-time"},
                        "cancelRequestedBy": {"type": "string"},
                    },
                },
            ),
            404: error_response("The id is not a UUID, so no job has it."),
            409: json_response(
                "The job is COMPLETED or FAILED; `status` says which.",
                {
                    "allOf": [
                        schema_ref(SchemaName.ERROR),
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"type": "string", "enum": ["COMPLETED", "FAILED"]}
                            },
                        },
                    ]
                },
            ),
            503: error_response("The job store cannot be reached; nothing was kept."),
        },
    )
    async def cancel_job(job_id: str) -> tuple[Response, int]:
        JOB_ID.set(job_id)
        if _UUID.match(job_id) is None:
            return json_error(
                404, f"There is no job {job_id!r}: job ids are UUIDs, and this is not one."
            )
        if jobs is None:
            return json_error(
                503, "This gateway has no job store configured, so it cannot cancel jobs."
            )
        who = client_key(getattr(g, "token", None), request.remote_addr)
        answer = await jobs.request_cancel(job_id, requested_by=who)
        if answer.request is None:
            status = answer.status.value if answer.status is not None else "ended"
            return jsonify(
                {
                    "error": f"Job {job_id} is already {status}; it cannot be cancelled.",
                    "status": status,
                }
            ), 409
        status = (answer.status or JobStatus.PENDING).value
        log.info(
            "job.cancel_requested status=%s queued=%s requested_by=%s",  # jobId: bound above
            status,
            answer.status is None,
            answer.request.requested_by,
        )
        return jsonify(
            {
                "jobId": job_id,
                "status": status,
                "cancelRequestedAt": answer.request.requested_at,
                "cancelRequestedBy": answer.request.requested_by,
            }
        ), 202
