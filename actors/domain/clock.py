"""Wall-clock timestamps in the one format every contract and store uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeAlias

__all__ = ["Clock", "format_timestamp", "parse_timestamp", "utc_now", "wall_clock"]

Clock: TypeAlias = Callable[[], datetime]
"""What time it is, as an aware UTC datetime: :func:`wall_clock`, or a test's own."""


def wall_clock() -> datetime:
    """The system's current time, aware, in UTC (the :data:`Clock` of every service)."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Render ``moment`` as RFC 3339 UTC with microseconds and a ``Z`` suffix.

    The fixed width makes string order equal time order, which the stores rely on.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    """Return the current time as a fixed-width RFC 3339 UTC string."""
    return format_timestamp(datetime.now(UTC))


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset) into an aware datetime.

    Raises:
        ValueError: ``text`` is not an RFC 3339 timestamp.
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
