"""The gateway's HTTP face: ``POST /jobs`` validates, publishes, and answers 202.

A job is answered ``202 {"jobId", "eventId"}`` only after the broker confirmed its
``job.created`` envelope; bad input gets a 4xx with every problem and nothing is
published.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from quart import Quart, Response, g, jsonify, request

from actors.broker.names import JOBS_CREATED
from actors.domain.clock import utc_now, wall_clock
from actors.domain.events import Envelope, Producer
from actors.domain.handlers import no_handler_error
from actors.domain.jobs import JobStatus
from actors.domain.scheduling import scheduled_for, strip_schedule
from actors.domain.submissions import ClaimOutcome
from actors.errors import InvalidMessage, ValidationIssue
from actors.observability import tracing
from actors.observability.logs import JOB_ID
from actors.pipeline.packing import pack_envelopes
from contracts import SchemaName, depth_issue, dump_json, get_contracts, parse_json
from quart_app._common import CORRELATION_PARAMETER, install_common, json_error
from quart_app.auth import TokenBucket, client_key, retry_after, secure
from quart_app.gateway.audit import BulkAudit
from quart_app.gateway.bulk import install_bulk_routes
from quart_app.gateway.cancel import install_cancel_route
from quart_app.gateway.delayed import Scheduling, schedule_issues
from quart_app.gateway.proxy import ProxyConfig, install_proxy_routes
from quart_app.gateway.requeue import install_dead_letter_routes
from quart_app.gateway.retry import install_retry_routes
from quart_app.gateway.scheduler import Submitter, publish_jobs
from quart_app.gateway.schedules import install_schedule_routes
from quart_app.gateway.submissions import (
    IDEMPOTENCY_PARAMETER,
    Desk,
    LedgerUnavailable,
    conflict,
    idempotency_responses,
    republished,
)
from quart_app.gateway.tracing import install_request_spans
from quart_app.openapi import (
    error_response,
    install_docs,
    json_body,
    json_response,
    operation,
    schema_ref,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from actors.broker import OutgoingMessage
    from actors.config.settings import Settings
    from actors.domain.clock import Clock
    from actors.domain.handlers import HandlerRegistry
    from actors.domain.scheduling import ScheduledJob
    from actors.kernel import Actor, ActorHealth
    from actors.observability.prometheus import GatewayMetrics
    from actors.pipeline.ledger import Ledger
    from actors.pipeline.publisher import PublishRequest
    from actors.stores import DeadLetterStore, JobStore, ScheduleStore

__all__ = ["GatewayDeps", "create_gateway_app"]

log = logging.getLogger(__name__)

SERVICE = "gateway"

_BATCH_RESULT: dict[str, object] = {
    "type": "object",
    "required": ["accepted", "rejected", "results"],
    "properties": {
        "accepted": {"type": "integer", "minimum": 0},
        "rejected": {"type": "integer", "minimum": 0},
        "results": {
            "type": "array",
            "items": {"oneOf": [schema_ref(SchemaName.JOB_ACCEPTED), schema_ref(SchemaName.ERROR)]},
        },
    },
}
"""The body of ``POST /jobs/batch``: one result per job, in order."""
_UNSUPPORTED = error_response("Content type is not application/json.")
_UNCONFIRMED = error_response("The broker did not confirm in time; nothing was accepted.")


@dataclass(frozen=True, slots=True)
class GatewayDeps:
    """What the gateway app needs from its service tree."""

    publisher: Actor[PublishRequest]
    ledger: Ledger
    """Claims job ids and idempotency keys in the job store
    (:mod:`quart_app.gateway.submissions`)."""
    metrics: GatewayMetrics
    registry: CollectorRegistry
    health: Callable[[], list[ActorHealth]]
    ready: Callable[[], bool]
    dead_letters: DeadLetterStore | None = None
    """Where refused jobs are kept, for requeueing (none: requeue answers 409)."""
    jobs: JobStore | None = None
    """Where ``DELETE /jobs/{id}`` marks jobs for cancelling (:mod:`quart_app.gateway.cancel`)."""
    confirmer: Ledger | None = None
    """Writes the confirms of published claims beside ``ledger``'s claims (none: ``ledger``)."""
    handlers: HandlerRegistry | None = None
    """The processors' handlers, when the gateway knows them (``up``, ``serve gateway
    --app``): a job of another type, or whose payload breaks its type's schema, is
    refused with 400. ``None``: every type is accepted."""
    proxy: ProxyConfig | None = None
    """Where ``/proxy/alerts`` and ``/proxy/targets`` get their answers (none: from the
    environment, :meth:`ProxyConfig.from_env`)."""
    schedules: ScheduleStore | None = None
    """Where recurring schedules are kept (:mod:`quart_app.gateway.schedules`; none: the
    schedule routes answer 503)."""
    submitter: Submitter | None = None
    """Submits the jobs of ``POST /schedules/{id}/run`` (the scheduler's; none: one of the
    app's own on the same ledger and publisher)."""
    clock: Clock = wall_clock
    """The time ``Idempotency-Key`` claims go by, and so when their answers expire."""


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def build_job(submission: dict[str, object], now: str) -> dict[str, object]:
    """The job to publish: the submission with its id, ``PENDING`` status and timestamps.

    A full job keeps its extra fields (the contract allows them); its status is reset to
    ``PENDING`` because a submission is, by definition, not yet run. ``runAt`` or
    ``delaySeconds`` become ``scheduledFor`` (:mod:`actors.domain.scheduling`).
    """
    job = strip_schedule(submission, scheduled_for(submission, now)[0])
    # A round is started by POST /jobs/{id}/retry only, never by a submission.
    job.pop("round", None)
    job.pop("retry", None)
    job["id"] = str(submission.get("id") or uuid.uuid4())
    job["status"] = JobStatus.PENDING.value
    job.setdefault("createdAt", now)
    job["updatedAt"] = now
    job.setdefault("payload", {})
    job.setdefault("metadata", {})
    return job


def create_gateway_app(settings: Settings, deps: GatewayDeps) -> Quart:
    """Build the gateway's Quart app (no module-level state)."""
    app = Quart(SERVICE)
    # Each route checks its own limit; this is the ceiling Quart enforces while reading.
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, settings.max_batch_body_bytes)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    body_timeout_s = float(app.config["BODY_TIMEOUT"])
    contracts = get_contracts()
    producer = Producer(SERVICE, f"{SERVICE}-{settings.instance_id}", settings.version)
    metrics = deps.metrics
    desk = Desk(
        deps.ledger,
        timeout_s=settings.publish_timeout_s,
        confirmer=deps.confirmer,
        clock=deps.clock,
    )
    scheduling = Scheduling(deps.jobs)
    install_common(
        app,
        service=SERVICE,
        version=settings.version,
        registry=deps.registry,
        health=deps.health,
        ready=deps.ready,
        handler_types=None if deps.handlers is None else deps.handlers.types,
    )

    def reject(
        status: int, message: str, details: list[ValidationIssue] | None = None
    ) -> tuple[Response, int]:
        metrics.rejected.labels(str(status)).inc()
        response, code = json_error(status, message, details or [])
        if status == 413:
            # The client may still be sending the body we refused to read: end the
            # connection so it is not reused with the unread bytes in front.
            response.headers["Connection"] = "close"
        return response, code

    async def read_json(limit_bytes: int, what: str) -> object | tuple[Response, int]:
        """The request's JSON document, or the 4xx response saying why there is none."""
        if not _is_json(request.content_type):
            return reject(
                415,
                f"Content type {request.content_type or 'none'!r} is not supported; "
                f"send {what} as application/json.",
            )
        length = request.content_length
        if length is not None and length > limit_bytes:
            return reject(413, f"The body is {length} bytes; at most {limit_bytes} are accepted.")
        # The body awaited under a cancel scope rather than Quart's get_data(), whose
        # asyncio.wait_for makes a task per request on Python 3.11: the same timeout (408).
        with anyio.move_on_after(body_timeout_s) as reading:
            body = bytes(await request.body)
        if reading.cancelled_caught:
            return reject(408, f"The body did not arrive within {body_timeout_s:g} s.")
        if len(body) > limit_bytes:
            return reject(413, f"The body is over {limit_bytes} bytes; send {what} smaller.")
        try:
            document = parse_json(body)
        except InvalidMessage as exc:
            return reject(400, str(exc), exc.issues)
        # A document cannot nest deeper than it has brackets: most need no walk at all.
        deepest = settings.max_json_depth + 1
        if body.count(b"[") + body.count(b"{") > deepest and (
            too_deep := depth_issue(document, deepest)
        ):
            return reject(400, f"The body is nested too deeply: {too_deep.message}", [too_deep])
        return document

    bucket = (
        TokenBucket(settings.rate_limit_per_s, settings.rate_limit_burst)
        if settings.rate_limit_per_s > 0
        else None
    )

    def over_limit(jobs: int) -> tuple[Response, int] | None:
        """429 with ``Retry-After`` when this client submitted too much too fast."""
        if bucket is None:
            return None
        client = client_key(getattr(g, "token", None), request.remote_addr)
        wait_s = bucket.take(client, jobs)
        if wait_s <= 0:
            return None
        if math.isinf(wait_s):
            wait_s = settings.rate_limit_burst / settings.rate_limit_per_s
            message = (
                f"{jobs} jobs at once are more than this client may send in one go "
                f"({settings.rate_limit_burst:g}); split the batch."
            )
        else:
            message = (
                f"Too many jobs from this client: at most {settings.rate_limit_per_s:g} a "
                f"second (bursts of {settings.rate_limit_burst:g}); retry in {wait_s:.1f} s."
            )
        response, status = reject(429, message)
        response.headers["Retry-After"] = retry_after(wait_s)
        return response, status

    def check(submission: object) -> list[ValidationIssue]:
        """Count the submission by type and return its contract violations."""
        job_type = submission.get("type") if isinstance(submission, dict) else None
        label = metrics.job_type(job_type) if isinstance(job_type, str) and job_type else "invalid"
        metrics.submitted.labels(label).inc()
        return contracts.issues(SchemaName.JOB_SUBMISSION, submission)

    def refuse_type(submission: dict[str, object]) -> tuple[str, list[ValidationIssue]] | None:
        """Why the handlers refuse this valid submission (unknown type, payload off its
        schema), as (error, details); ``None`` when they take it or are not known."""
        if deps.handlers is None:
            return None
        job_type = str(submission["type"])
        registered = deps.handlers.find(job_type)
        if registered is None:
            if settings.simulate_unknown_types:
                return None
            known = ", ".join(deps.handlers.types())
            return no_handler_error(job_type), [
                ValidationIssue(
                    "/type",
                    f"No handler for type {job_type!r} is loaded; load the app declaring it "
                    f"(--app) or use one of: {known}.",
                )
            ]
        issues = registered.payload_issues(submission.get("payload", {}))
        if issues:
            return (
                f"The payload does not match the payload schema of type {job_type!r}: "
                f"{len(issues)} problem(s).",
                issues,
            )
        return None

    def prepare(submission: dict[str, object], now: str) -> tuple[Envelope, OutgoingMessage]:
        """The job's ``job.created`` envelope and the message carrying it."""
        job = build_job(submission, now)
        if tracing.enabled() and (traceparent := tracing.current_traceparent()) is not None:
            # The job's trace: its processing spans are children of this request's.
            metadata = job["metadata"]
            assert isinstance(metadata, dict)
            job["metadata"] = {**metadata, tracing.TRACEPARENT: traceparent}
        correlation_id: str = g.correlation_id
        envelope = Envelope.job_created(
            job, producer=producer, correlation_id=correlation_id, at=now
        )
        return envelope, envelope.to_message()

    async def publish(
        messages: list[OutgoingMessage],
        *,
        jobs: bool = True,
        queue: str = JOBS_CREATED,
        packable: bool = False,
    ) -> str | None:
        """Publish to ``queue`` and wait for the broker's confirm; the reason when it did
        not confirm.

        ``jobs``: the messages are accepted jobs (counted); a probe or an audit event is not.
        ``packable``: each message is one envelope, which the publisher may pack with
        other requests' (:attr:`PublishRequest.packable`).
        """
        started = time.perf_counter()
        failure = await publish_jobs(
            deps.publisher,
            messages,
            ready=deps.ready,
            timeout_s=settings.publish_timeout_s,
            queue=queue,
            packable=packable,
        )
        if failure is not None:
            return failure
        metrics.publish_seconds.observe(time.perf_counter() - started)
        if jobs:
            metrics.accepted.inc(len(messages))
        return None

    @app.post("/jobs")
    @operation(
        "submitJob",
        summary="Submit a job.",
        description=(
            "Validates the submission (a full job, or the short form "
            "`{type, payload?, id?, metadata?}`), fills a missing id, status `PENDING` and "
            "`createdAt`, publishes a `job.created` envelope to `jobs.created`, and answers "
            "202 once the broker confirmed it. A resubmitted id is never run twice: the same "
            "job (type, payload and metadata) is answered 202 as the first time, with the "
            "original `eventId`, and nothing is published; another job under that id is "
            "refused with 409, naming the fields that differ. Send `X-Correlation-Id` to "
            "correlate; it is echoed back and travels with the job as it is. A job with "
            "`runAt` (RFC 3339) or `delaySeconds` (above 0, at most 2592000: 30 days; not "
            "both) is *delayed*: answered 202 once the job store keeps it, it waits "
            "`PENDING` with `scheduledFor` (shown by `GET /jobs/{id}` and the search of the "
            "read model) until then, can be cancelled meanwhile (`DELETE /jobs/{id}`: it "
            "then never runs), and is queued when due (within a second). A `runAt` in the "
            "past runs it at once. `priority` (0 to 9, default 5) orders the jobs that wait: "
            "the higher start first, in arrival order within one priority (`jobs.created` "
            "is a priority queue)."
        ),
        tags=["jobs"],
        parameters=[CORRELATION_PARAMETER, IDEMPOTENCY_PARAMETER],
        request_body=json_body(schema_ref(SchemaName.JOB_SUBMISSION)),
        responses={
            202: json_response(
                "Accepted and queued; or the same job submitted again under its id, answered "
                "as the first time (its original `eventId`) and not queued again.",
                schema_ref(SchemaName.JOB_ACCEPTED),
            ),
            **idempotency_responses(),
            400: error_response(
                "Not JSON, or not a valid submission, or a malformed `Idempotency-Key` or "
                "`X-Correlation-Id`, or both `runAt` and `delaySeconds`, or a start more than "
                "30 days ahead, or a `priority` outside 0 to 9; `details` lists every problem. "
                "Where "
                "the gateway knows the handlers (`observatory up`, `serve gateway --app`), "
                "also a type no handler serves (`no handler for type 'X'`, at `/type`) or a "
                "payload breaking its type's `payload_schema` (each problem at its "
                "`/payload/...` path)."
            ),
            413: error_response(f"Body larger than {settings.max_body_bytes} bytes."),
            415: _UNSUPPORTED,
            503: error_response(
                "The broker did not confirm in time (or, for a delayed job, the job store "
                "did not keep it); nothing was accepted."
            ),
        },
        rate_limited=True,
    )
    async def submit_job() -> tuple[Response, int]:
        if (limited := over_limit(1)) is not None:
            return limited
        submission = await read_json(settings.max_body_bytes, "the job")
        if isinstance(submission, tuple):
            return submission
        return await desk.idempotent("/jobs", submission, lambda: submit_one(submission))

    async def submit_one(submission: object) -> tuple[Response, int]:
        issues = check(submission)
        if issues:
            return reject(
                400,
                f"The job does not match the job-submission contract: {len(issues)} problem(s).",
                issues,
            )
        assert isinstance(submission, dict)
        if (refused := refuse_type(submission)) is not None:
            return reject(400, *refused)
        now = utc_now()
        if issues := schedule_issues(submission, now):
            return reject(400, f"The job's schedule is not valid: {issues[0].message}", issues)
        envelope, _ = prepare(submission, now)
        JOB_ID.set(envelope.job_id)
        try:
            [claim] = await desk.claim([envelope], minted=[not submission.get("id")])
        except LedgerUnavailable as exc:
            return reject(
                503,
                f"Job {envelope.job_id} could not be claimed in the job store ({exc}); nothing "
                "was accepted. Retry with the same id.",
            )
        if claim.outcome is ClaimOutcome.CONFLICT:
            return reject(409, *conflict(claim))
        accepted = jsonify({"jobId": envelope.job_id, "eventId": claim.event_id}), 202
        if claim.outcome is ClaimOutcome.DUPLICATE:
            log.info("job.resubmitted event_id=%s", claim.event_id)  # jobId: bound above
            return accepted
        envelope = republished(envelope, claim)
        if (delayed := scheduling.delayed(envelope, now)) is not None:
            failure = await scheduling.keep([delayed])
            if failure is None:
                metrics.accepted.inc()
        else:
            failure = await publish([envelope.to_message()], packable=True)
        if failure is not None:
            await desk.release([claim])
            log.warning("job.publish_failed reason=%s", failure)  # jobId: bound above
            return reject(
                503,
                f"The {'job store did not keep' if delayed else 'broker did not confirm'} job "
                f"{envelope.job_id} ({failure}); nothing was accepted. Retry with the same "
                "id: resubmitting an id never runs a job twice.",
            )
        await desk.confirm([claim])
        log.info("job.accepted type=%s", envelope.job_type)  # jobId: bound above
        return accepted

    @app.post("/jobs/batch")
    @operation(
        "submitJobBatch",
        summary="Submit up to a batch limit of jobs in one request.",
        description=(
            "Each element is validated as `POST /jobs` validates a job; the valid ones are "
            "published together with pipelined confirms. One bad job does not reject the "
            "others: `results` has one entry per job, in order, either `{jobId, eventId}` or "
            "`{error, details}`. 202 when at least one job was accepted, 400 when none was. "
            "Where the gateway knows the handlers, a job of a type no handler serves or with "
            "a payload off its type's schema is refused in its entry, as `POST /jobs` does. "
            "A job id submitted before is answered in its entry as `POST /jobs` answers it: "
            "the same job with its original `eventId` (not queued again), another job under "
            "that id with an error naming the fields that differ (nothing published for it). "
            "A job with `runAt` or `delaySeconds` is delayed as with `POST /jobs` (kept in "
            "the job store until its time; a bad schedule is refused in its entry). Each "
            "job may carry its own `priority` (0 to 9, default 5)."
        ),
        tags=["jobs"],
        parameters=[CORRELATION_PARAMETER, IDEMPOTENCY_PARAMETER],
        request_body=json_body(
            {
                "type": "array",
                "minItems": 1,
                "maxItems": settings.max_batch_jobs,
                "items": schema_ref(SchemaName.JOB_SUBMISSION),
            }
        ),
        responses={
            202: json_response("At least one job was accepted.", _BATCH_RESULT),
            **idempotency_responses(),
            400: json_response(
                "Not a non-empty JSON array, or no job in it was accepted (each entry says why).",
                {"oneOf": [_BATCH_RESULT, schema_ref(SchemaName.ERROR)]},
            ),
            413: error_response(
                f"More than {settings.max_batch_jobs} jobs, or a body over "
                f"{settings.max_batch_body_bytes} bytes."
            ),
            415: _UNSUPPORTED,
            503: _UNCONFIRMED,
        },
        rate_limited=True,
    )
    async def submit_batch() -> tuple[Response, int]:
        document = await read_json(settings.max_batch_body_bytes, "the jobs")
        if isinstance(document, tuple):
            return document
        return await desk.idempotent("/jobs/batch", document, lambda: submit_many(document))

    async def submit_many(document: object) -> tuple[Response, int]:
        if not isinstance(document, list) or not document:
            return reject(
                400,
                "A batch is a non-empty JSON array of jobs, each as POST /jobs accepts.",
                [ValidationIssue("", "Expected a non-empty array.")],
            )
        if len(document) > settings.max_batch_jobs:
            return reject(
                413,
                f"The batch holds {len(document)} jobs; at most {settings.max_batch_jobs} "
                "are accepted per request.",
            )
        if (limited := over_limit(len(document))) is not None:
            return limited
        now = utc_now()
        results: list[dict[str, object]] = []
        # (position in the answer, whether the gateway made the id up, envelope)
        envelopes: list[tuple[int, bool, Envelope]] = []
        for submission in document:
            issues = check(submission)
            size = len(dump_json(submission))  # UTF-8 bytes, as POST /jobs counts them
            if size > settings.max_body_bytes:
                issues = [
                    ValidationIssue(
                        "",
                        f"The job is {size} bytes; at most {settings.max_body_bytes} are "
                        "accepted per job.",
                    )
                ]
            if issues:
                results.append(
                    {
                        "error": "The job does not match the job-submission contract: "
                        f"{len(issues)} problem(s).",
                        "details": [issue.to_json() for issue in issues],
                    }
                )
                continue
            assert isinstance(submission, dict)
            if (refused := refuse_type(submission)) is not None:
                error, details = refused
                results.append({"error": error, "details": [d.to_json() for d in details]})
                continue
            if issues := schedule_issues(submission, now):
                results.append(
                    {
                        "error": f"The job's schedule is not valid: {issues[0].message}",
                        "details": [issue.to_json() for issue in issues],
                    }
                )
                continue
            envelope, _ = prepare(submission, now)
            envelopes.append((len(results), not submission.get("id"), envelope))
            results.append({"jobId": envelope.job_id, "eventId": envelope.event_id})
        try:
            claims = (
                await desk.claim(
                    [envelope for _, _, envelope in envelopes],
                    minted=[made_up for _, made_up, _ in envelopes],
                )
                if envelopes
                else []
            )
        except LedgerUnavailable as exc:
            return reject(
                503,
                f"The batch's job ids could not be claimed in the job store ({exc}); nothing "
                "was accepted. Retry it whole with the same ids.",
            )
        messages: list[OutgoingMessage] = []
        delayed: list[ScheduledJob] = []
        published = []
        event_ids: set[str] = set()
        for (position, _, envelope), claim in zip(envelopes, claims, strict=True):
            if claim.outcome is ClaimOutcome.CONFLICT:
                error, details = conflict(claim)
                results[position] = {"error": error, "details": [d.to_json() for d in details]}
                continue
            results[position]["eventId"] = claim.event_id
            if claim.outcome is ClaimOutcome.DUPLICATE:
                continue
            published.append(claim)
            if claim.event_id not in event_ids:  # the same job twice in the batch: once
                event_ids.add(claim.event_id)
                envelope = republished(envelope, claim)
                if (waiting := scheduling.delayed(envelope, now)) is not None:
                    delayed.append(waiting)
                else:
                    messages.append(envelope.to_message())
        accepted = sum(1 for result in results if "jobId" in result)
        if (failure := await scheduling.keep(delayed)) is not None:
            await desk.release(published)
            return reject(
                503,
                f"The job store did not keep the batch's {len(delayed)} delayed jobs "
                f"({failure}); retry it whole with the same ids: a resubmitted id never "
                "runs twice.",
            )
        metrics.accepted.inc(len(delayed))
        if messages:
            # Packed as JSON arrays of envelopes (actors.pipeline.packing): the broker and
            # the processor pay their per-message costs once per pack, not per job.
            failure = await publish(pack_envelopes(messages), jobs=False)
            if failure is not None:
                await desk.release(published)
                log.warning("batch.publish_failed jobs=%d reason=%s", accepted, failure)
                return reject(
                    503,
                    f"The broker did not confirm the batch of {accepted} jobs ({failure}); "
                    "retry it whole with the same ids: a resubmitted id never runs twice.",
                )
            metrics.accepted.inc(len(messages))  # jobs, not the messages that carry them
        await desk.confirm(published)
        rejected = len(document) - accepted
        if rejected:
            metrics.rejected.labels("400").inc(rejected)
        log.info("batch.accepted accepted=%d rejected=%d", accepted, rejected)
        body = {"accepted": accepted, "rejected": rejected, "results": results}
        return jsonify(body), 202 if accepted else 400

    audit = BulkAudit(producer, publish)
    install_dead_letter_routes(
        app,
        dead_letters=deps.dead_letters,
        prepare=prepare,
        publish=publish,
        audit=audit,
        read_json=read_json,
        max_body_bytes=settings.max_body_bytes,
    )

    install_cancel_route(app, deps.jobs)
    install_retry_routes(
        app,
        jobs=deps.jobs,
        producer=producer,
        publish=publish,
        read_json=read_json,
        max_body_bytes=settings.max_body_bytes,
    )
    install_bulk_routes(
        app,
        jobs=deps.jobs,
        producer=producer,
        publish=publish,
        audit=audit,
        read_json=read_json,
        max_body_bytes=settings.max_body_bytes,
    )
    install_schedule_routes(
        app,
        store=deps.schedules,
        submitter=deps.submitter
        or Submitter(
            desk,
            deps.publisher,
            producer,
            ready=deps.ready,
            timeout_s=settings.publish_timeout_s,
            metrics=metrics,
        ),
        metrics=metrics,
        read_json=read_json,
        refuse_type=refuse_type,
        max_body_bytes=settings.max_body_bytes,
    )
    proxy = deps.proxy or ProxyConfig.from_env(settings)
    install_proxy_routes(app, proxy, ready=deps.ready)
    install_docs(
        app,
        title="Task Observatory gateway",
        version=settings.version,
        description="Submit jobs to the observatory.",
        servers=[settings.gateway_url],
        secured=True,
        contract_schemas=True,
    )
    secured = secure(
        app,
        tokens=settings.api_tokens,
        cors_origins=settings.cors_origins,
        allow_null_origin=False,
    )
    install_request_spans(secured)
    return secured
