"""The gateway's HTTP face: ``POST /jobs`` validates, publishes, and answers 202.

A job is answered ``202 {"jobId", "eventId"}`` only after the broker confirmed its
``job.created`` envelope; bad input gets a 4xx with every problem and nothing is
published.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import quart_cors
from quart import Quart, Response, g, jsonify, request

from actors.broker import OutgoingMessage
from actors.broker.names import JOBS_CREATED
from actors.clock import utc_now
from actors.errors import InvalidMessage, ValidationIssue
from actors.events import Envelope, EventType, Producer
from actors.jobs import JobStatus
from actors.observability import JOB_ID
from actors.publisher import PublishRequest
from contracts import SchemaName, get_contracts, parse_json
from quart_app._common import install_common, json_error
from quart_app.openapi import gateway_openapi, install_docs

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from actors.kernel import Actor, ActorHealth
    from actors.metrics import GatewayMetrics
    from actors.settings import Settings

__all__ = ["GatewayDeps", "create_gateway_app"]

log = logging.getLogger(__name__)

SERVICE = "gateway"


@dataclass(frozen=True, slots=True)
class GatewayDeps:
    """What the gateway app needs from its service tree."""

    publisher: Actor[PublishRequest]
    metrics: GatewayMetrics
    registry: CollectorRegistry
    health: Callable[[], list[ActorHealth]]
    ready: Callable[[], bool]


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
    ``PENDING`` because a submission is, by definition, not yet run.
    """
    job = dict(submission)
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
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    contracts = get_contracts()
    producer = Producer(SERVICE, f"{SERVICE}-{settings.instance_id}", settings.version)
    metrics = deps.metrics
    install_common(
        app,
        service=SERVICE,
        version=settings.version,
        registry=deps.registry,
        health=deps.health,
        ready=deps.ready,
    )
    install_docs(app, lambda: gateway_openapi(settings))

    def reject(
        status: int, message: str, details: list[ValidationIssue] | None = None
    ) -> tuple[Response, int]:
        metrics.rejected.labels(str(status)).inc()
        return json_error(status, message, details or [])

    @app.post("/jobs")
    async def submit_job() -> tuple[Response, int]:
        if not _is_json(request.content_type):
            return reject(
                415,
                f"Content type {request.content_type or 'none'!r} is not supported; "
                "send the job as application/json.",
            )
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            return reject(
                413,
                f"The body is {length} bytes; at most {settings.max_body_bytes} are accepted.",
            )
        body = await request.get_data(cache=False)
        assert isinstance(body, bytes)
        if len(body) > settings.max_body_bytes:
            return reject(
                413,
                f"The body is over {settings.max_body_bytes} bytes; send a smaller job.",
            )
        try:
            submission = parse_json(body)
        except InvalidMessage as exc:
            return reject(400, str(exc), exc.issues)
        job_type = submission.get("type") if isinstance(submission, dict) else None
        metrics.submitted.labels(
            metrics.job_type(job_type) if isinstance(job_type, str) and job_type else "invalid"
        ).inc()
        issues = contracts.issues(SchemaName.JOB_SUBMISSION, submission)
        if issues:
            return reject(
                400,
                f"The job does not match the job-submission contract: {len(issues)} problem(s).",
                issues,
            )
        assert isinstance(submission, dict)
        now = utc_now()
        job = build_job(submission, now)
        correlation_id: str = g.correlation_id
        envelope = Envelope(
            event_type=EventType.CREATED,
            event_id=str(uuid.uuid4()),
            occurred_at=now,
            producer=producer,
            correlation_id=correlation_id,
            idempotency_key=str(job["id"]),
            payload=job,
        )
        JOB_ID.set(str(job["id"]))
        message = OutgoingMessage(
            body=json.dumps(envelope.to_json(), separators=(",", ":")).encode(),
            message_id=envelope.event_id,
            correlation_id=correlation_id,
        )
        publish = PublishRequest(JOBS_CREATED, [message], done=anyio.Event())
        started = time.perf_counter()
        with anyio.move_on_after(settings.publish_timeout_s) as scope:
            await deps.publisher.send(publish)
            assert publish.done is not None
            await publish.done.wait()
        if scope.cancelled_caught or publish.error is not None:
            reason = "timed out" if publish.error is None else str(publish.error)
            log.warning("job.publish_failed job_id=%s reason=%s", job["id"], reason)
            return reject(
                503,
                f"The broker did not confirm job {job['id']} ({reason}); nothing was accepted. "
                "Retry with the same id: resubmitting an id never runs a job twice.",
            )
        metrics.publish_seconds.observe(time.perf_counter() - started)
        metrics.accepted.inc()
        log.info("job.accepted job_id=%s type=%s", job["id"], job["type"])
        return jsonify({"jobId": job["id"], "eventId": envelope.event_id}), 202

    origins = list(settings.cors_origins)
    return quart_cors.cors(
        app,
        allow_origin="*" if origins == ["*"] else origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "X-Correlation-Id"],
        expose_headers=["X-Correlation-Id"],
        max_age=600,
    )
