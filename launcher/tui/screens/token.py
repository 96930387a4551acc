"""Asks for the API token when the read model answers 401 (it is kept for this run only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

__all__ = ["TokenScreen"]


class TokenScreen(ModalScreen[str | None]):
    """A password field; Enter gives the token, Esc gives up (``None``)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "give_up", "Quit")]

    def __init__(self, reason: str) -> None:
        super().__init__()
        self._reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="token"):
            yield Static("[b]API token needed[/b]")
            yield Static(self._reason, id="token-reason")
            yield Static(
                "A viewer token shows the dashboard; a submitter token also lets N submit. "
                "Set OBSERVATORY_API_TOKEN to skip this question. Esc quits."
            )
            yield Input(password=True, placeholder="token", id="token-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_give_up(self) -> None:
        self.dismiss(None)
