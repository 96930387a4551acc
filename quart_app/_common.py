"""What every HTTP face shares: JSON errors, correlation ids, health and metrics routes."""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from quart import Quart, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from actors.errors import DependencyUnavailable, ValidationIssue
from actors.kernel import ActorState
from actors.observability.logs import CORRELATION_ID
from actors.observability.prometheus import HttpMetrics
from quart_app.openapi import header_param, json_response, operation, text_response

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from prometheus_client import CollectorRegistry

    from actors.kernel import ActorHealth

__all__ = [
    "CORRELATION_HEADER",
    "CORRELATION_PARAMETER",
    "BadQuery",
    "install_common",
    "json_error",
    "query_int",
]

CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION_ID = re.compile(r"[ -~]{1,128}")
"""A client's correlation id: 1 to 128 printable ASCII characters (the envelope
contract's ``correlationId``), used as it is."""

CORRELATION_PARAMETER = {
    **header_param(
        CORRELATION_HEADER,
        {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[ -~]+$"},
    ),
    "description": (
        "Correlates the request with the job's events and every service's log lines: any "
        "1 to 128 printable ASCII characters, echoed back and used as they are (a UUID is "
        "made when it is absent). Anything else is answered 400."
    ),
}
"""The OpenAPI description of the ``X-Correlation-Id`` request header."""


_HEALTH_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["status", "service", "version", "actors"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "service": {"type": "string"},
        "version": {"type": "string"},
        "unhealthy": {"type": "array", "items": {"type": "string"}},
        "handlerTypes": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Job types this service has handlers for (processor, gateway).",
        },
        "actors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "state", "restarts"],
                "properties": {
                    "path": {"type": "string"},
                    "state": {"type": "string"},
                    "restarts": {"type": "integer"},
                    "mailboxDepth": {"type": ["integer", "null"]},
                    "mailboxSize": {"type": ["integer", "null"]},
                    "lastError": {"type": ["string", "null"]},
                },
            },
        },
    },
}
"""The body of ``/healthz``."""


class BadQuery(Exception):
    """A query parameter is malformed or out of bounds (answered 400)."""

    def __init__(self, issue: ValidationIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def json_error(
    status: int, message: str, details: Sequence[ValidationIssue] = ()
) -> tuple[Response, int]:
    """An ``error.json`` body with ``status``."""
    body: dict[str, object] = {"error": message}
    if details:
        body["details"] = [issue.to_json() for issue in details]
    return jsonify(body), status


def query_int(name: str, *, default: int, minimum: int, maximum: int) -> int:
    """Read integer query parameter ``name`` within bounds.

    Raises:
        BadQuery: it is not an integer or is outside ``[minimum, maximum]``.
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(
            ValidationIssue(
                f"/{name}", f"Query parameter {name!r} must be an integer, got {raw!r}."
            )
        ) from None
    if not minimum <= value <= maximum:
        raise BadQuery(
            ValidationIssue(
                f"/{name}",
                f"Query parameter {name!r} must be between {minimum} and {maximum}, got {value}.",
            )
        )
    return value


def correlation_id_from(header: str | None) -> str | None:
    """The correlation id for a request: the client's as it is, or a new UUID when it sent
    none; ``None`` when it sent one that is not 1 to 128 printable ASCII characters."""
    if not header:
        return str(uuid.uuid4())
    return header if _CORRELATION_ID.fullmatch(header) else None


_SMALL_BODY_BYTES = 16 * 1024
"""Responses up to this size are sent without Quart's response timeout (a socket's write
buffer takes them whole: nothing waits on a slow reader)."""


def install_common(
    app: Quart,
    *,
    service: str,
    version: str,
    registry: CollectorRegistry,
    health: Callable[[], list[ActorHealth]],
    ready: Callable[[], bool],
    handler_types: Callable[[], list[str]] | None = None,
) -> None:
    """Add correlation ids, JSON errors, ``/healthz``, ``/readyz`` and ``/metrics`` to ``app``.

    ``handler_types``: the job types this service knows handlers for, listed by
    ``/healthz`` as ``handlerTypes`` (services that run or check jobs).

    ``/readyz`` says the process is up and serving (use it for liveness); ``/healthz`` says
    its dependencies are usable (use it for readiness): 503 while ``ready()`` is false.
    """

    http_metrics = HttpMetrics(registry, service)

    @app.before_request
    async def _bind_correlation() -> tuple[Response, int] | None:
        g.started = time.perf_counter()
        correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        if correlation_id is None:
            return json_error(
                400,
                f"The {CORRELATION_HEADER} header must be 1 to 128 printable ASCII characters; "
                "send another or none (one is made).",
                [ValidationIssue(f"/headers/{CORRELATION_HEADER}", "Not a valid correlation id.")],
            )
        g.correlation_id = correlation_id
        CORRELATION_ID.set(correlation_id)
        return None

    @app.after_request
    async def _echo_correlation(response: Response) -> Response:
        correlation_id = getattr(g, "correlation_id", None)
        if correlation_id:
            response.headers[CORRELATION_HEADER] = correlation_id
        length = response.content_length
        if length is not None and length <= _SMALL_BODY_BYTES:
            # Written at once, below the transport's buffer: no timeout guards its sending,
            # so Quart awaits it directly instead of in an asyncio.wait_for task (3.11).
            response.timeout = None
        started = getattr(g, "started", None)
        if started is not None:
            # The route pattern, never the raw path: ids in paths would explode the series.
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            http_metrics.observe(
                route, request.method, response.status_code, time.perf_counter() - started
            )
        return response

    @app.errorhandler(DependencyUnavailable)
    async def _unavailable(error: DependencyUnavailable) -> tuple[Response, int]:
        # A store or the broker is away: the client may retry; nothing was changed.
        return json_error(503, f"{error} Retry shortly.")

    @app.errorhandler(BadQuery)
    async def _bad_query(error: BadQuery) -> tuple[Response, int]:
        return json_error(400, "Invalid query parameter.", [error.issue])

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> tuple[Response, int]:
        code = error.code or 500
        return json_error(code, f"{error.name}: {error.description}")

    @app.get("/healthz")
    @operation(
        "healthz",
        summary="Dependency health (readiness): 503 while a dependency is unusable.",
        tags=["operations"],
        responses={
            200: json_response("Ready.", _HEALTH_SCHEMA),
            503: json_response("Not ready; `unhealthy` names the actors.", _HEALTH_SCHEMA),
        },
    )
    async def healthz() -> tuple[Response, int]:
        entries = health()
        is_ready = ready()
        body = {
            "status": "ok" if is_ready else "unavailable",
            "service": service,
            "version": version,
            "actors": [entry.to_json() for entry in entries],
            "unhealthy": [
                entry.path
                for entry in entries
                if entry.state not in (ActorState.RUNNING, ActorState.STOPPING)
            ],
        }
        if handler_types is not None:
            body["handlerTypes"] = handler_types()
        return jsonify(body), 200 if is_ready else 503

    @app.get("/readyz")
    @operation(
        "readyz",
        summary="Process health (liveness): the process serves requests.",
        tags=["operations"],
        responses={
            200: json_response(
                "Alive.",
                {
                    "type": "object",
                    "required": ["status", "service", "version"],
                    "properties": {
                        "status": {"const": "ok"},
                        "service": {"type": "string"},
                        "version": {"type": "string"},
                    },
                },
            )
        },
    )
    async def readyz() -> Response:
        return jsonify({"status": "ok", "service": service, "version": version})

    @app.get("/metrics")
    @operation(
        "metrics",
        summary="Prometheus metrics in the text exposition format (OpenMetrics on request).",
        description=(
            "The Prometheus text format; OpenMetrics when the `Accept` header asks for "
            "`application/openmetrics-text` (as Prometheus does), which also carries the "
            "exemplars: the trace of a job beside its latency, with tracing on."
        ),
        tags=["operations"],
        responses={200: text_response("Metrics.", "text/plain")},
    )
    async def metrics() -> Response:
        if "application/openmetrics-text" in request.headers.get("Accept", ""):
            return Response(
                openmetrics.generate_latest(registry),  # type: ignore[no-untyped-call]
                content_type=openmetrics.CONTENT_TYPE_LATEST,
            )
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
