"""``serve processor`` shows the handler types it serves; ``serve gateway`` checks them
only when told the apps (no server is contacted: the apps are queried before start)."""

from __future__ import annotations

import pytest

from actors.config.settings import Settings
from actors.domain.handlers import HandlerRegistry, JobContext
from launcher.serve import ServiceProcess

pytestmark = pytest.mark.timeout(30)


async def _run(job: JobContext) -> object:
    return None


def _handlers() -> HandlerRegistry:
    handlers = HandlerRegistry()
    handlers.register("resize", _run)
    handlers.register("thumbnail", _run)
    return handlers


async def test_the_processor_lists_its_handler_types_in_healthz_and_metrics() -> None:
    service = ServiceProcess("processor", Settings(processor_port=0), handlers=_handlers())
    client = service.http.app.test_client()

    health = await (await client.get("/healthz")).get_json()
    metrics = await (await client.get("/metrics")).get_data(as_text=True)

    assert health["handlerTypes"] == ["resize", "thumbnail"]
    assert 'processor_handler_types{type="resize"} 1.0' in metrics
    assert 'processor_handler_types{type="thumbnail"} 1.0' in metrics


@pytest.mark.parametrize(("check_types", "status"), [(True, 400), (False, 503)])
async def test_the_gateway_refuses_unknown_types_only_when_told_the_apps(
    check_types: bool, status: int
) -> None:
    service = ServiceProcess(
        "gateway", Settings(gateway_port=0), handlers=_handlers(), check_types=check_types
    )
    client = service.http.app.test_client()

    # Not connected to RabbitMQ: a job it would take is answered 503, one it refuses 400.
    response = await client.post("/jobs", json={"type": "nope"})

    assert response.status_code == status
