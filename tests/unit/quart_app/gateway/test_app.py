"""The gateway's Quart app, driven through Quart's test client over the embedded broker."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY
from contracts import SchemaName, get_contracts
from quart_app.gateway.service import GatewayService
from tests.unit.quart_app.gateway.running import running_gateway, take_published

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from actors.broker.memory import MemoryBroker

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def gateway(broker: MemoryBroker) -> AsyncIterator[GatewayService]:
    async with running_gateway(broker, max_body_bytes=1024) as service:
        yield service


async def test_accepted_job_is_published_as_a_job_created_envelope(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    response = await client.post(
        "/jobs",
        json={"type": "echo", "payload": {"x": 1}},
        headers={"X-Correlation-Id": "0b7f5c56-41a4-4d8b-9bd2-0d1c7e6b4a10"},
    )
    assert response.status_code == 202
    accepted = await response.get_json()
    assert get_contracts().issues(SchemaName.JOB_ACCEPTED, accepted) == []
    assert response.headers["X-Correlation-Id"] == "0b7f5c56-41a4-4d8b-9bd2-0d1c7e6b4a10"

    [envelope] = await take_published(broker)
    assert get_contracts().issues(SchemaName.EVENT_ENVELOPE, envelope) == []
    assert envelope["eventType"] == "job.created"
    assert envelope["eventId"] == accepted["eventId"]
    assert envelope["correlationId"] == "0b7f5c56-41a4-4d8b-9bd2-0d1c7e6b4a10"
    assert envelope["idempotencyKey"] == accepted["jobId"]
    job = envelope["payload"]
    assert isinstance(job, dict)
    assert get_contracts().issues(SchemaName.JOB, job) == []
    assert (job["id"], job["type"], job["status"], job["payload"]) == (
        accepted["jobId"],
        "echo",
        "PENDING",
        {"x": 1},
    )


async def test_a_correlation_token_that_is_not_a_uuid_still_correlates(
    gateway: GatewayService,
) -> None:
    client = gateway.http.app.test_client()
    first = await client.post("/jobs", json={"type": "echo"}, headers={"X-Correlation-Id": "abc"})
    second = await client.post("/jobs", json={"type": "echo"}, headers={"X-Correlation-Id": "abc"})
    assert first.headers["X-Correlation-Id"] == second.headers["X-Correlation-Id"]


async def test_bad_input_gets_every_problem_and_nothing_is_published(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    response = await client.post(
        "/jobs", json={"type": "no spaces allowed", "id": "nope", "payload": [], "extra": 1}
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == "The job does not match the job-submission contract: 4 problem(s)."
    assert [d["path"] for d in body["details"]] == ["/extra", "/id", "/payload", "/type"]

    wrong_media = await client.post("/jobs", data="{}", headers={"Content-Type": "text/plain"})
    assert wrong_media.status_code == 415
    assert (await wrong_media.get_json())["error"].startswith("Content type 'text/plain'")

    too_big = await client.post("/jobs", json={"type": "echo", "payload": {"x": "y" * 2000}})
    assert too_big.status_code == 413
    assert too_big.headers["Connection"] == "close"

    not_json = await client.post(
        "/jobs", data=b"[1, 2", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert (await not_json.get_json())["details"][0]["path"] == ""
    assert await take_published(broker) == []

    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'gateway_jobs_rejected_total{status="400"} 2.0' in metrics
    assert "gateway_jobs_accepted_total 0.0" in metrics


async def test_a_body_nested_deeper_than_the_limit_is_400_naming_where(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    nested: object = "bottom"
    for _ in range(Settings().max_json_depth + 1):  # payload's levels plus the job's: over
        nested = [nested]
    deep = await client.post("/jobs", json={"type": "echo", "payload": {"x": nested}})
    # Brackets inside strings are not nesting: many of them, shallow, pass.
    shallow = await client.post("/jobs", json={"type": "echo", "payload": {"x": "[{" * 100}})

    assert deep.status_code == 400
    body = await deep.get_json()
    assert body["error"].startswith("The body is nested too deeply: Nested more than 33 levels")
    assert body["details"][0]["path"].startswith("/payload/x/0/0/")
    assert shallow.status_code == 202, await shallow.get_data(as_text=True)
    [published] = await take_published(broker)
    assert published["payload"]["payload"] == {"x": "[{" * 100}


async def test_healthz_is_503_until_the_publisher_runs(broker: MemoryBroker) -> None:
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY)
    client = service.http.app.test_client()
    response = await client.get("/healthz")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["status"] == "unavailable"
    assert "gateway/publisher" in body["unhealthy"]
    assert (await client.get("/readyz")).status_code == 200

    async with anyio.create_task_group() as tg:
        await tg.start(service.publisher.run)
        await tg.start(service.ledger.run)
        await tg.start(service.confirmer.run)
        ready = await client.get("/healthz")
        assert ready.status_code == 200
        assert "gateway/publisher" in [a["path"] for a in (await ready.get_json())["actors"]]
        service.publisher.request_stop()
        service.ledger.request_stop()
        service.confirmer.request_stop()


async def test_submissions_while_the_publisher_is_down_get_503(broker: MemoryBroker) -> None:
    service = GatewayService(
        broker, Settings(gateway_port=0, publish_timeout_s=0.2), handlers=DEFAULT_REGISTRY
    )
    client = service.http.app.test_client()
    response = await client.post("/jobs", json={"type": "echo"})
    assert response.status_code == 503
    assert "nothing was accepted" in (await response.get_json())["error"]


async def test_metrics_use_the_prometheus_content_type_and_seed_names(
    gateway: GatewayService,
) -> None:
    client = gateway.http.app.test_client()
    await client.post("/jobs", json={"type": "echo"})
    response = await client.get("/metrics")
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    text = await response.get_data(as_text=True)
    assert 'gateway_jobs_submitted_total{type="echo"} 1.0' in text
    assert "gateway_jobs_accepted_total 1.0" in text


async def test_issue_19_metrics_speak_openmetrics_when_asked_as_prometheus_asks(
    gateway: GatewayService,
) -> None:
    client = gateway.http.app.test_client()
    await client.post("/jobs", json={"type": "echo"})
    response = await client.get(
        "/metrics",
        headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"},
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await response.get_data(as_text=True)
    assert 'gateway_jobs_submitted_total{type="echo"} 1.0' in text
    assert text.endswith("# EOF\n")


async def test_openapi_documents_every_route(gateway: GatewayService) -> None:
    app = gateway.http.app
    client = app.test_client()
    document = await (await client.get("/openapi.json")).get_json()
    assert document["openapi"] == "3.1.0"

    def openapi_path(rule: str) -> str:
        # Quart's <dead_letter_id> is OpenAPI's {deadLetterId}.
        return re.sub(
            r"<(\w+)>",
            lambda m: "{" + re.sub(r"_(\w)", lambda c: c[1].upper(), m[1]) + "}",
            rule,
        )

    routes = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS") and rule.endpoint != "static"
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/jobs" in await docs.get_data(as_text=True)


async def test_a_batch_publishes_the_valid_jobs_and_reports_each_in_order(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    batch = [
        {"type": "echo", "payload": {"n": 1}},
        {"type": "bad type"},
        {"type": "compute", "payload": {"rounds": 10}},
    ]
    response = await client.post("/jobs/batch", json=batch)
    assert response.status_code == 202
    body = await response.get_json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    first, bad, third = body["results"]
    contracts = get_contracts()
    assert contracts.issues(SchemaName.JOB_ACCEPTED, first) == []
    assert contracts.issues(SchemaName.JOB_ACCEPTED, third) == []
    assert contracts.issues(SchemaName.ERROR, bad) == []
    assert [d["path"] for d in bad["details"]] == ["/type"]
    # Packed: one message carries both envelopes, as a JSON array, in order.
    [packed] = await take_published(broker)
    assert isinstance(packed, list)
    assert [e["eventId"] for e in packed] == [first["eventId"], third["eventId"]]
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert "gateway_jobs_accepted_total 2.0" in metrics


async def test_a_large_batch_is_published_in_packs_of_at_most_fifty_envelopes(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    response = await client.post(
        "/jobs/batch", json=[{"type": "echo", "payload": {"n": n}} for n in range(120)]
    )
    assert response.status_code == 202
    accepted = [r["eventId"] for r in (await response.get_json())["results"]]
    published = await take_published(broker)
    assert [len(pack) for pack in published] == [50, 50, 20]
    assert [e["eventId"] for pack in published for e in pack] == accepted
    assert [e["payload"]["payload"]["n"] for pack in published for e in pack] == list(range(120))
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert "gateway_jobs_accepted_total 120.0" in metrics


async def test_a_batch_must_be_a_bounded_non_empty_array(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    assert (await client.post("/jobs/batch", json={"type": "echo"})).status_code == 400
    assert (await client.post("/jobs/batch", json=[])).status_code == 400
    all_bad = await client.post("/jobs/batch", json=[{"type": "?"}, {"nope": 1}])
    assert all_bad.status_code == 400
    assert (await all_bad.get_json())["accepted"] == 0
    too_many = await client.post("/jobs/batch", json=[{"type": "echo"}] * 1001)
    assert too_many.status_code == 413
    assert (await too_many.get_json())["error"] == (
        "The batch holds 1001 jobs; at most 1000 are accepted per request."
    )
    assert await take_published(broker) == []


async def test_request_durations_are_recorded_by_route_pattern(gateway: GatewayService) -> None:
    client = gateway.http.app.test_client()
    await client.post("/jobs", json={"type": "echo"})
    await client.get("/nowhere/123")
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert (
        'http_request_duration_seconds_count{method="POST",route="/jobs",service="gateway",'
        'status="202"} 1.0'
    ) in text
    assert 'route="unmatched"' in text
    assert "/nowhere/123" not in text
