"""Issue 19: the processor's and the metrics engine's spans join the job's trace.

Both services run on embedded adapters (in-process broker, SQLite stores) with tracing
on, exporting to an in-process OTLP/HTTP receiver; the job's ``metadata.traceparent``
stands for the gateway's span (the four-process e2e covers the gateway's own).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest
from prometheus_client.openmetrics import exposition as openmetrics

from actors.broker import OutgoingMessage
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.errors import JobFailed
from actors.observability import tracing
from tests.otlp_receiver import open_receiver
from tests.pipeline import created_envelope, open_pipeline

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.otlp_receiver import ReceivedSpan, Receiver

pytestmark = pytest.mark.timeout(30)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SUBMISSION_SPAN = "00f067aa0ba902b7"
PARENT = f"00-{TRACE_ID}-{SUBMISSION_SPAN}-01"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with open_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
        assert tracing.configure_tracing("processor") is True
        try:
            yield receiver
        finally:
            tracing.shutdown_tracing()


def _handlers() -> HandlerRegistry:
    handlers = HandlerRegistry()

    async def flaky(job: JobContext) -> object:
        if job.attempt < 2:
            raise JobFailed(f"attempt {job.attempt} failed")
        return {"attempt": job.attempt}

    handlers.register("flaky", flaky, retry_backoff_s=0.01)
    return handlers


def _in_trace(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    """The spans named ``name`` in the job's trace, or linking to it."""
    return [
        s
        for s in spans
        if s.name == name
        and (s.trace_id == TRACE_ID or any(trace_id == TRACE_ID for trace_id, _ in s.links))
    ]


async def test_a_retried_jobs_spans_are_children_of_its_submission_and_linked(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = Settings(data_dir=tmp_path, prefetch=8, shutdown_s=5.0, retry_backoff_s=0.01)
    job_id = str(uuid.uuid4())
    envelope = created_envelope("flaky", job_id, metadata={tracing.TRACEPARENT: PARENT})

    def complete(spans: list[ReceivedSpan]) -> bool:
        return (
            len(_in_trace(spans, "job.run flaky")) == 2
            and len(_in_trace(spans, "job.record")) >= 2
            # the terminal event's write: after the job's last record
            and len(_in_trace(spans, "metrics.write")) >= 2
        )

    async with open_pipeline(tmp_path, settings, _handlers()) as pipeline:
        await pipeline.broker.publish_batch(
            JOBS_CREATED,
            [OutgoingMessage(body=json.dumps(envelope).encode(), message_id=str(uuid.uuid4()))],
        )
        spans = await anyio.to_thread.run_sync(lambda: receiver.wait_for(complete, timeout_s=20))
        record = await pipeline.jobs.get_job(job_id)
        exposition = openmetrics.generate_latest(pipeline.registry).decode()  # type: ignore[no-untyped-call]
    assert record is not None
    # Its latency carries its trace as an exemplar (OpenMetrics, which Prometheus scrapes).
    exemplars = [
        line
        for line in exposition.splitlines()
        if line.startswith("processor_job_processing_seconds_bucket{")
        and 'type="flaky"' in line
        and f'# {{trace_id="{TRACE_ID}"}}' in line
    ]
    assert exemplars, exposition
    # The job's record carries its trace.
    assert record.spec.metadata[tracing.TRACEPARENT] == PARENT
    assert record.to_json()["traceId"] == TRACE_ID

    runs = sorted(
        _in_trace(spans, "job.run flaky"), key=lambda s: int(str(s.attributes["job.attempt"]))
    )
    first, second = runs
    for run in runs:
        # Each attempt is its own span, a child of the submission's.
        assert (run.trace_id, run.parent_span_id) == (TRACE_ID, SUBMISSION_SPAN)
        assert run.service == "observatory-processor"
        assert run.attributes["job.id"] == job_id
    assert (first.attributes["job.attempt"], second.attributes["job.attempt"]) == (1, 2)
    assert (first.status, second.status) == ("error: attempt 1 failed", "")
    # The retry's attempt links to the attempt that failed.
    assert first.links == ()
    assert second.links == ((TRACE_ID, first.span_id),)
    # Batched work: parented on the job's trace, and linking to it.
    for name in ("job.intake", "job.record", "metrics.write"):
        found = _in_trace(spans, name)
        assert found, name
        for span in found:
            assert span.trace_id == TRACE_ID
            assert span.parent_span_id == SUBMISSION_SPAN
            assert (TRACE_ID, SUBMISSION_SPAN) in span.links
    # Store writes and the completion publish inside them.
    by_id = {s.span_id: s for s in spans}
    writes = [s for s in spans if s.name == "store.write" and s.trace_id == TRACE_ID]
    assert {by_id[s.parent_span_id].name for s in writes if s.parent_span_id in by_id} >= {
        "job.intake",
        "job.record",
        "metrics.write",
    }
    publishes = [s for s in spans if s.name == "job.completed.publish" and s.trace_id == TRACE_ID]
    assert publishes
    assert all(by_id[s.parent_span_id].name == "job.record" for s in publishes)
