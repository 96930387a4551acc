"""The narrow interface the RabbitMQ consumer sees of its broker (``ConsumerHost``),
checked on a broker that was never entered: no RabbitMQ needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actors.broker.amqp import AmqpBroker
from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    from actors.broker._amqp_consumer import ConsumerHost


def _host() -> AmqpBroker:
    return AmqpBroker("amqp://guest:s3cret@127.0.0.1:5672/", namespace="ns-1.")


def test_the_broker_is_the_consumers_host() -> None:
    host: ConsumerHost = _host()  # mypy checks the structural match

    assert host.url == "amqp://guest:***@127.0.0.1:5672/"


def test_a_closed_broker_refuses_its_connection_naming_the_action() -> None:
    with pytest.raises(
        BrokerUnavailable,
        match=r"^Cannot consume from queue 'jobs.created': the RabbitMQ broker at "
        r"amqp://guest:\*\*\*@127\.0\.0\.1:5672/ is not open; enter it with "
        r"'async with open_amqp_broker\(\.\.\.\)' first\.$",
    ):
        _host().require_connection("consume from queue 'jobs.created'")


def test_delivery_tags_are_unique_across_the_broker() -> None:
    broker = _host()

    tags = [broker.next_delivery_tag() for _ in range(5)]

    assert tags == [1, 2, 3, 4, 5]


def test_delivery_headers_are_plain_python_without_the_namespace() -> None:
    headers = _host().delivery_headers(
        {
            "x-death": [
                {
                    "queue": "ns-1.jobs.created",
                    "routing-keys": ["ns-1.jobs.created", "other"],
                    "reason": b"rejected",
                    "count": 1,
                }
            ],
            "x-first-death-queue": "ns-1.jobs.created",
            "x-last-death-queue": "ns-1.jobs.retry.5s",
            "raw": bytearray(b"\xff\x00"),
        }
    )

    assert headers == {
        "x-death": [
            {
                "queue": "jobs.created",
                "routing-keys": ["jobs.created", "other"],
                "reason": "rejected",
                "count": 1,
            }
        ],
        "x-first-death-queue": "jobs.created",
        "x-last-death-queue": "jobs.retry.5s",
        "raw": b"\xff\x00",
    }


def test_settled_deliveries_are_counted_in_the_statistics() -> None:
    broker = _host()

    broker.record_settled(acked=3)
    broker.record_settled(rejected=2)
    broker.record_settled(acked=1, rejected=1)

    statistics = broker.statistics()
    assert (statistics.acked, statistics.rejected) == (4, 3)
