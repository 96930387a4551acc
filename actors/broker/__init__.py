"""Message brokers behind one interface: in-process and RabbitMQ."""

from __future__ import annotations

from actors.broker._protocols import Broker, Consumer, Delivery, OutgoingMessage
from actors.broker.amqp import AmqpBroker, AmqpBrokerStatistics, AmqpConsumer, open_amqp_broker
from actors.broker.memory import (
    BrokerStatistics,
    MemoryBroker,
    MemoryConsumer,
    QueueStatistics,
    open_memory_broker,
)

__all__ = [
    "AmqpBroker",
    "AmqpBrokerStatistics",
    "AmqpConsumer",
    "Broker",
    "BrokerStatistics",
    "Consumer",
    "Delivery",
    "MemoryBroker",
    "MemoryConsumer",
    "OutgoingMessage",
    "QueueStatistics",
    "open_amqp_broker",
    "open_memory_broker",
]
