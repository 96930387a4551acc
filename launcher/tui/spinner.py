"""The loading splash's braille spinner and the status messages it cycles through."""

from __future__ import annotations

__all__ = ["LOADING_MESSAGES", "SPINNER_FRAMES", "TICKS_PER_MESSAGE", "message_at", "spinner_at"]

SPINNER_FRAMES: tuple[str, ...] = ("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")
"""Ten braille frames; one per tick, then round again."""

LOADING_MESSAGES: tuple[str, ...] = (
    "Connecting to the read model",
    "Reading the job counters",
    "Fetching the recent jobs",
    "Checking the alerts",
    "Opening the live stream",
)
"""What the splash says while the first data loads, in order, then round again."""

TICKS_PER_MESSAGE = 10
"""A message stays for one full turn of the spinner."""


def spinner_at(tick: int) -> str:
    """The spinner frame shown at ``tick`` (0, 1, 2, ...)."""
    return SPINNER_FRAMES[tick % len(SPINNER_FRAMES)]


def message_at(tick: int) -> str:
    """The status message shown at ``tick``: each one for :data:`TICKS_PER_MESSAGE` ticks."""
    return LOADING_MESSAGES[(tick // TICKS_PER_MESSAGE) % len(LOADING_MESSAGES)]
