"""An OTLP/HTTP trace receiver in the test process (imported as ``tests.otlp_receiver``).

The collector is a service we do not run: this small HTTP server takes what the
exporters post to ``/v1/traces`` (protobuf ``ExportTraceServiceRequest``), decodes it
with ``opentelemetry-proto`` and keeps every span, so tests assert on the traces the
services really exported.
"""

from __future__ import annotations

import gzip
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["ReceivedSpan", "Receiver", "open_receiver"]


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One exported span, ids as lowercase hex."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    """Empty for a root span."""
    links: tuple[tuple[str, str], ...]
    """``(trace id, span id)`` of each link."""
    attributes: dict[str, object] = field(default_factory=dict)
    status: str = ""
    """``error``, ``ok`` or empty (unset), and the status message after a colon."""


def _value(any_value: object) -> object:
    kind = any_value.WhichOneof("value")  # type: ignore[attr-defined]
    return None if kind is None else getattr(any_value, kind)


def _status(code: int, message: str) -> str:
    name = {1: "ok", 2: "error"}.get(code, "")
    return f"{name}: {message}" if message else name


def decode(body: bytes) -> list[ReceivedSpan]:
    """The spans of one ``ExportTraceServiceRequest``."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            spans.extend(
                ReceivedSpan(
                    service=service,
                    name=span.name,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                    attributes={a.key: _value(a.value) for a in span.attributes},
                    status=_status(span.status.code, span.status.message),
                )
                for span in scope_spans.spans
            )
    return spans


class Receiver:
    """The spans received so far; :meth:`wait_for` blocks until a condition on them holds."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._changed = threading.Condition()
        self.endpoint = ""
        """The base URL to give ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    def add(self, spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self._spans.extend(spans)
            self._changed.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        """A copy of the spans received so far."""
        with self._changed:
            return list(self._spans)

    def wait_for(
        self, condition: Callable[[list[ReceivedSpan]], bool], timeout_s: float
    ) -> list[ReceivedSpan]:
        """Wait until ``condition(spans)`` holds (woken by each export); the spans.

        Raises:
            AssertionError: it did not hold within ``timeout_s``.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self._spans), timeout=timeout_s):
                names = sorted({(s.service, s.name) for s in self._spans})
                raise AssertionError(f"Not received within {timeout_s:g} s; got {names}")
            return list(self._spans)


@contextmanager
def open_receiver() -> Iterator[Receiver]:
    """Serve an OTLP/HTTP receiver on a free port of 127.0.0.1 for the ``with`` block."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_response(404)
                self.end_headers()
                return
            receiver.add(decode(body))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
