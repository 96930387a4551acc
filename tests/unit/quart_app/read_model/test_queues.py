"""``GET /queues`` over the embedded broker: depth, consumers and rates per queue; how
RabbitMQ's samples (management API or passive declares) are answered.

The management API's and the passive declares' own behaviour against the real RabbitMQ:
``tests/integration/test_queues_management.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jsonschema_rs
import pytest

from actors.broker import OutgoingMessage
from actors.broker.memory import open_memory_broker
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED, JOBS_DEAD_LETTER
from actors.errors import BrokerUnavailable
from contracts import SchemaName, get_contracts
from quart_app.read_model.queues import (
    QUEUES_SCHEMA,
    MemoryQueueInspector,
    QueueInspector,
    QueueSample,
    QueueSource,
    RateTracker,
    install_queues_route,
)
from tests.unit.quart_app.read_model.bare_app import bare_read_model_app

if TYPE_CHECKING:
    from quart import Quart

pytestmark = pytest.mark.timeout(20)


def _app(inspector: QueueInspector | None, tracker: RateTracker) -> Quart:
    app = bare_read_model_app()
    install_queues_route(app, inspector, tracker=tracker)
    return app


def _messages(count: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(body=b"{}", message_id=f"m-{i}") for i in range(count)]


async def test_queues_show_depth_consumers_and_rates_between_calls() -> None:
    now = [100.0]
    tracker = RateTracker(clock=lambda: now[0])
    async with open_memory_broker(None) as broker:
        await broker.declare_topology()
        client = _app(MemoryQueueInspector(broker), tracker).test_client()
        await broker.publish_batch(JOBS_CREATED, _messages(4))

        first = await (await client.get("/queues")).get_json()
        jsonschema_rs.validator_for(QUEUES_SCHEMA).validate(first)
        assert [q["name"] for q in first] == [JOBS_COMPLETED, JOBS_CREATED, JOBS_DEAD_LETTER]
        created = first[1]
        assert created["source"] == "embedded"
        assert (created["depth"], created["ready"], created["unacked"]) == (4, 4, 0)
        assert created["publishPerS"] is None, "no rate before a second sample"

        async with broker.open_consumer(JOBS_CREATED, prefetch=8) as consumer:
            taken = await consumer.receive_batch(3)
            await consumer.ack(taken[:2])
            await broker.publish_batch(JOBS_CREATED, _messages(6))
            now[0] += 2.0
            second = await (await client.get("/queues")).get_json()

    jsonschema_rs.validator_for(QUEUES_SCHEMA).validate(second)
    created = second[1]
    assert created["consumers"] == 1
    assert (created["ready"], created["unacked"], created["depth"]) == (7, 1, 8)
    assert created["publishPerS"] == 3.0  # 6 published in 2 s
    assert created["deliverPerS"] == 1.5  # 3 delivered in 2 s
    assert created["depthChangePerS"] == 1.5  # ready 4 -> 7
    assert second[0]["publishPerS"] == 0.0


async def test_rabbitmq_fallback_samples_leave_unacked_and_rates_unknown() -> None:
    now = [0.0]
    tracker = RateTracker(clock=lambda: now[0])
    tracker.to_json([QueueSample("jobs.retry.5s", ready=10, consumers=0, source=QueueSource.AMQP)])
    now[0] = 4.0

    (entry,) = tracker.to_json(
        [QueueSample("jobs.retry.5s", ready=2, consumers=0, source=QueueSource.AMQP)]
    )

    jsonschema_rs.validator_for(QUEUES_SCHEMA).validate([entry])
    assert entry == {
        "name": "jobs.retry.5s",
        "source": "amqp",
        "depth": 2,
        "ready": 2,
        "unacked": None,
        "delayed": None,
        "consumers": 0,
        "publishPerS": None,
        "deliverPerS": None,
        "depthChangePerS": -2.0,
    }


def test_management_samples_answer_rabbitmqs_own_rates_from_the_first_call() -> None:
    now = [0.0]
    tracker = RateTracker(clock=lambda: now[0])

    def sample(ready: int, publish: float | None) -> QueueSample:
        return QueueSample(
            "jobs.created",
            ready=ready,
            consumers=2,
            source=QueueSource.MANAGEMENT,
            unacked=3,
            publish_per_s=publish,
            deliver_per_s=0.0,
        )

    (first,) = tracker.to_json([sample(ready=10, publish=12.5)])
    now[0] = 2.0
    (second,) = tracker.to_json([sample(ready=4, publish=None)])

    jsonschema_rs.validator_for(QUEUES_SCHEMA).validate([first, second])
    assert first == {
        "name": "jobs.created",
        "source": "management",
        "depth": 13,
        "ready": 10,
        "unacked": 3,
        "delayed": None,
        "consumers": 2,
        "publishPerS": 12.5,
        "deliverPerS": 0.0,
        "depthChangePerS": None,
    }
    # RabbitMQ's rates as they are (None: it keeps none); the depth's change is computed.
    assert (second["publishPerS"], second["deliverPerS"], second["depthChangePerS"]) == (
        None,
        0.0,
        -3.0,
    )


def test_the_schema_names_every_source() -> None:
    items = QUEUES_SCHEMA["items"]
    assert isinstance(items, dict)
    assert "source" in items["required"]
    assert items["properties"]["source"]["enum"] == ["embedded", "management", "amqp"]


@pytest.mark.parametrize("away", [None, "broker"])
async def test_queues_answer_503_without_a_broker_to_ask(away: str | None) -> None:
    class Away:
        async def sample(self) -> list[QueueSample]:
            raise BrokerUnavailable("RabbitMQ at amqp://localhost is not connected yet.")

    inspector = Away() if away else None
    response = await _app(inspector, RateTracker()).test_client().get("/queues")

    assert response.status_code == 503
    assert get_contracts().issues(SchemaName.ERROR, await response.get_json()) == []
