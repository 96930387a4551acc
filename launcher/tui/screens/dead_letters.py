"""The dead letters: messages no consumer could process, with every reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from launcher.tui.client import ApiUnavailable
from launcher.tui.models import MalformedDocument

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from launcher.tui.client import ObservatoryClient

__all__ = ["DeadLettersScreen"]

_SHOWN = 100


class DeadLettersScreen(Screen[None]):
    """The latest dead letters; the highlighted one's errors and body below the table.

    Args:
        client: the read model's client, which the dead letters are fetched with.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, client: ObservatoryClient) -> None:
        super().__init__()
        self.client = client
        self.letters: list[dict[str, object]] = []

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="letters", cursor_type="row")
        table.border_title = "Dead letters (newest first)"
        yield table
        yield Static(id="letter")
        yield Static(" Esc  back   R  reload   ↑↓  choose", id="footer")

    def on_mount(self) -> None:
        self.query_one("#letters", DataTable).add_columns("Occurred", "Queue", "Service", "Reason")
        self.load()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True)
    async def load(self) -> None:
        """Fetch the dead letters and fill the table."""
        detail = self.query_one("#letter", Static)
        table = self.query_one("#letters", DataTable)
        try:
            self.letters = await self.client.dead_letters(limit=_SHOWN)
        except (ApiUnavailable, MalformedDocument) as error:
            detail.update(Text(f"Could not read the dead letters: {error}", style="red"))
            return
        table.clear()
        for index, letter in enumerate(self.letters):
            table.add_row(
                str(letter.get("occurredAt", "")).replace("T", " ")[:19],
                str(letter.get("queue", "")),
                str(letter.get("service", "")),
                str(letter.get("reason", "")),
                key=str(index),
            )
        if not self.letters:
            detail.update(Text("No dead letters.", style="green"))
        else:
            table.focus()
            self._show(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._show(int(event.row_key.value))

    def _show(self, index: int) -> None:
        letter = self.letters[index]
        text = Text()
        text.append(f"{letter.get('reason', '')}\n", style="bold")
        errors = letter.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if isinstance(error, dict):
                text.append(
                    f"  {error.get('path') or '/'}: {error.get('message', '')}\n", style="red"
                )
        text.append(f"Body ({letter.get('originalBodyEncoding', '?')}):\n", style="bold")
        text.append(str(letter.get("originalBody", ""))[:2000])
        self.query_one("#letter", Static).update(text)
