"""Retrying idempotent work while a server is away.

Every write the pipelines make is idempotent (keyed by job id or event id), so when a
store or the broker is unreachable the right move is to wait and do the same write again
— not to crash, which would only burn the supervisor's restart budget during an outage.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

import anyio

from actors.errors import DependencyUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["retry_while_unavailable"]

log = logging.getLogger(__name__)

T = TypeVar("T")


async def retry_while_unavailable(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    initial_s: float = 0.2,
    max_s: float = 5.0,
) -> T:
    """Run ``operation`` until it does not raise :class:`DependencyUnavailable`.

    One WARNING line per failed attempt names ``what`` and the error; the waits double
    from ``initial_s`` up to ``max_s``.

    Cancellation: cancelling the caller stops the retries at once (the caller's deadline
    or shutdown decides how long an outage may last).
    """
    delay_s = initial_s
    attempt = 1
    while True:
        try:
            return await operation()
        except DependencyUnavailable as exc:
            log.warning(
                "dependency.retry what=%s attempt=%d retry_in_s=%.1f error=%s",
                what,
                attempt,
                delay_s,
                exc,
            )
        await anyio.sleep(delay_s)
        delay_s = min(delay_s * 2, max_s)
        attempt += 1
