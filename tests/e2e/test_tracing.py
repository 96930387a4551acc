"""Issue 19, items 1-3: one job is one trace across the four processes.

``observatory up --infra local`` against the real servers, with
``OTEL_EXPORTER_OTLP_ENDPOINT`` naming an OTLP/HTTP receiver in this test (the collector
is a service we do not run): a job submitted to the gateway yields spans from the
gateway (its request), the processor (intake, the handler, the store writes, the
completion publish) and the metrics engine (its writes), all in the trace whose id
``GET /jobs/{id}`` answers, each the child of the request's span or linked to it; a
job retried gets a span per attempt, the second linked to the first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import LOCAL_ARGS, _factory
from tests.otlp_receiver import open_receiver

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import httpx

    from tests.e2e.conftest import RunningObservatory
    from tests.otlp_receiver import ReceivedSpan, Receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with open_receiver() as receiver:
        yield receiver


@pytest.fixture
def traced(
    servers_env: dict[str, str], tmp_path: Path, receiver: Receiver
) -> Iterator[RunningObservatory]:
    """The four processes, tracing to ``receiver``."""
    env = {
        **servers_env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with _factory(tmp_path, extra=LOCAL_ARGS, env=env) as create:
        yield create()


def _job(http: httpx.Client, read_model: str, job_id: str) -> dict[str, object]:
    response = http.get(f"{read_model}/jobs/{job_id}")
    return response.json() if response.status_code == 200 else {}


def _of_trace(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    """The spans in the trace or linking to it."""
    return [s for s in spans if s.trace_id == trace_id or any(t == trace_id for t, _ in s.links)]


def test_one_job_is_one_trace_across_the_four_processes_and_retries_are_linked(
    traced: RunningObservatory,
    receiver: Receiver,
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    gateway, read_model = traced.gateway, traced.read_model
    job_id = http.post(f"{gateway}/jobs", json={"type": "echo"}).json()["jobId"]
    failing = http.post(
        f"{gateway}/jobs",
        json={"type": "fail", "payload": {"message": "no"}, "metadata": {"maxAttempts": 2}},
    ).json()["jobId"]
    wait_until(
        lambda: (
            _job(http, read_model, job_id).get("status") == "COMPLETED"
            and _job(http, read_model, failing).get("status") == "FAILED"
        ),
        timeout_s=60,
        message=lambda: f"{_job(http, read_model, job_id)} {_job(http, read_model, failing)}",
    )
    job = _job(http, read_model, job_id)
    trace_id = job["traceId"]
    assert isinstance(trace_id, str)
    assert len(trace_id) == 32
    metadata = job["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["traceparent"].split("-")[1] == trace_id

    def whole(spans: list[ReceivedSpan]) -> bool:
        names = {(s.service, s.name) for s in _of_trace(spans, trace_id)}
        return {
            ("observatory-gateway", "POST /jobs"),
            ("observatory-processor", "job.intake"),
            ("observatory-processor", "job.run echo"),
            ("observatory-processor", "job.record"),
            ("observatory-processor", "store.write"),
            ("observatory-processor", "job.completed.publish"),
            ("observatory-metrics-engine", "metrics.write"),
        } <= names

    spans = receiver.wait_for(whole, timeout_s=60)
    ours = _of_trace(spans, trace_id)
    [request] = [s for s in ours if s.name == "POST /jobs"]
    assert request.parent_span_id == ""  # the client sent no traceparent: the root
    assert request.attributes["http.response.status_code"] == 202
    [run] = [s for s in ours if s.name == "job.run echo"]
    assert (run.trace_id, run.parent_span_id) == (trace_id, request.span_id)
    assert run.attributes["job.id"] == job_id
    assert run.attributes["job.attempt"] == 1
    for span in ours:
        if span.name in ("job.intake", "job.record", "metrics.write"):
            # Batched: in the trace of the first job it serves, linked to every job's.
            assert (trace_id, request.span_id) in span.links, span

    # The failing job: its own trace, one span per attempt, the second linked to the first.
    failed = _job(http, read_model, failing)
    failed_trace = failed["traceId"]
    assert isinstance(failed_trace, str)
    assert failed_trace != trace_id

    def both_attempts(spans: list[ReceivedSpan]) -> bool:
        return len([s for s in spans if s.name == "job.run fail"]) == 2

    attempts = sorted(
        (s for s in receiver.wait_for(both_attempts, timeout_s=60) if s.name == "job.run fail"),
        key=lambda s: str(s.attributes["job.attempt"]),
    )
    first, second = attempts
    assert (first.attributes["job.attempt"], second.attributes["job.attempt"]) == (1, 2)
    assert {first.trace_id, second.trace_id} == {failed_trace}
    assert first.parent_span_id == second.parent_span_id  # both children of the request
    assert second.links == ((failed_trace, first.span_id),)
    assert first.status == second.status == "error: no"
