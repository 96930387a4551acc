"""Colours shared by the screens."""

from __future__ import annotations

from rich.text import Text

__all__ = ["STATUS_STYLES", "status_text"]

STATUS_STYLES = {
    "PENDING": "blue",
    "VALIDATED": "cyan",
    "EXECUTING": "yellow",
    "COMPLETED": "green",
    "FAILED": "bold red",
}
"""Colour of each job status, wherever a status is shown."""


def status_text(status: str) -> Text:
    """``status`` in its colour."""
    return Text(status, style=STATUS_STYLES.get(status, ""))
