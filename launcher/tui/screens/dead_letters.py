"""The dead letters: messages no consumer could process, with every reason; requeue them
(as they are or edited) or discard them, as the web dashboard does, through the gateway."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Static, TextArea

from launcher.tui.client import ApiUnavailable, DeadLetterRefused
from launcher.tui.models import MalformedDocument

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from launcher.tui.client import ObservatoryClient

__all__ = ["DeadLetterEditScreen", "DeadLettersScreen"]

_SHOWN = 100
NO_DEAD_LETTERS = "No dead letters: every message was processable."
READ_ONLY = "Read-only: dead letters cannot be requeued or discarded (start with --allow-writes)."
_FOOTER = " Esc  back   R  reload   ↑↓  choose"
_WRITE_KEYS = "   U  requeue   E  edit & requeue   X  discard"


def _refusal(error: DeadLetterRefused | ApiUnavailable, what: str) -> Text:
    text = Text(f"{what} refused: {error}", style="red")
    for path, message in error.details if isinstance(error, DeadLetterRefused) else []:
        text.append(f"\n  {path or '/'}: {message}", style="red")
    return text


def _editable(letter: dict[str, object]) -> str:
    """The message text to edit: pretty-printed when it is JSON, else as it is."""
    body = str(letter.get("originalBody", ""))
    if letter.get("originalBodyEncoding") != "utf-8":
        return body
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


class DeadLettersScreen(Screen[None]):
    """The latest dead letters; the highlighted one's errors and body below the table.

    U requeues the highlighted one as it is, E opens its message to edit and requeue,
    X (pressed twice: it cannot be undone) discards it; each says what the gateway
    answered. Read-only, those keys only say so and the footer does not offer them.

    Args:
        client: the observatory's client: dead letters are read from the read model and
            requeued or discarded through the gateway.
        read_only: refuse U, E and X (``--read-only``).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("u", "requeue", "Requeue"),
        Binding("e", "edit", "Edit and requeue"),
        Binding("x", "discard", "Discard"),
    ]

    def __init__(self, client: ObservatoryClient, *, read_only: bool = False) -> None:
        super().__init__()
        self.client = client
        self.read_only = read_only
        self.letters: list[dict[str, object]] = []
        self._armed: str | None = None
        """The dead letter a first X armed for discarding (a second X discards it)."""

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="letters", cursor_type="row")
        table.border_title = "Dead letters (newest first)"
        yield table
        yield Static(id="dl-status")
        yield Static(id="letter")
        footer = _FOOTER + ("   read-only" if self.read_only else _WRITE_KEYS)
        yield Static(footer, id="footer")

    def on_mount(self) -> None:
        self.query_one("#letters", DataTable).add_columns("Occurred", "Queue", "Service", "Reason")
        self.load()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="load")
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
            detail.update(Text(NO_DEAD_LETTERS, style="green"))
        else:
            table.focus()
            self._show(min(table.cursor_row, len(self.letters) - 1))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._armed = None
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

    # -- actions -------------------------------------------------------------------------

    def _say(self, text: str | Text, style: str = "") -> None:
        self.query_one("#dl-status", Static).update(
            text if isinstance(text, Text) else Text(text, style=style)
        )

    def _chosen(self) -> dict[str, object] | None:
        """The highlighted dead letter, unless writes are refused or there is none."""
        if self.read_only:
            self._say(READ_ONLY, "yellow")
            return None
        if not self.letters:
            self._say("There is no dead letter to act on.", "yellow")
            return None
        row = self.query_one("#letters", DataTable).cursor_row
        return self.letters[min(max(row, 0), len(self.letters) - 1)]

    def action_requeue(self) -> None:
        """U: requeue the highlighted dead letter as it is."""
        letter = self._chosen()
        if letter is not None:
            self.requeue(str(letter.get("deadLetterId", "")))

    @work(exclusive=True, group="write")
    async def requeue(self, dead_letter_id: str) -> None:
        """Ask the gateway to requeue ``dead_letter_id``; say what it answered; reload."""
        try:
            job_id = await self.client.requeue_dead_letter(dead_letter_id)
        except (ApiUnavailable, DeadLetterRefused) as error:
            self._say(_refusal(error, "Requeue"))
            return
        self._say(f"Requeued as job {job_id}.", "green")
        self.load()

    def action_edit(self) -> None:
        """E: edit the highlighted dead letter's message, then requeue it."""
        letter = self._chosen()
        if letter is not None:
            self.app.push_screen(DeadLetterEditScreen(self.client, letter), self._after_edit)

    def _after_edit(self, job_id: str | None) -> None:
        if job_id:
            self._say(f"Requeued as job {job_id}.", "green")
            self.load()

    def action_discard(self) -> None:
        """X: arm the discard of the highlighted dead letter; X again discards it."""
        letter = self._chosen()
        if letter is None:
            return
        dead_letter_id = str(letter.get("deadLetterId", ""))
        if self._armed != dead_letter_id:
            self._armed = dead_letter_id
            self._say(
                f"Press X again to discard dead letter {dead_letter_id[:8]} for good.", "yellow"
            )
            return
        self._armed = None
        self.discard(dead_letter_id)

    @work(exclusive=True, group="write")
    async def discard(self, dead_letter_id: str) -> None:
        """Ask the gateway to discard ``dead_letter_id``; say what it answered; reload."""
        try:
            await self.client.discard_dead_letter(dead_letter_id)
        except (ApiUnavailable, DeadLetterRefused) as error:
            self._say(_refusal(error, "Discard"))
            return
        self._say(f"Discarded dead letter {dead_letter_id[:8]}.", "green")
        self.load()


class DeadLetterEditScreen(ModalScreen[str | None]):
    """A dead letter's message to edit; Ctrl+S (or Requeue) sends it, Esc cancels.

    Dismissed with the requeued job's id; a refusal (the gateway's 400 with where the
    message is wrong) is shown here, and the text stays to fix.

    Args:
        client: the client the edited message is requeued with.
        letter: the dead letter, as ``GET /dead-letters`` lists it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Requeue", priority=True),
    ]

    def __init__(self, client: ObservatoryClient, letter: dict[str, object]) -> None:
        super().__init__()
        self.client = client
        self.letter = letter

    def compose(self) -> ComposeResult:
        with Vertical(id="dl-edit"):
            yield Static(f"[b]Edit and requeue[/b]  {self.letter.get('deadLetterId', '')}")
            yield Static(Text(str(self.letter.get("reason", "")), style="dim"))
            yield TextArea(_editable(self.letter), id="dl-body")
            yield Static(id="dl-error")
            with Horizontal(id="buttons"):
                yield Button("Requeue (Ctrl+S)", id="dl-submit", variant="primary")
                yield Button("Cancel (Esc)", id="dl-cancel")

    def on_mount(self) -> None:
        self.query_one("#dl-body", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "dl-submit":
            self.action_submit()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        self.submit(self.query_one("#dl-body", TextArea).text)

    @work(exclusive=True)
    async def submit(self, body: str) -> None:
        """Requeue the edited ``body``; close with the job id, or show the refusal."""
        try:
            job_id = await self.client.requeue_dead_letter(
                str(self.letter.get("deadLetterId", "")), body
            )
        except (ApiUnavailable, DeadLetterRefused) as error:
            self.query_one("#dl-error", Static).update(_refusal(error, "Requeue"))
            return
        self.dismiss(job_id)
