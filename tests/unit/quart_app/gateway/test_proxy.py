"""Issue 16 (item 14): the gateway's compatibility routes ``GET /proxy/alerts`` and
``GET /proxy/targets``, forwarded to Alertmanager / Prometheus when configured, otherwise
answered from the read model and the known services."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import anyio
import pytest
import respx

from actors.broker.memory import MemoryBroker
from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY
from quart_app.gateway.proxy import ProxyConfig
from quart_app.gateway.service import GatewayService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    MakeGateway = Callable[..., AbstractAsyncContextManager[GatewayService]]

pytestmark = pytest.mark.timeout(30)

VIEWER = "viewer-token-0123456789abcdef"
SUBMITTER = "submitter-token-0123456789ab"
ALERTS = "alertmanager-token-0123456789"
READ_MODEL = "http://read-model.test:8080"
ALERTMANAGER = "http://alertmanager.test:9093"
PROMETHEUS = "http://prometheus.test:9090"

_READ_MODEL_ALERTS = {
    "active": [
        {
            "fingerprint": "local:DeadLettersAppearing:service=metrics-engine,severity=warning",
            "name": "DeadLettersAppearing",
            "status": "firing",
            "severity": "warning",
            "labels": {"alertname": "DeadLettersAppearing", "severity": "warning"},
            "annotations": {
                "summary": "Messages are being dead-lettered",
                "runbook_url": "http://127.0.0.1:8080/runbooks#deadlettersappearing",
            },
            "startsAt": "2026-12-06T01:00:00.000Z",
            "endsAt": None,
            "updatedAt": "2026-12-06T01:00:15.000Z",
            "source": "read-model",
        }
    ],
    "resolved": [
        {
            "fingerprint": "old",
            "name": "ActorRestartLoop",
            "status": "resolved",
            "severity": "warning",
            "labels": {"alertname": "ActorRestartLoop"},
            "annotations": {},
            "startsAt": "2026-12-06T00:00:00.000Z",
            "endsAt": "2026-12-06T00:10:00.000Z",
            "updatedAt": "2026-12-06T00:10:00.000Z",
            "source": "read-model",
        }
    ],
}


@pytest.fixture
def gateway() -> MakeGateway:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def create(config: ProxyConfig, *, ready: bool = True) -> AsyncIterator[GatewayService]:
        broker = MemoryBroker()
        await broker.declare_topology()
        settings = Settings(
            gateway_port=0,
            api_tokens={VIEWER: "viewer", SUBMITTER: "submitter", ALERTS: "alertmanager"},
        )
        service = GatewayService(broker, settings, handlers=DEFAULT_REGISTRY, proxy=config)
        if not ready:
            yield service
            return
        async with anyio.create_task_group() as tg:
            await tg.start(service.publisher.run)
            await tg.start(service.ledger.run)
            yield service
            service.publisher.request_stop()
            service.ledger.request_stop()

    return create


def _auth(token: str = VIEWER) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_alerts_are_the_read_models_active_ones_in_alertmanagers_shape(
    gateway: MakeGateway,
) -> None:
    config = ProxyConfig(read_model_url=lambda: READ_MODEL)
    async with gateway(config) as service:
        client = service.http.app.test_client()
        with respx.mock(assert_all_called=True) as mock:
            route = mock.get(f"{READ_MODEL}/alerts").respond(200, json=_READ_MODEL_ALERTS)
            response = await client.get("/proxy/alerts", headers=_auth())
        assert response.status_code == 200
        # The caller's token travels on: the read model checks it like any other.
        assert route.calls.last.request.headers["Authorization"] == f"Bearer {VIEWER}"
        assert await response.get_json() == [
            {
                "labels": {"alertname": "DeadLettersAppearing", "severity": "warning"},
                "annotations": {
                    "summary": "Messages are being dead-lettered",
                    "runbook_url": "http://127.0.0.1:8080/runbooks#deadlettersappearing",
                },
                "startsAt": "2026-12-06T01:00:00.000Z",
                "updatedAt": "2026-12-06T01:00:15.000Z",
                "fingerprint": (
                    "local:DeadLettersAppearing:service=metrics-engine,severity=warning"
                ),
                "receivers": [{"name": "read-model"}],
                "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            }
        ]


async def test_alerts_and_targets_are_forwarded_when_their_servers_are_configured(
    gateway: MakeGateway,
) -> None:
    config = ProxyConfig(
        read_model_url=lambda: READ_MODEL,
        alertmanager_url=ALERTMANAGER,
        prometheus_url=PROMETHEUS,
    )
    upstream_alerts = [
        {
            "labels": {"alertname": "ServiceDown", "job": "processor"},
            "annotations": {"summary": "processor is down"},
            "startsAt": "2026-12-06T01:00:00Z",
            "endsAt": "2026-12-06T02:00:00Z",
            "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            "receivers": [{"name": "read-model"}],
            "fingerprint": "abc",
            "updatedAt": "2026-12-06T01:00:00Z",
        }
    ]
    targets = {"status": "success", "data": {"activeTargets": [], "droppedTargets": []}}
    async with gateway(config) as service:
        client = service.http.app.test_client()
        with respx.mock(assert_all_called=True) as mock:
            alerts_route = mock.get(f"{ALERTMANAGER}/api/v2/alerts").respond(
                200, json=upstream_alerts
            )
            mock.get(f"{PROMETHEUS}/api/v1/targets").respond(200, json=targets)
            alerts = await client.get("/proxy/alerts?active=true", headers=_auth())
            forwarded = await client.get("/proxy/targets", headers=_auth())
        assert (alerts.status_code, await alerts.get_json()) == (200, upstream_alerts)
        assert alerts_route.calls.last.request.url.query == b"active=true"
        assert (forwarded.status_code, await forwarded.get_json()) == (200, targets)


async def test_an_upstream_error_answers_502(gateway: MakeGateway) -> None:
    config = ProxyConfig(read_model_url=lambda: READ_MODEL, alertmanager_url=ALERTMANAGER)
    async with gateway(config) as service:
        client = service.http.app.test_client()
        with respx.mock() as mock:
            mock.get(f"{ALERTMANAGER}/api/v2/alerts").respond(500, text="boom")
            response = await client.get("/proxy/alerts", headers=_auth())
        assert response.status_code == 502
        assert await response.get_json() == {"error": f"{ALERTMANAGER}/api/v2/alerts answered 500."}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_server_that_never_answers_is_504_and_one_that_is_away_is_502(
    gateway: MakeGateway,
) -> None:
    # Real sockets: a listener that accepts and never answers, and a port nobody listens on.
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    silent_port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def hold(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    away = f"http://127.0.0.1:{_closed_port()}"
    silent = f"http://127.0.0.1:{silent_port}"
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hold)
        for config, route, status, message in (
            (
                ProxyConfig(lambda: READ_MODEL, alertmanager_url=silent, timeout_s=0.5),
                "/proxy/alerts",
                504,
                f"{silent}/api/v2/alerts did not answer within 0.5 s.",
            ),
            (
                ProxyConfig(lambda: READ_MODEL, prometheus_url=silent, timeout_s=0.5),
                "/proxy/targets",
                504,
                f"{silent}/api/v1/targets did not answer within 0.5 s.",
            ),
            (
                ProxyConfig(lambda: READ_MODEL, prometheus_url=away),
                "/proxy/targets",
                502,
                f"{away}/api/v1/targets could not be reached",
            ),
            (
                ProxyConfig(lambda: away),
                "/proxy/alerts",
                502,
                f"{away}/alerts could not be reached",
            ),
        ):
            async with gateway(config) as service:
                response = await service.http.app.test_client().get(route, headers=_auth())
                assert response.status_code == status, route
                body = await response.get_json()
                assert body["error"].startswith(message), body
        tg.cancel_scope.cancel()
    await listener.aclose()


async def test_targets_are_the_known_services_with_their_health(gateway: MakeGateway) -> None:
    away = f"http://127.0.0.1:{_closed_port()}"
    config = ProxyConfig(
        read_model_url=lambda: READ_MODEL, services={"processor": away}, timeout_s=2.0
    )
    for ready in (True, False):
        async with gateway(config, ready=ready) as service:
            client = service.http.app.test_client()
            with respx.mock() as mock:
                mock.get(f"{READ_MODEL}/healthz").respond(200, json={"status": "ok"})
                mock.route(host="127.0.0.1").pass_through()
                response = await client.get("/proxy/targets", headers=_auth())
            assert response.status_code == 200
            body = await response.get_json()
            assert body["status"] == "success"
            assert body["data"]["droppedTargets"] == []
            targets = {t["labels"]["job"]: t for t in body["data"]["activeTargets"]}
            assert list(targets) == ["gateway", "read-model", "processor"]
            assert targets["gateway"]["health"] == ("up" if ready else "down")
            assert targets["read-model"]["health"] == "up"
            assert targets["read-model"]["scrapeUrl"] == f"{READ_MODEL}/metrics"
            assert targets["read-model"]["labels"]["instance"] == "read-model.test:8080"
            assert targets["processor"]["health"] == "down"
            assert targets["processor"]["lastError"].startswith(
                f"{away}/healthz could not be reached"
            )


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), (VIEWER, 200), (SUBMITTER, 200), (ALERTS, 403)]
)
async def test_the_compatibility_routes_need_a_token_that_may_read(
    gateway: MakeGateway, token: str | None, status: int
) -> None:
    config = ProxyConfig(read_model_url=lambda: READ_MODEL)
    async with gateway(config) as service:
        client = service.http.app.test_client()
        with respx.mock(assert_all_called=False) as mock:
            mock.get(f"{READ_MODEL}/alerts").respond(200, json=_READ_MODEL_ALERTS)
            mock.get(f"{READ_MODEL}/healthz").respond(200, json={})
            for route in ("/proxy/alerts", "/proxy/targets"):
                response = await client.get(route, headers=_auth(token) if token else {})
                assert response.status_code == status, (route, token)


async def test_the_compatibility_routes_are_documented(gateway: MakeGateway) -> None:
    async with gateway(ProxyConfig(read_model_url=lambda: READ_MODEL)) as service:
        document = await (await service.http.app.test_client().get("/openapi.json")).get_json()
    for route in ("/proxy/alerts", "/proxy/targets"):
        operation = document["paths"][route]["get"]
        assert operation["tags"] == ["compatibility"]
        assert operation["summary"].startswith("Compatibility: ")
        assert sorted(operation["responses"]) == ["200", "401", "403", "502", "504"]


def test_the_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(host="0.0.0.0", read_model_port=8088)
    for name in ("ALERTMANAGER", "PROMETHEUS", "READ_MODEL", "PROCESSOR", "METRICS_ENGINE"):
        monkeypatch.delenv(f"OBSERVATORY_{name}_URL", raising=False)
    plain = ProxyConfig.from_env(settings)
    assert (plain.alertmanager_url, plain.prometheus_url, dict(plain.services)) == (
        None,
        None,
        {},
    )
    assert plain.read_model_url() == "http://127.0.0.1:8088"
    assert ProxyConfig.from_env(settings, read_model_url=lambda: "http://x:1").read_model_url() == (
        "http://x:1"
    )
    monkeypatch.setenv("OBSERVATORY_ALERTMANAGER_URL", "http://am:9093/")
    monkeypatch.setenv("OBSERVATORY_PROMETHEUS_URL", "http://prom:9090")
    monkeypatch.setenv("OBSERVATORY_READ_MODEL_URL", "http://rm:8080")
    monkeypatch.setenv("OBSERVATORY_PROCESSOR_URL", "http://processor:8001")
    configured = ProxyConfig.from_env(settings, read_model_url=lambda: "http://x:1")
    assert configured.alertmanager_url == "http://am:9093"
    assert configured.prometheus_url == "http://prom:9090"
    assert configured.read_model_url() == "http://rm:8080"  # the variable wins
    assert dict(configured.services) == {"processor": "http://processor:8001"}
