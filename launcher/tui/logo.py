"""The ASCII logo shown by the launcher, the loading splash and the dashboard."""

from __future__ import annotations

__all__ = ["LOGO", "LOGO_LINES", "LOGO_WIDTH"]

LOGO_LINES: tuple[str, ...] = (
    "  _____         _",
    " |_   _|_ _ ___| | __",
    "   | |/ _` / __| |/ /",
    "   | | (_| \\__ \\   <",
    "   |_|\\__,_|___/_|\\_\\",
    "   ___  _                            _",
    "  / _ \\| |__  ___  ___ _ ____   ____ _| |_ ___  _ __ _   _",
    " | | | | '_ \\/ __|/ _ \\ '__\\ \\ / / _` | __/ _ \\| '__| | | |",
    " | |_| | |_) \\__ \\  __/ |   \\ V / (_| | || (_) | |  | |_| |",
    "  \\___/|_.__/|___/\\___|_|    \\_/ \\__,_|\\__\\___/|_|   \\__, |",
    "                                                      |___/",
)
"""The logo, one string per line (plain ASCII, no trailing newline)."""

LOGO = "\n".join(LOGO_LINES)
"""The logo as one block of text."""

LOGO_WIDTH = max(len(line) for line in LOGO_LINES)
"""Columns the logo needs."""
