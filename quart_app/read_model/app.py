"""The read model's HTTP face: stats, jobs, the audit trail and dead letters.

It reads the stores through their interfaces only (embedded or real), never the broker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from quart import Quart, Response, g, jsonify, request, send_from_directory

from actors.domain.jobs import MAX_PRIORITY, JobStatus
from actors.errors import InvalidMessage, ValidationIssue
from actors.observability.logs import bind
from contracts import SchemaName, get_contracts, parse_json
from quart_app._common import BadQuery, install_common, json_error, query_int
from quart_app.auth import secure
from quart_app.openapi import (
    error_response,
    install_docs,
    json_body,
    json_response,
    limit_param,
    operation,
    query_param,
    schema_ref,
    text_response,
)
from quart_app.read_model.alerts import Alert, AlertBook
from quart_app.read_model.live import LiveFeed, TooManyClients
from quart_app.read_model.queues import install_queues_route
from quart_app.read_model.runbooks import install_runbooks_route
from quart_app.read_model.search import install_search_routes
from quart_app.read_model.types import install_types_route
from quart_app.read_model.waiting import MAX_WAIT_S, JobWaiters, parse_wait, wait_for_job
from quart_app.read_model.workers import install_workers_route
from quart_app.schedules import install_schedule_reads

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from prometheus_client import CollectorRegistry

    from actors.config.settings import Settings
    from actors.domain.handlers import HandlerRegistry
    from actors.kernel import ActorHealth
    from actors.stores import Counters, DeadLetterStore, EventStore, JobStore
    from actors.stores.workers import WorkerRegistry
    from quart_app.read_model.queues import QueueInspector

__all__ = ["ReadModelDeps", "create_read_model_app"]

SERVICE = "read-model"
MAX_LIMIT = 500
MAX_WEBHOOK_BYTES = 1024 * 1024
"""Largest Alertmanager webhook payload accepted."""
WEB_DIR = Path(__file__).parent.parent / "web"
"""The dashboard's static files: plain HTML, CSS and JavaScript, no build step."""

log = logging.getLogger(__name__)

_STATUSES = [status.value for status in JobStatus]
_DURATION_MS: dict[str, object] = {
    "description": "How long the job took, all its attempts (and the waits between them) "
    "included, in milliseconds; null until it finished.",
    "type": ["integer", "null"],
    "minimum": 0,
}
_SCHEDULED_FOR: dict[str, object] = {
    "description": "A delayed job's start time (from `runAt` or `delaySeconds` at "
    "submission); absent for a job that ran as soon as it arrived.",
    "type": "string",
    "format": "date-time",
}
_JOB_SUMMARY: dict[str, object] = {
    "type": "object",
    "required": ["id", "type", "status", "createdAt", "updatedAt", "priority"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "type": {"type": "string"},
        "status": {"type": "string", "enum": _STATUSES},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "startedAt": {"type": ["string", "null"]},
        "finishedAt": {"type": ["string", "null"]},
        "durationMs": _DURATION_MS,
        "scheduledFor": _SCHEDULED_FOR,
        "priority": {
            "description": "0 to 9: of the jobs waiting, the higher run first; 5 for a job "
            "submitted without one.",
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_PRIORITY,
        },
    },
}
"""One job of ``GET /jobs/recent``."""
_JOB_DETAIL: dict[str, object] = {
    "allOf": [
        schema_ref(SchemaName.JOB),
        {
            "type": "object",
            "required": ["attempts", "events"],
            "properties": {
                "attempts": {"type": "integer", "minimum": 0},
                "correlationId": {"type": "string"},
                "startedAt": {"type": ["string", "null"]},
                "finishedAt": {"type": ["string", "null"]},
                "durationMs": _DURATION_MS,
                "result": {},
                "error": {"type": ["string", "null"]},
                "errors": {
                    "description": "Every failed attempt, oldest first.",
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["attempt", "error", "at"],
                        "properties": {
                            "attempt": {"type": "integer", "minimum": 1},
                            "error": {"type": "string"},
                            "at": {"type": "string", "format": "date-time"},
                        },
                    },
                },
                "nextAttemptAt": {
                    "description": "While PENDING between attempts: when the next is due.",
                    "type": ["string", "null"],
                },
                "cancelRequestedAt": {"type": ["string", "null"]},
                "round": {
                    "description": "The job's round, from 1; each retry of a FAILED job "
                    "(`POST /jobs/{id}/retry` on the gateway) starts the next one.",
                    "type": "integer",
                    "minimum": 1,
                },
                "cancelRequestedBy": {
                    "description": "Who requested the cancel (a token hash or an address).",
                    "type": "string",
                },
                "traceId": {
                    "description": "The job's trace (W3C trace id, 32 hex digits), when the "
                    "gateway traced its submission (`OTEL_EXPORTER_OTLP_ENDPOINT` set): from "
                    "`metadata.traceparent`, which the gateway writes.",
                    "type": "string",
                    "pattern": "^[0-9a-f]{32}$",
                },
                "events": {"type": "array", "items": schema_ref(SchemaName.EVENT_ENVELOPE)},
            },
        },
    ]
}
"""The body of ``GET /jobs/{jobId}``."""
_THROUGHPUT: dict[str, object] = {
    "type": "object",
    "required": ["bucketSeconds", "windowSeconds", "buckets", "perSecond"],
    "properties": {
        "bucketSeconds": {"type": "integer"},
        "windowSeconds": {"type": "integer"},
        "buckets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "completed", "failed"],
                "properties": {
                    "start": {"type": "string", "format": "date-time"},
                    "completed": {"type": "integer", "minimum": 0},
                    "failed": {"type": "integer", "minimum": 0},
                },
            },
        },
        "perSecond": {"type": "number", "minimum": 0},
    },
}
"""The body of ``GET /stats/throughput``."""
_OUT_OF_BOUNDS = error_response("A query parameter is out of bounds.")


@dataclass(frozen=True, slots=True)
class ReadModelDeps:
    """The stores the read model reads, and its service's health."""

    jobs: JobStore
    events: EventStore
    dead_letters: DeadLetterStore
    counters: Counters
    registry: CollectorRegistry
    health: Callable[[], list[ActorHealth]]
    ready: Callable[[], bool]
    job_types: Callable[[], list[str]]
    alerts: AlertBook
    feed: LiveFeed
    waiters: JobWaiters
    """Wakes ``GET /jobs/{id}?wait=`` requests when their job moves."""
    gateway_url: Callable[[], str]
    """Where the dashboard submits jobs (the bound port once the gateway runs)."""
    handlers: HandlerRegistry
    """The handlers whose types ``GET /types`` describes."""
    workers: WorkerRegistry
    """The heartbeats ``GET /workers`` lists."""
    queues: QueueInspector | None
    """What ``GET /queues`` asks (503 without)."""


def create_read_model_app(settings: Settings, deps: ReadModelDeps) -> Quart:
    """Build the read model's Quart app, with CORS on every route (preflight included)."""
    app = Quart(SERVICE, static_folder=str(WEB_DIR), static_url_path="/static")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    install_common(
        app,
        service=SERVICE,
        version=settings.version,
        registry=deps.registry,
        health=deps.health,
        ready=deps.ready,
    )

    @app.get("/")
    @operation(
        "dashboard",
        summary="The web dashboard.",
        tags=["dashboard"],
        responses={200: text_response("The page.", "text/html")},
    )
    async def dashboard() -> Response:
        response = await send_from_directory(WEB_DIR, "index.html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/launcher.html")
    @operation(
        "launcherPage",
        summary="The launcher page (open it from disk: it waits for the API).",
        tags=["dashboard"],
        responses={200: text_response("The page.", "text/html")},
    )
    async def launcher_page() -> Response:
        return await send_from_directory(WEB_DIR, "launcher.html")

    @app.get("/stream")
    @operation(
        "stream",
        summary="Live updates as Server-Sent Events.",
        description=(
            "Events `stats`, `throughput`, `jobs` (the 20 newest job summaries), `alerts`, "
            "`dead-letters` (`{count}`), each with the same JSON as its GET endpoint, sent at "
            "once on connect and then when they change; `events` carries new audit-trail "
            "events, oldest first. `workers` (the body of `GET /workers`) and `queues` "
            "(the body of `GET /queues`, rates per second over the stream's own 3 s "
            "period, null where the broker does not say) are sent every 3 s, the first "
            "at once on connect. A `: keep-alive` comment every 15 s. 503 with "
            "`Retry-After` when the stream serves its maximum number of clients."
        ),
        tags=["read"],
        responses={
            200: text_response("The stream.", "text/event-stream"),
            503: error_response("Too many stream clients; poll meanwhile."),
        },
    )
    async def stream() -> Response | tuple[Response, int]:
        try:
            subscription = deps.feed.subscribe()
        except TooManyClients as exc:
            response, status = json_error(503, f"{exc} Poll the JSON endpoints meanwhile.")
            response.headers["Retry-After"] = "5"
            return response, status

        async def messages() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 3000\n\n"
                async for message in subscription.messages():
                    yield message
            finally:
                subscription.close()

        response = Response(
            messages(),
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        response.timeout = None  # a stream lasts as long as its client stays
        return response

    @app.get("/stats/throughput")
    @operation(
        "throughput",
        summary="Finished jobs per 30 s over the last 15 minutes, and jobs/s.",
        tags=["read"],
        responses={200: json_response("Throughput.", _THROUGHPUT)},
    )
    async def throughput() -> Response:
        return jsonify(deps.feed.history.to_json())

    @app.get("/health")
    @operation(
        "health",
        summary="Whether the read model answers, and its version.",
        tags=["operations"],
        responses={
            200: json_response(
                "Up.",
                {
                    "type": "object",
                    "required": ["status", "version"],
                    "properties": {"status": {"type": "string"}, "version": {"type": "string"}},
                },
            )
        },
    )
    async def health() -> Response:
        return jsonify({"status": "ok", "version": settings.version})

    @app.get("/config")
    @operation(
        "config",
        summary="Where the gateway is and which job types are registered.",
        tags=["operations"],
        responses={
            200: json_response(
                "Client configuration.",
                {
                    "type": "object",
                    "required": ["gatewayUrl", "version", "jobTypes"],
                    "properties": {
                        "gatewayUrl": {"type": "string"},
                        "version": {"type": "string"},
                        "jobTypes": {"type": "array", "items": {"type": "string"}},
                        "role": {
                            "description": "The role of the token presented (`viewer`, "
                            "`submitter`); null when this service takes no tokens (every "
                            "request is allowed). The dashboard disables what the role may "
                            "not do.",
                            "type": ["string", "null"],
                        },
                        "traceUrl": {
                            "description": "A trace viewer's URL template with `{traceId}` "
                            "(`OBSERVATORY_TRACE_URL`); the dashboard links a job's `traceId` "
                            "there. Null when not set.",
                            "type": ["string", "null"],
                        },
                    },
                },
            )
        },
    )
    async def config() -> Response:
        return jsonify(
            {
                "gatewayUrl": deps.gateway_url(),
                "version": settings.version,
                "jobTypes": deps.job_types(),
                "role": getattr(g, "role", None),
                "traceUrl": settings.trace_url,
            }
        )

    @app.get("/stats")
    @operation(
        "stats",
        summary="Live counters: totals, per type, last event time.",
        tags=["read"],
        responses={200: json_response("Counters.", schema_ref(SchemaName.STATS))},
    )
    async def stats() -> Response:
        snapshot = await deps.counters.snapshot()
        return jsonify(snapshot.to_json())

    @app.get("/jobs/recent")
    @operation(
        "recentJobs",
        summary="Jobs, newest first.",
        tags=["read"],
        parameters=[
            limit_param(10, MAX_LIMIT),
            query_param("offset", {"type": "integer", "minimum": 0, "default": 0}),
            query_param("status", {"type": "string", "enum": _STATUSES}),
            query_param("type", {"type": "string"}),
        ],
        responses={
            200: json_response("Jobs.", {"type": "array", "items": _JOB_SUMMARY}),
            400: _OUT_OF_BOUNDS,
        },
    )
    async def recent_jobs() -> Response:
        limit = query_int("limit", default=10, minimum=1, maximum=MAX_LIMIT)
        offset = query_int("offset", default=0, minimum=0, maximum=1_000_000)
        raw_status = request.args.get("status") or None
        status: JobStatus | None = None
        if raw_status is not None:
            try:
                status = JobStatus(raw_status.upper())
            except ValueError:
                allowed = ", ".join(s.value for s in JobStatus)
                raise BadQuery(
                    ValidationIssue(
                        "/status", f"Unknown status {raw_status!r}; expected one of {allowed}."
                    )
                ) from None
        job_type = request.args.get("type") or None
        records = await deps.jobs.recent_jobs(
            limit=limit, offset=offset, status=status, job_type=job_type
        )
        return jsonify([record.to_summary() for record in records])

    @app.get("/jobs/<job_id>")
    @operation(
        "getJob",
        summary="One job with its result or error and its whole event history in order.",
        description=(
            "With `wait` (seconds, 0 to 60, fractions allowed), the answer waits until the "
            "job is terminal (COMPLETED or FAILED) and comes as soon as it is; when the time "
            "is up it is the job as it is then (check `status`). An unknown job is 404 at "
            "once, as without `wait` (a job just accepted is unknown until a processor "
            "takes it: ask again shortly). The request is woken by the audit trail."
        ),
        tags=["read"],
        parameters=[
            query_param(
                "wait",
                {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S, "default": 0},
            )
        ],
        responses={
            200: json_response("The job.", _JOB_DETAIL),
            400: error_response(f"`wait` is not a number of seconds from 0 to {MAX_WAIT_S:g}."),
            404: error_response("No job with that id."),
        },
    )
    async def get_job(job_id: str) -> tuple[Response, int]:
        try:
            wait_s = parse_wait(request.args.get("wait"))
        except BadQuery as exc:
            return json_error(400, exc.issue.message, [exc.issue])
        if wait_s > 0:
            record, timeline = await wait_for_job(
                deps.waiters, deps.jobs, deps.events, job_id, wait_s
            )
        else:
            record = await deps.jobs.get_job(job_id)
            timeline = [] if record is None else await deps.events.events_for_job(job_id)
        if record is None:
            return json_error(404, f"No job with id {job_id!r} is known.")
        document = record.to_json()
        events = [e.to_json() for e in timeline]
        document["events"] = events
        # Under the job's own correlation id: grep it and see the job read, too.
        with bind(correlation_id=record.spec.correlation_id, job_id=record.id):
            log.info("job.read status=%s events=%d", record.status.value, len(events))
        return jsonify(document), 200

    @app.post("/webhooks/alertmanager")
    @operation(
        "alertmanagerWebhook",
        summary="Alertmanager's webhook receiver: records firing and resolved alerts.",
        tags=["alerts"],
        request_body=json_body(schema_ref(SchemaName.ALERTMANAGER_WEBHOOK)),
        responses={
            200: json_response(
                "Recorded.",
                {
                    "type": "object",
                    "required": ["received"],
                    "properties": {"received": {"type": "integer", "minimum": 0}},
                },
            ),
            400: error_response("Not JSON, or not an Alertmanager webhook payload."),
            413: error_response("Payload over 1 MiB."),
        },
    )
    async def alertmanager_webhook() -> tuple[Response, int]:
        body = await request.get_data(cache=False)
        assert isinstance(body, bytes)
        if len(body) > MAX_WEBHOOK_BYTES:
            return json_error(413, f"The payload is over {MAX_WEBHOOK_BYTES} bytes.")
        try:
            payload = parse_json(body)
        except InvalidMessage as exc:
            return json_error(400, str(exc), exc.issues)
        issues = get_contracts().issues(SchemaName.ALERTMANAGER_WEBHOOK, payload)
        if issues:
            return json_error(
                400,
                f"The payload does not match the alertmanager-webhook contract: "
                f"{len(issues)} problem(s).",
                issues,
            )
        assert isinstance(payload, dict)
        alerts = payload["alerts"]
        assert isinstance(alerts, list)
        for alert in alerts:
            deps.alerts.record(Alert.from_webhook(alert))
        log.info("alerts.received count=%d status=%s", len(alerts), payload["status"])
        return jsonify({"received": len(alerts)}), 200

    @app.get("/alerts")
    @operation(
        "alerts",
        summary="Active alerts (critical first) and the most recently resolved ones.",
        tags=["read"],
        responses={200: json_response("Alerts.", schema_ref(SchemaName.ALERTS))},
    )
    async def alerts() -> Response:
        return jsonify(deps.alerts.to_json())

    @app.get("/dead-letters")
    @operation(
        "deadLetters",
        summary="Messages no consumer may process, with every reason, newest first.",
        tags=["read"],
        parameters=[limit_param(50, MAX_LIMIT)],
        responses={
            200: json_response(
                "Dead letters.", {"type": "array", "items": schema_ref(SchemaName.DEAD_LETTER)}
            ),
            400: _OUT_OF_BOUNDS,
        },
    )
    async def dead_letters() -> Response:
        limit = query_int("limit", default=50, minimum=1, maximum=MAX_LIMIT)
        records = await deps.dead_letters.recent(limit=limit)
        return jsonify([record.to_json() for record in records])

    install_search_routes(app, deps.jobs, deps.events)
    install_schedule_reads(app, deps.jobs)
    install_types_route(app, deps.handlers)
    install_runbooks_route(app)
    install_workers_route(app, deps.workers, keep_s=settings.workers_keep_s, registry=deps.registry)
    install_queues_route(app, deps.queues)
    install_docs(
        app,
        title="Task Observatory read model",
        version=settings.version,
        description="Read the state, counters and audit trail of the observatory.",
        secured=True,
        contract_schemas=True,
    )
    return secure(
        app,
        tokens=settings.api_tokens,
        cors_origins=settings.cors_origins,
        allow_null_origin=True,  # the launcher page, opened from disk
    )
