"""Tracing with OpenTelemetry: off by default, one switch on.

Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) and
without ``OBSERVATORY_TRACE_CONSOLE`` nothing is set up: no tracer provider, no exporter,
and every helper here returns one shared no-op context manager after one check of a
module flag, so the hot path pays a function call. With it, :func:`configure_tracing`
installs a tracer provider whose spans go through a ``BatchSpanProcessor`` to an
OTLP/HTTP exporter, which reads the standard ``OTEL_*`` variables itself (endpoint,
headers, timeout, compression); ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``
are honoured too (the service name defaults to ``observatory-<service>``).

How a job's trace travels (W3C trace context):

* the gateway's span of ``POST /jobs`` writes its ``traceparent`` into the job's
  ``metadata`` (key :data:`TRACEPARENT`; left out of the resubmission fingerprint), so
  it is stored with the job and carried by every lifecycle event;
* the processor's spans of one job (``job.run {type}``, one per attempt) are children
  of it; its batched spans (intake, store writes, the completion publish) and the
  metrics engine's writes have the first job's context as parent and a link to every
  job's context they serve;
* a retry's ``job.created`` carries the failed attempt's context in the AMQP header
  :data:`PREVIOUS_ATTEMPT_HEADER`, and the next attempt's span links to it.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "CONSOLE_ENV",
    "PREVIOUS_ATTEMPT_HEADER",
    "TRACEPARENT",
    "batch_span",
    "child_span",
    "configure_tracing",
    "context_of",
    "current_traceparent",
    "enabled",
    "job_span",
    "record_failure",
    "shutdown_tracing",
    "trace_id_of",
    "traceparent_of",
    "tracer",
]

TRACEPARENT = "traceparent"
"""The key of a job's ``metadata`` holding the W3C ``traceparent`` of its submission."""
PREVIOUS_ATTEMPT_HEADER = "x-previous-attempt-traceparent"
"""The AMQP header of a retry's message: the ``traceparent`` of the attempt that failed."""
CONSOLE_ENV = "OBSERVATORY_TRACE_CONSOLE"
"""Set to ``1`` (``observatory up --trace-console``): spans are printed on stdout."""
_ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_NOOP = contextlib.nullcontext()

_enabled = False
_provider: TracerProvider | None = None
_installed_globally = False
_tracer: Tracer | None = None


def enabled() -> bool:
    """Whether this process exports spans (:func:`configure_tracing` set it up)."""
    return _enabled


def configure_tracing(
    service: str, *, env: Mapping[str, str] | None = None, console: bool = False
) -> bool:
    """Set up tracing for this process if the environment asks for it.

    Args:
        service: the service's name (``gateway``, ``processor``...); the resource's
            ``service.name`` is ``observatory-<service>`` unless ``OTEL_SERVICE_NAME``
            is set.
        env: the environment (``os.environ`` by default).
        console: print spans on stdout too (as does ``OBSERVATORY_TRACE_CONSOLE=1``).

    Returns:
        Whether tracing is on: no provider or exporter is created when it is not.
    """
    global _enabled, _provider, _installed_globally, _tracer
    env = os.environ if env is None else env
    otlp = any(env.get(name) for name in _ENDPOINT_ENVS)
    console = console or env.get(CONSOLE_ENV, "") not in ("", "0")
    if not (otlp or console) or _provider is not None:
        return _enabled
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"observatory-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    if not _installed_globally:
        # For the handlers' own spans (``trace.get_tracer``); OpenTelemetry takes the
        # global provider once per process, so ours are made by :func:`tracer`.
        trace.set_tracer_provider(provider)
        _installed_globally = True
    _provider = provider
    _tracer = provider.get_tracer("observatory")
    _enabled = True
    return True


def shutdown_tracing() -> None:
    """Export the spans still buffered, stop the exporters and turn tracing off (at
    process exit; a later :func:`configure_tracing` starts afresh)."""
    global _enabled, _provider, _tracer
    provider, _provider, _enabled = _provider, None, False
    _tracer = None
    if provider is not None:
        provider.shutdown()


def tracer() -> Tracer:
    """The observatory's tracer (a no-op one while tracing is off)."""
    return _tracer if _tracer is not None else trace.get_tracer("observatory")


def traceparent_of(context: SpanContext) -> str:
    """The W3C ``traceparent`` of a span context."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The ``traceparent`` of the span in force here, ``None`` when there is none."""
    context = trace.get_current_span().get_span_context()
    return traceparent_of(context) if context.is_valid else None


def context_of(traceparent: object) -> SpanContext | None:
    """The remote span context a ``traceparent`` names; ``None`` when it is not one."""
    if not isinstance(traceparent, str):
        return None
    match = _TRACEPARENT_RE.match(traceparent)
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if trace_id == 0 or span_id == 0:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match[3], 16)))


def trace_id_of(metadata: Mapping[str, object] | None) -> str | None:
    """The trace id (32 hex digits) of a job, from its metadata's ``traceparent``."""
    if not metadata:
        return None
    context = context_of(metadata.get(TRACEPARENT))
    return None if context is None else f"{context.trace_id:032x}"


def job_span(
    name: str,
    metadata: Mapping[str, object],
    *,
    attributes: Mapping[str, str | int] | None = None,
    previous: object = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span about one job, the child of its submission's (``metadata``'s traceparent).

    Args:
        name: the span's name (``job.run send_email``).
        metadata: the job's metadata.
        attributes: the span's attributes.
        previous: the ``traceparent`` of the job's previous attempt, linked to.

    Returns:
        The span's context manager (it yields the span); a no-op one while tracing is off.
    """
    if not _enabled:
        return _NOOP
    parent = context_of(metadata.get(TRACEPARENT))
    previous_context = context_of(previous)
    links = [Link(previous_context, {"link.kind": "previous_attempt"})] if previous_context else []
    return tracer().start_as_current_span(
        name,
        context=None
        if parent is None
        else trace.set_span_in_context(trace.NonRecordingSpan(parent)),
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        links=links,
    )


def record_failure(message: str) -> None:
    """Mark the span in force as failed, with ``message`` (a job's attempt that failed)."""
    if _enabled:
        trace.get_current_span().set_status(Status(StatusCode.ERROR, message))


def child_span(
    name: str, attributes: Mapping[str, str | int] | None = None
) -> contextlib.AbstractContextManager[Span | None]:
    """A span inside the one in force here (a store write within a batch's span).

    Returns:
        The span's context manager; a no-op one while tracing is off.
    """
    if not _enabled:
        return _NOOP
    return tracer().start_as_current_span(name, attributes=attributes)


def batch_span(
    name: str,
    metadatas: Iterable[Mapping[str, object]],
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int] | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span of one operation serving several jobs (a store write, a publish).

    Its parent is the first job's submission span; it links to every job's (the first
    one included, so a reader finds all of them in the links), once per trace context.

    Returns:
        The span's context manager; a no-op one while tracing is off.
    """
    if not _enabled:
        return _NOOP
    contexts: dict[tuple[int, int], SpanContext] = {}
    for metadata in metadatas:
        context = context_of(metadata.get(TRACEPARENT))
        if context is not None:
            contexts.setdefault((context.trace_id, context.span_id), context)
    links = [Link(context) for context in contexts.values()]
    parent = next(iter(contexts.values()), None)
    span_attributes = {"jobs.traces": len(links), **(attributes or {})}
    return tracer().start_as_current_span(
        name,
        context=None
        if parent is None
        else trace.set_span_in_context(trace.NonRecordingSpan(parent)),
        kind=kind,
        attributes=span_attributes,
        links=links,
    )
