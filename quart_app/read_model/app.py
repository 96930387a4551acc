"""The read model's HTTP face: stats, jobs, the audit trail and dead letters.

It reads the stores through their interfaces only (embedded or real), never the broker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from quart import Quart, Response, jsonify, request, send_from_directory

from actors.domain.jobs import JobStatus
from actors.errors import InvalidMessage, ValidationIssue
from actors.observability.logs import bind
from contracts import SchemaName, get_contracts, parse_json
from quart_app._common import BadQuery, install_common, json_error, query_int
from quart_app.auth import secure
from quart_app.openapi import install_docs, read_model_openapi
from quart_app.read_model.alerts import Alert, AlertBook
from quart_app.read_model.live import LiveFeed, TooManyClients

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from prometheus_client import CollectorRegistry

    from actors.config.settings import Settings
    from actors.kernel import ActorHealth
    from actors.stores import Counters, DeadLetterStore, EventStore, JobStore

__all__ = ["ReadModelDeps", "create_read_model_app"]

SERVICE = "read-model"
MAX_LIMIT = 500
MAX_WEBHOOK_BYTES = 1024 * 1024
"""Largest Alertmanager webhook payload accepted."""
WEB_DIR = Path(__file__).parent.parent / "web"
"""The dashboard's static files: plain HTML, CSS and JavaScript, no build step."""

log = logging.getLogger(__name__)


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
    gateway_url: Callable[[], str]
    """Where the dashboard submits jobs (the bound port once the gateway runs)."""


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
    install_docs(app, lambda: read_model_openapi(settings))

    @app.get("/")
    async def dashboard() -> Response:
        response = await send_from_directory(WEB_DIR, "index.html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/launcher.html")
    async def launcher_page() -> Response:
        return await send_from_directory(WEB_DIR, "launcher.html")

    @app.get("/stream")
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
    async def throughput() -> Response:
        return jsonify(deps.feed.history.to_json())

    @app.get("/health")
    async def health() -> Response:
        return jsonify({"status": "ok", "version": settings.version})

    @app.get("/config")
    async def config() -> Response:
        return jsonify(
            {
                "gatewayUrl": deps.gateway_url(),
                "version": settings.version,
                "jobTypes": deps.job_types(),
            }
        )

    @app.get("/stats")
    async def stats() -> Response:
        snapshot = await deps.counters.snapshot()
        return jsonify(snapshot.to_json())

    @app.get("/jobs/recent")
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
    async def get_job(job_id: str) -> tuple[Response, int]:
        record = await deps.jobs.get_job(job_id)
        if record is None:
            return json_error(404, f"No job with id {job_id!r} is known.")
        document = record.to_json()
        events = [e.to_json() for e in await deps.events.events_for_job(job_id)]
        document["events"] = events
        # Under the job's own correlation id: grep it and see the job read, too.
        with bind(correlation_id=record.spec.correlation_id, job_id=record.id):
            log.info("job.read status=%s events=%d", record.status.value, len(events))
        return jsonify(document), 200

    @app.get("/events")
    async def recent_events() -> Response:
        limit = query_int("limit", default=50, minimum=1, maximum=MAX_LIMIT)
        job_id = request.args.get("jobId") or None
        events = await deps.events.recent_events(limit=limit, job_id=job_id)
        return jsonify([event.to_json() for event in events])

    @app.post("/webhooks/alertmanager")
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
    async def alerts() -> Response:
        return jsonify(deps.alerts.to_json())

    @app.get("/dead-letters")
    async def dead_letters() -> Response:
        limit = query_int("limit", default=50, minimum=1, maximum=MAX_LIMIT)
        records = await deps.dead_letters.recent(limit=limit)
        return jsonify([record.to_json() for record in records])

    return secure(
        app,
        tokens=settings.api_tokens,
        cors_origins=settings.cors_origins,
        allow_null_origin=True,  # the launcher page, opened from disk
    )
