"""What both consumers (in-process and RabbitMQ) keep about the deliveries they handed out."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.broker._protocols import Delivery

__all__ = ["take_unsettled"]

M = TypeVar("M")


def take_unsettled(
    unsettled: dict[int, M], deliveries: Sequence[Delivery], *, verb: str, queue: str
) -> list[M]:
    """Remove ``deliveries`` from ``unsettled`` (delivery tag → message), all or none.

    Returns:
        Their messages, in delivery order.

    Raises:
        BrokerUnavailable: a tag is not outstanding (settled already, delivered to another
            consumer, or twice in ``deliveries``); nothing was removed then.
    """
    tags = [delivery.delivery_tag for delivery in deliveries]
    seen: set[int] = set()
    for tag in tags:
        if tag not in unsettled or tag in seen:
            raise BrokerUnavailable(
                f"Cannot {verb}: delivery tag {tag} is not outstanding on this consumer "
                f"of queue {queue!r}; it was settled already or delivered to "
                "another consumer. Nothing in this call was settled."
            )
        seen.add(tag)
    return [unsettled.pop(tag) for tag in sorted(tags)]
