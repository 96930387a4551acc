"""Keeping a live table's highlighted row on the same thing while its rows are replaced.

A ``DataTable`` refilled with ``clear()`` and ``add_row()`` keeps only the cursor's
index, so a new job inserted above the highlighted one moves the highlight to another
job. :func:`remember` takes the highlighted row's key before the refill and
:func:`restore` puts the cursor back on that key, or, where that row has left the
table, on the same index (clamped to the last row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.widgets import DataTable

__all__ = ["Highlight", "remember", "restore"]


@dataclass(frozen=True, slots=True)
class Highlight:
    """Where the cursor was: its row's key (``None`` in an empty table) and index."""

    key: str | None
    row: int


def remember(table: DataTable[object]) -> Highlight:
    """The highlighted row of ``table``, before its rows are replaced."""
    if table.row_count == 0:
        return Highlight(None, 0)
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return Highlight(key, table.cursor_row)


def restore(table: DataTable[object], highlight: Highlight) -> None:
    """Move the cursor of the refilled ``table`` to ``highlight``'s key, else its index."""
    if table.row_count == 0:
        return
    if highlight.key is not None and highlight.key in table.rows:
        row = table.get_row_index(highlight.key)
    else:
        row = min(highlight.row, table.row_count - 1)
    if row != table.cursor_row:
        table.move_cursor(row=row, animate=False)
