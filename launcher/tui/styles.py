"""Colours shared by the screens."""

from __future__ import annotations

from rich.text import Text

from actors.domain.jobs import DEFAULT_PRIORITY

__all__ = ["STATUS_STYLES", "priority_style", "priority_text", "status_text"]

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


def priority_style(priority: int) -> str:
    """A job priority's style: above the default bold, the default dim, below plain."""
    if priority > DEFAULT_PRIORITY:
        return "bold magenta"
    return "dim" if priority == DEFAULT_PRIORITY else ""


def priority_text(priority: int) -> Text:
    """A job's priority (0 to 9) in its style."""
    return Text(str(priority), style=priority_style(priority))
