"""The read model's Quart app over the embedded stores."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import jsonschema_rs
import pytest

from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.events import Envelope, EventType, Producer
from actors.domain.handlers import DEFAULT_REGISTRY, JobContext
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from contracts import SchemaName, get_contracts
from quart_app.read_model.service import ReadModelService
from quart_app.read_model.types import JOB_TYPES_SCHEMA

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quart.typing import TestClientProtocol

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def read_model(tmp_path: Path) -> AsyncIterator[tuple[ReadModelService, list[str]]]:
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        counters = MemoryCounters()
        ids: list[str] = []
        producer = Producer("test", "test-1", "0.0.0")
        for index in range(15):
            spec = JobSpec(
                id=str(uuid.uuid4()),
                type="echo" if index % 3 else "fail",
                created_at=f"2026-01-01T00:00:{index:02d}.000000Z",
                correlation_id=str(uuid.uuid4()),
                payload={"n": index},
            )
            ids.append(spec.id)
            status = JobStatus.COMPLETED if index % 3 else JobStatus.FAILED
            await jobs.apply_transitions(
                [
                    JobTransition(spec, JobStatus.VALIDATED, spec.created_at),
                    JobTransition(spec, status, spec.created_at, result={"n": index}),
                ]
            )
            envelope = Envelope(
                EventType.VALIDATED,
                str(uuid.uuid4()),
                utc_now(),
                producer,
                spec.correlation_id,
                spec.id,
                {
                    "id": spec.id,
                    "type": spec.type,
                    "status": "VALIDATED",
                    "createdAt": spec.created_at,
                },
            )
            await events.append([envelope])
            await counters.apply([envelope])
        service = ReadModelService(
            jobs,
            events,
            dead,
            counters,
            Settings(read_model_port=0, cors_origins=("http://dash.example",)),
            handlers=DEFAULT_REGISTRY,
        )
        yield service, ids


def _client(service: ReadModelService) -> TestClientProtocol:
    return service.http.app.test_client()


async def test_recent_jobs_are_newest_first_with_filters_and_paging(
    read_model: tuple[ReadModelService, list[str]],
) -> None:
    service, ids = read_model
    client = _client(service)
    first_page = await (await client.get("/jobs/recent")).get_json()
    assert [job["id"] for job in first_page] == list(reversed(ids))[:10]
    second_page = await (await client.get("/jobs/recent?limit=10&offset=10")).get_json()
    assert [job["id"] for job in second_page] == list(reversed(ids))[10:]
    failed = await (await client.get("/jobs/recent?status=failed&limit=500")).get_json()
    assert {job["status"] for job in failed} == {"FAILED"}
    assert len(failed) == 5
    echo = await (await client.get("/jobs/recent?type=echo&limit=500")).get_json()
    assert len(echo) == 10


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "Query parameter 'limit' must be between 1 and 500, got 0."),
        ("limit=501", "Query parameter 'limit' must be between 1 and 500, got 501."),
        ("limit=ten", "Query parameter 'limit' must be an integer, got 'ten'."),
        (
            "status=DONE",
            "Unknown status 'DONE'; expected one of PENDING, VALIDATED, EXECUTING, COMPLETED, FAILED.",
        ),
    ],
)
async def test_bad_query_parameters_get_400(
    read_model: tuple[ReadModelService, list[str]], query: str, message: str
) -> None:
    response = await _client(read_model[0]).get(f"/jobs/recent?{query}")
    assert response.status_code == 400
    body = await response.get_json()
    assert get_contracts().issues(SchemaName.ERROR, body) == []
    assert body["details"][0]["message"] == message


async def test_job_detail_has_outcome_and_events_and_unknown_ids_404(
    read_model: tuple[ReadModelService, list[str]],
) -> None:
    service, ids = read_model
    client = _client(service)
    detail = await (await client.get(f"/jobs/{ids[1]}")).get_json()
    assert detail["status"] == "COMPLETED"
    assert detail["result"] == {"n": 1}
    assert [e["eventType"] for e in detail["events"]] == ["job.validated"]
    missing = await client.get(f"/jobs/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert (await missing.get_json())["error"].startswith("No job with id")


async def test_stats_match_the_contract(read_model: tuple[ReadModelService, list[str]]) -> None:
    stats = await (await _client(read_model[0]).get("/stats")).get_json()
    assert get_contracts().issues(SchemaName.STATS, stats) == []
    assert stats["totalJobs"] == 15
    assert stats["byType"]["fail"]["total"] == 5


async def test_cors_allows_configured_origins_including_preflight(
    read_model: tuple[ReadModelService, list[str]],
) -> None:
    client = _client(read_model[0])
    preflight = await client.options(
        "/stats",
        headers={"Origin": "http://dash.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://dash.example"
    allowed = await client.get("/stats", headers={"Origin": "http://dash.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://dash.example"
    other = await client.get("/stats", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_openapi_documents_every_route(
    read_model: tuple[ReadModelService, list[str]],
) -> None:
    app = read_model[0].http.app
    document = await (await app.test_client().get("/openapi.json")).get_json()
    routes = {
        (
            rule.rule.replace("<job_id>", "{jobId}")
            .replace("<name>", "{name}")
            .replace("<schedule_id>", "{scheduleId}"),
            method.lower(),
        )
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS") and rule.endpoint != "static"
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented


def _webhook(status: str, *alerts: tuple[str, str, str]) -> dict[str, object]:
    return {
        "version": "4",
        "status": status,
        "receiver": "read-model",
        "groupKey": "{}:{alertname}",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": severity, "service": "processor"},
                "annotations": {"summary": f"{name} summary"},
                "startsAt": "2026-11-27T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T10:05:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": fingerprint,
            }
            for name, severity, fingerprint in alerts
        ],
    }


async def test_alertmanager_webhook_feeds_get_alerts(
    read_model: tuple[ReadModelService, list[str]],
) -> None:
    client = _client(read_model[0])
    firing = _webhook(
        "firing",
        ("JobFailureRateHigh", "warning", "aaa1"),
        ("RabbitMQUnreachable", "critical", "bbb2"),
    )
    response = await client.post("/webhooks/alertmanager", json=firing)
    assert response.status_code == 200
    assert (await response.get_json()) == {"received": 2}

    alerts = await (await client.get("/alerts")).get_json()
    assert get_contracts().issues(SchemaName.ALERTS, alerts) == []
    assert [a["name"] for a in alerts["active"]] == ["RabbitMQUnreachable", "JobFailureRateHigh"]
    assert alerts["active"][0]["endsAt"] is None
    assert alerts["resolved"] == []

    resolved = _webhook("resolved", ("RabbitMQUnreachable", "critical", "bbb2"))
    assert (await client.post("/webhooks/alertmanager", json=resolved)).status_code == 200
    alerts = await (await client.get("/alerts")).get_json()
    assert [a["name"] for a in alerts["active"]] == ["JobFailureRateHigh"]
    assert [(a["name"], a["status"], a["endsAt"]) for a in alerts["resolved"]] == [
        ("RabbitMQUnreachable", "resolved", "2026-11-27T10:05:00Z")
    ]


async def test_a_malformed_webhook_is_refused_with_its_paths(
    read_model: tuple[ReadModelService, list[str]],
) -> None:
    client = _client(read_model[0])
    bad = _webhook("firing", ("X", "warning", "f1"))
    alerts = bad["alerts"]
    assert isinstance(alerts, list)
    del alerts[0]["labels"]["alertname"]
    response = await client.post("/webhooks/alertmanager", json=bad)
    assert response.status_code == 400
    paths = [d["path"] for d in (await response.get_json())["details"]]
    assert paths == ["/alerts/0/labels/alertname"]
    assert (await (await client.get("/alerts")).get_json())["active"] == []


async def test_the_dashboard_and_launcher_pages_are_served_with_their_assets(
    read_model: tuple[ReadModelService, list[str]],
) -> None:
    service, _ = read_model
    client = _client(service)
    page = await client.get("/")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert '<script type="module" src="/static/app.js">' in html
    assert "http" not in html.replace("http-equiv", "").split("<body>")[0].replace(
        "http://www.w3.org", ""
    )  # nothing in the head comes from elsewhere
    for asset in ("/static/app.js", "/static/task_types.js", "/static/style.css", "/launcher.html"):
        response = await client.get(asset)
        assert response.status_code == 200, asset
    script = await (await client.get("/static/app.js")).get_data(as_text=True)
    assert "https://" not in script  # no CDN, no third-party call


async def test_throughput_and_the_stream_limit(
    read_model: tuple[ReadModelService, list[str]], tmp_path: Path
) -> None:
    service, _ = read_model
    client = _client(service)
    throughput = await (await client.get("/stats/throughput")).get_json()
    assert throughput == {
        "bucketSeconds": 30,
        "windowSeconds": 900,
        "buckets": [],
        "perSecond": 0.0,
    }
    service.feed.max_clients = 0
    refused = await client.get("/stream")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "Poll" in (await refused.get_json())["error"]


async def test_config_names_the_gateway_the_service_was_given(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        service = ReadModelService(
            jobs,
            events,
            dead,
            MemoryCounters(),
            Settings(read_model_port=0),
            handlers=DEFAULT_REGISTRY,
            gateway_url=lambda: "http://127.0.0.1:43210",
        )
        config = await (await _client(service).get("/config")).get_json()
        assert config["gatewayUrl"] == "http://127.0.0.1:43210"
        assert config["role"] is None  # no tokens: every request is allowed
        assert config["traceUrl"] is None  # no OBSERVATORY_TRACE_URL


async def test_config_names_the_trace_viewer_of_observatory_trace_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = "http://127.0.0.1:16686/trace/{traceId}"
    monkeypatch.setenv("OBSERVATORY_TRACE_URL", template)
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        settings = Settings.from_env(read_model_port=0)
        service = ReadModelService(
            jobs, events, dead, MemoryCounters(), settings, handlers=DEFAULT_REGISTRY
        )
        config = await (await _client(service).get("/config")).get_json()
    assert config["traceUrl"] == template


async def test_config_names_the_role_of_the_token_presented(tmp_path: Path) -> None:
    viewer, submitter = "viewer-token-0123456789abcdef", "submitter-token-0123456789abcdef"
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        settings = Settings(
            read_model_port=0, api_tokens={viewer: "viewer", submitter: "submitter"}
        )
        service = ReadModelService(
            jobs, events, dead, MemoryCounters(), settings, handlers=DEFAULT_REGISTRY
        )
        client = _client(service)
        roles = [
            (
                await (
                    await client.get("/config", headers={"Authorization": f"Bearer {t}"})
                ).get_json()
            )["role"]
            for t in (viewer, submitter)
        ]
    assert roles == ["viewer", "submitter"]


async def test_types_describe_each_registered_type_with_its_schema_and_options(
    tmp_path: Path,
) -> None:
    handlers = DEFAULT_REGISTRY.copy()
    schema: dict[str, object] = {"type": "object", "required": ["width"]}

    def resize(job: JobContext) -> object:
        """Halve the width.

        More text that is not the summary.
        """
        return {}

    handlers.register(
        "resize", resize, payload_schema=schema, timeout_s=2.5, max_attempts=4, concurrency=2
    )
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        service = ReadModelService(
            jobs, events, dead, MemoryCounters(), Settings(read_model_port=0), handlers=handlers
        )
        client = _client(service)
        types = await (await client.get("/types")).get_json()
        config = await (await client.get("/config")).get_json()

    assert [entry["type"] for entry in types] == handlers.types() == config["jobTypes"]
    by_type = {entry["type"]: entry for entry in types}
    assert by_type["resize"] == {
        "type": "resize",
        "description": "Halve the width.",
        "mode": "thread",
        "payloadSchema": schema,
        "timeoutS": 2.5,
        "maxAttempts": 4,
        "retryBackoffS": None,
        "concurrency": 2,
        "rateLimitPerS": None,
    }
    assert by_type["echo"]["mode"] == "async"
    assert by_type["echo"]["payloadSchema"] is None
    assert by_type["echo"]["description"] == "Return the payload unchanged."
    validator = jsonschema_rs.validator_for(JOB_TYPES_SCHEMA)
    assert validator.is_valid(types)
