"""The gateway's span per HTTP request (a server span, only while tracing is on).

A small ASGI wrapper rather than an instrumentation package: it costs one span per
request and reads the request's own ``traceparent`` (a client's trace continues), and a
``before_request`` hook names the span by its route (``POST /jobs``), not by its path
(a job id per name would make every request's name unique).

Probes and scrapes (:data:`UNTRACED_PATHS`) get no span: answered every few seconds by
every kubelet and Prometheus, they would fill a trace backend with traces nobody opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from quart import request

from actors.observability import tracing

if TYPE_CHECKING:
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
    from quart import Quart

__all__ = ["UNTRACED_PATHS", "install_request_spans"]

UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/health", "/metrics"})
"""Paths answered without a span: liveness and readiness probes, and metric scrapes."""


def install_request_spans(app: Quart) -> None:
    """Give every HTTP request ``app`` answers a server span, if tracing is on."""
    if not tracing.enabled():
        return
    inner = app.asgi_app

    async def traced(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await inner(scope, receive, send)
            return
        parent = _remote_parent(scope)
        with tracing.tracer().start_as_current_span(
            scope["method"],
            context=None if parent is None else trace.set_span_in_context(parent),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as span:

            async def send_status(message: dict[str, object]) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    assert isinstance(status, int)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)  # type: ignore[arg-type]

            await inner(scope, receive, send_status)  # type: ignore[arg-type]

    app.asgi_app = traced  # type: ignore[method-assign]

    @app.before_request
    async def name_span() -> None:
        rule = request.url_rule
        if rule is not None:
            span = trace.get_current_span()
            span.update_name(f"{request.method} {rule.rule}")
            span.set_attribute("http.route", rule.rule)


def _remote_parent(scope: HTTPScope) -> trace.NonRecordingSpan | None:
    """The client's span, from the request's ``traceparent`` header, if it sent one."""
    for name, value in scope["headers"]:
        if name == b"traceparent":
            context = tracing.context_of(value.decode("latin-1").strip())
            return None if context is None else trace.NonRecordingSpan(context)
    return None
