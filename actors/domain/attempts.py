"""Retrying failed jobs: how many attempts a job gets and how long it waits between them.

A handler that raises (or runs past its timeout) fails one *attempt*. A job gets
``maxAttempts`` attempts; after a failed one that is not the last, the processor records
the error in the job's history, puts the job back to ``PENDING`` with ``nextAttemptAt``,
and publishes it again with a delay (:func:`backoff_s`); after the last one the job is
``FAILED``.

``maxAttempts`` is resolved per job (:func:`resolve_max_attempts`), first match wins:

==================================  ==========================================================
source                              example
==================================  ==========================================================
``metadata.maxAttempts`` of the job  ``{"type": "resize", "metadata": {"maxAttempts": 5}}``
the job type's registration         ``@handler("resize", max_attempts=2)``
the processor's settings            ``Settings(max_attempts=3)`` (the default)
==================================  ==========================================================

The metadata value must be an integer (JSON number without a fraction, not a boolean)
from 1 to :data:`MAX_ATTEMPTS_LIMIT`; a larger integer is capped at the limit; anything
else (a string, ``0``, a negative or fractional number, ``true``) is ignored with a
warning and the type's value applies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_ATTEMPTS_KEY",
    "MAX_ATTEMPTS_LIMIT",
    "Backoff",
    "backoff_s",
    "metadata_max_attempts",
    "resolve_max_attempts",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS_KEY = "maxAttempts"
"""The key of a job's ``metadata`` that overrides its number of attempts."""
MAX_ATTEMPTS_LIMIT = 10
"""Most attempts any job gets, whatever its metadata asks for."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between attempts.

    ==================================  ==============================
    settings                            delays after attempts 1, 2, 3…
    ==================================  ==============================
    ``Backoff()``                       1 s, 5 s, 25 s, 30 s, 30 s…
    ``Backoff(base_s=0.05)``            0.05 s, 0.25 s, 1.25 s…
    ``Backoff(factor=2, max_s=10)``     1 s, 2 s, 4 s, 8 s, 10 s…
    ==================================  ==============================
    """

    base_s: float = 1.0
    """Delay after the first failed attempt."""
    factor: float = 5.0
    """Each further delay is this many times the previous one."""
    max_s: float = 30.0
    """No delay is longer (RabbitMQ's longest retry queue holds messages 30 s)."""

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < 0:
            raise ValueError(
                f"Backoff delays must not be negative, not base_s={self.base_s}, "
                f"max_s={self.max_s}."
            )
        if self.factor < 1:
            raise ValueError(f"The backoff factor must be at least 1, not {self.factor}.")

    def delay_s(self, failed_attempt: int) -> float:
        """The wait after attempt ``failed_attempt`` (from 1) failed, before the next one."""
        return backoff_s(failed_attempt, base_s=self.base_s, factor=self.factor, max_s=self.max_s)


def backoff_s(failed_attempt: int, *, base_s: float, factor: float, max_s: float) -> float:
    """``base_s * factor ** (failed_attempt - 1)``, capped at ``max_s``.

    Raises:
        ValueError: ``failed_attempt`` is below 1.
    """
    if failed_attempt < 1:
        raise ValueError(f"Attempts are numbered from 1, not {failed_attempt}.")
    delay = base_s
    for _ in range(failed_attempt - 1):
        delay *= factor
        if delay >= max_s:
            break
    return min(delay, max_s)


def metadata_max_attempts(metadata: Mapping[str, object]) -> int | None:
    """The valid ``maxAttempts`` of ``metadata``, capped at the limit; ``None`` if absent or invalid.

    See the module docstring for the rule.
    """
    if MAX_ATTEMPTS_KEY not in metadata:
        return None
    value = metadata[MAX_ATTEMPTS_KEY]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return min(value, MAX_ATTEMPTS_LIMIT)


def resolve_max_attempts(
    metadata: Mapping[str, object], type_default: int | None, default: int
) -> int:
    """How many attempts a job gets: its metadata's, else its type's, else ``default``.

    Args:
        metadata: the job's metadata.
        type_default: ``max_attempts`` of the job type's registration, if set.
        default: the processor's ``Settings.max_attempts``.

    Returns:
        A number from 1 to :data:`MAX_ATTEMPTS_LIMIT`.
    """
    override = metadata_max_attempts(metadata)
    if override is not None:
        return override
    if MAX_ATTEMPTS_KEY in metadata:
        log.warning(
            "job.max_attempts_ignored value=%.40r reason=not-an-integer-from-1-to-%d",
            metadata[MAX_ATTEMPTS_KEY],
            MAX_ATTEMPTS_LIMIT,
        )
    chosen = type_default if type_default is not None else default
    return max(1, min(chosen, MAX_ATTEMPTS_LIMIT))
