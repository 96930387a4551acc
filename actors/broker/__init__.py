"""Message brokers behind one interface: in-process and RabbitMQ."""

from __future__ import annotations

from actors.broker._protocols import Broker, Consumer, Delivery, OutgoingMessage

__all__ = ["Broker", "Consumer", "Delivery", "OutgoingMessage"]
