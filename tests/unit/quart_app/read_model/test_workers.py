"""``GET /workers``: alive, stopped and gone workers from the registry's beats."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jsonschema_rs
import pytest

from actors.errors import StoreUnavailable
from actors.observability.prometheus import create_registry
from actors.stores.workers import MemoryWorkerRegistry, WorkerSighting
from contracts import SchemaName, get_contracts
from quart_app.read_model.workers import WORKERS_SCHEMA, install_workers_route
from tests.unit.quart_app.read_model.bare_app import bare_read_model_app

if TYPE_CHECKING:
    from quart import Quart

pytestmark = pytest.mark.timeout(20)

_NOW = 1_000_000.0


def _beat(worker_id: str, **changes: object) -> dict[str, object]:
    beat: dict[str, object] = {
        "id": worker_id,
        "service": "processor",
        "host": "host",
        "pid": 7,
        "version": "1.0.0",
        "startedAt": "2026-01-01T00:00:00.000000Z",
        "intervalS": 1.0,
        "state": "running",
        "handlerTypes": ["echo"],
        "inFlight": [{"jobId": "job-1", "type": "echo"}],
        "inFlightCount": 1,
        "done": 3,
        "failed": 1,
        "actors": [{"path": "processor/executor", "state": "running", "restarts": 0}],
    }
    beat.update(changes)
    return beat


def _app(workers: object, registry: object = None) -> Quart:
    app = bare_read_model_app()
    install_workers_route(
        app,
        workers,  # type: ignore[arg-type]
        keep_s=3600.0,
        registry=registry,  # type: ignore[arg-type]
        clock=lambda: _NOW,
    )
    return app


async def test_workers_are_alive_stopped_or_gone_with_when_last_seen() -> None:
    workers = MemoryWorkerRegistry()
    await workers.beat("processor-a", _beat("processor-a"), seen_at=_NOW - 2.5)
    await workers.beat("processor-b", _beat("processor-b"), seen_at=_NOW - 3.5)
    await workers.beat("processor-c", _beat("processor-c", state="stopped"), seen_at=_NOW - 1)
    engine = _beat("metrics-engine-a", service="metrics-engine", handlerTypes=[], inFlight=[])
    await workers.beat("metrics-engine-a", engine, seen_at=_NOW - 0.25)
    await workers.beat("processor-old", _beat("processor-old"), seen_at=_NOW - 3601)
    registry = create_registry()

    response = await _app(workers, registry).test_client().get("/workers")

    assert response.status_code == 200
    body = await response.get_json()
    jsonschema_rs.validator_for(WORKERS_SCHEMA).validate(body)
    assert (body["alive"], body["gone"]) == (2, 2)
    listed = [(w["id"], w["status"], w["secondsSinceSeen"]) for w in body["workers"]]
    assert listed == [
        ("metrics-engine-a", "alive", 0.25),
        ("processor-a", "alive", 2.5),  # within 3 intervals of 1 s
        ("processor-c", "stopped", 1.0),
        ("processor-b", "gone", 3.5),
    ]
    gone = body["workers"][3]
    assert gone["inFlight"] == [{"jobId": "job-1", "type": "echo"}], "the jobs it held"
    assert gone["lastSeenAt"] == "1970-01-12T13:46:36.500000Z"
    assert registry.get_sample_value("observatory_workers_alive", {"service": "processor"}) == 1
    assert (
        registry.get_sample_value("observatory_workers_alive", {"service": "metrics-engine"}) == 1
    )


async def test_workers_answer_503_while_the_registry_is_away() -> None:
    class Away:
        async def sightings(self, *, since: float) -> list[WorkerSighting]:
            raise StoreUnavailable("The Redis worker registry is away.")

    response = await _app(Away()).test_client().get("/workers")

    assert response.status_code == 503
    assert get_contracts().issues(SchemaName.ERROR, await response.get_json()) == []
