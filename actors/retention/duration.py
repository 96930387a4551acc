"""Durations as operators write them: ``7d``, ``12h``, ``30m``, ``45s``."""

from __future__ import annotations

import re
from datetime import timedelta

from actors.errors import ConfigError

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([dhms])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """Parse ``<number><unit>`` with unit ``d``, ``h``, ``m`` or ``s`` (``0d`` allowed).

    Raises:
        ConfigError: ``text`` is not such a duration.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise ConfigError(
            f"{text!r} is not a duration: write a number and a unit, d (days), h (hours), "
            "m (minutes) or s (seconds), e.g. 7d, 12h or 30m."
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
