"""Issue 19: the gateway's span per request, and the job's trace in its metadata."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.observability import tracing
from tests.otlp_receiver import open_receiver
from tests.unit.quart_app.gateway.running import running_gateway, take_published

if TYPE_CHECKING:
    from collections.abc import Iterator

    from actors.broker.memory import MemoryBroker
    from actors.stores.sqlite import SQLiteJobStore
    from tests.otlp_receiver import ReceivedSpan, Receiver

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with open_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
        assert tracing.configure_tracing("gateway") is True
        try:
            yield receiver
        finally:
            tracing.shutdown_tracing()


async def test_a_request_span_continues_the_clients_trace_and_the_job_carries_it(
    broker: MemoryBroker, jobs: SQLiteJobStore, receiver: Receiver
) -> None:
    job = {"id": str(uuid.uuid4()), "type": "echo", "metadata": {"team": "a"}}
    async with running_gateway(broker, jobs) as gateway:
        client = gateway.http.app.test_client()
        first = await client.post(
            "/jobs", json=job, headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}
        )
        # The same job again, in a trace of its own: the same job, not a conflict.
        again = await client.post("/jobs", json=job)
        [envelope] = await take_published(broker)
    assert (first.status_code, again.status_code) == (202, 202)
    metadata = envelope["payload"]["metadata"]
    assert metadata["team"] == "a"
    context = tracing.context_of(metadata[tracing.TRACEPARENT])
    assert context is not None
    assert f"{context.trace_id:032x}" == CLIENT_TRACE

    def both(spans: list[ReceivedSpan]) -> bool:
        return len(spans) >= 2

    spans = await anyio.to_thread.run_sync(lambda: receiver.wait_for(both, timeout_s=10))
    request = next(s for s in spans if s.trace_id == CLIENT_TRACE)
    assert request.name == "POST /jobs"
    assert request.service == "observatory-gateway"
    assert request.parent_span_id == CLIENT_SPAN
    assert request.span_id == f"{context.span_id:016x}"  # the job's parent is this span
    assert request.attributes["http.route"] == "/jobs"
    assert request.attributes["http.response.status_code"] == 202
    [other] = [s for s in spans if s.trace_id != CLIENT_TRACE]
    assert other.parent_span_id == ""


async def test_probes_and_scrapes_get_no_span(
    broker: MemoryBroker, jobs: SQLiteJobStore, receiver: Receiver
) -> None:
    async with running_gateway(broker, jobs) as gateway:
        client = gateway.http.app.test_client()
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code in (200, 503)
        assert (await client.get("/jobs/nope")).status_code in (404, 405)

    def one(spans: list[ReceivedSpan]) -> bool:
        return len(spans) >= 1

    spans = await anyio.to_thread.run_sync(lambda: receiver.wait_for(one, timeout_s=10))
    await anyio.sleep(0.2)  # what the exporter might still send comes within its 20 ms
    paths = [s.attributes.get("url.path") for s in receiver.spans()]
    assert paths == ["/jobs/nope"], spans


async def test_without_tracing_the_job_is_published_as_submitted(
    broker: MemoryBroker, jobs: SQLiteJobStore
) -> None:
    assert not tracing.enabled()
    async with running_gateway(broker, jobs) as gateway:
        client = gateway.http.app.test_client()
        response = await client.post(
            "/jobs",
            json={"type": "echo", "metadata": {"team": "a"}},
            headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"},
        )
        [envelope] = await take_published(broker)
    assert response.status_code == 202
    assert envelope["payload"]["metadata"] == {"team": "a"}
