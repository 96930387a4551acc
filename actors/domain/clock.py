"""Wall-clock timestamps in the one format every contract and store uses."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_timestamp", "parse_timestamp", "utc_now"]


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
