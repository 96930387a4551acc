"""Tracing (issue 19): off unless asked for, and the helpers that carry a job's trace."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from opentelemetry.exporter.otlp.proto.http import trace_exporter

from actors.domain.submissions import Fingerprint
from actors.observability import tracing
from actors.observability.logs import ContextFilter
from tests.otlp_receiver import open_receiver

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.otlp_receiver import Receiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def _tracing_off_afterwards() -> Iterator[None]:
    yield
    tracing.shutdown_tracing()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """Tracing on, exporting to an in-process OTLP/HTTP receiver."""
    with open_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        assert tracing.configure_tracing("processor") is True
        yield receiver


def test_tracing_is_off_without_an_endpoint_and_creates_no_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[object] = []

    class Recording(trace_exporter.OTLPSpanExporter):
        def __init__(self) -> None:
            created.append(self)
            super().__init__()

    monkeypatch.setattr(trace_exporter, "OTLPSpanExporter", Recording)
    assert tracing.configure_tracing("processor", env={"OTEL_SERVICE_NAME": "x"}) is False
    assert tracing.enabled() is False
    assert created == []
    # Every helper is one shared no-op: nothing is made per job.
    spans = {
        id(tracing.job_span("job.run x", {tracing.TRACEPARENT: PARENT})),
        id(tracing.batch_span("job.intake", [{tracing.TRACEPARENT: PARENT}])),
        id(tracing.child_span("store.write")),
    }
    assert len(spans) == 1
    with tracing.job_span("job.run x", {tracing.TRACEPARENT: PARENT}) as span:
        assert span is None
        assert tracing.current_traceparent() is None


def test_an_endpoint_turns_tracing_on_with_the_otlp_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[object] = []

    class Recording(trace_exporter.OTLPSpanExporter):
        def __init__(self) -> None:
            created.append(self)
            super().__init__()

    monkeypatch.setattr(trace_exporter, "OTLPSpanExporter", Recording)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert tracing.configure_tracing("gateway", env=env) is True
    assert tracing.enabled() is True
    assert len(created) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PARENT, (int(TRACE_ID, 16), 0x00F067AA0BA902B7, 1)),
        (f"00-{TRACE_ID}-00f067aa0ba902b7-00", (int(TRACE_ID, 16), 0x00F067AA0BA902B7, 0)),
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),  # an all-zero trace id is invalid
        (f"00-{TRACE_ID}-{'0' * 16}-01", None),
        (f"01-{TRACE_ID}-00f067aa0ba902b7-01", None),
        ("not a traceparent", None),
        (42, None),
        (None, None),
    ],
)
def test_context_of_reads_a_w3c_traceparent(
    text: object, expected: tuple[int, int, int] | None
) -> None:
    context = tracing.context_of(text)
    if expected is None:
        assert context is None
        return
    assert context is not None
    assert (context.trace_id, context.span_id, int(context.trace_flags)) == expected
    assert context.is_remote
    assert tracing.traceparent_of(context) == text


def test_trace_id_of_a_job_is_its_metadatas_traceparents() -> None:
    assert tracing.trace_id_of({tracing.TRACEPARENT: PARENT, "team": "a"}) == TRACE_ID
    assert tracing.trace_id_of({"team": "a"}) is None
    assert tracing.trace_id_of(None) is None


def test_the_resubmission_fingerprint_leaves_the_trace_out() -> None:
    job = {"type": "echo", "payload": {"n": 1}, "metadata": {"team": "a"}}
    traced = {**job, "metadata": {"team": "a", tracing.TRACEPARENT: PARENT}}
    assert Fingerprint.of(traced) == Fingerprint.of(job)
    other = {**job, "metadata": {"team": "b", tracing.TRACEPARENT: PARENT}}
    assert Fingerprint.of(other).differences(Fingerprint.of(job)) == ["metadata"]


def test_job_and_batch_spans_join_the_jobs_traces(receiver: Receiver) -> None:
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    previous = f"00-{TRACE_ID}-1111111111111111-01"
    with tracing.job_span(
        "job.run echo",
        {tracing.TRACEPARENT: PARENT},
        attributes={"job.attempt": 2},
        previous=previous,
    ):
        run_parent = tracing.current_traceparent()
        with tracing.child_span("inner"):
            pass
    with tracing.batch_span(
        "job.record",
        [
            {tracing.TRACEPARENT: PARENT},
            {tracing.TRACEPARENT: other},
            {},
            {tracing.TRACEPARENT: PARENT},
        ],
    ):
        pass
    tracing.shutdown_tracing()  # flushes
    spans = {s.name: s for s in receiver.wait_for(lambda got: len(got) >= 3, timeout_s=10)}
    run = spans["job.run echo"]
    assert run.service == "observatory-processor"
    assert (run.trace_id, run.parent_span_id) == (TRACE_ID, "00f067aa0ba902b7")
    assert run.links == ((TRACE_ID, "1111111111111111"),)
    assert run.attributes["job.attempt"] == 2
    assert run_parent == f"00-{TRACE_ID}-{run.span_id}-01"
    assert (spans["inner"].trace_id, spans["inner"].parent_span_id) == (TRACE_ID, run.span_id)
    batch = spans["job.record"]
    assert (batch.trace_id, batch.parent_span_id) == (TRACE_ID, "00f067aa0ba902b7")
    # Every job's trace is linked, each once; the first one too.
    assert batch.links == (
        (TRACE_ID, "00f067aa0ba902b7"),
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
    )


def test_log_records_carry_the_span_in_force_only_with_tracing_on(receiver: Receiver) -> None:
    def stamped() -> logging.LogRecord:
        record = logging.LogRecord("x", logging.INFO, "x", 0, "m", None, None)
        ContextFilter().filter(record)
        return record

    assert not hasattr(stamped(), "trace_id")  # no span in force
    with tracing.job_span("job.run echo", {tracing.TRACEPARENT: PARENT}):
        record = stamped()
        assert getattr(record, "trace_id") == TRACE_ID  # noqa: B009 (set by the filter)
        span_id = getattr(record, "span_id")  # noqa: B009
        assert f"00-{TRACE_ID}-{span_id}-01" == tracing.current_traceparent()
    with tracing.job_span("job.run echo", {tracing.TRACEPARENT: PARENT}):
        tracing.shutdown_tracing()  # off, while the span is still in force
        assert not hasattr(stamped(), "trace_id")
