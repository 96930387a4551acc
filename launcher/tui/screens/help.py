"""The keys, one line each."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

__all__ = ["HELP_TEXT", "HelpScreen"]

HELP_TEXT = """\
[b]Dashboard[/b]
  Q      quit
  R      refresh now
  N      new task (submit jobs to the gateway)
  Enter  details of the highlighted job: payload, result or error, event timeline
  D      dead letters
  ?      this help
[b]New task[/b]
  Ctrl+T fill in the typed type's example payload (from its schema)
[b]Launcher[/b]
  L      launch the kind cluster (the steps of `observatory cluster up`)
  E      start the embedded observatory in the background (`observatory up`)
  F      restart the port-forwards of a running cluster
[b]Everywhere[/b]
  Esc    back / close
  Ctrl+Q quit

Updates come from the read model's live stream, or by polling every few seconds.
READ_MODEL_URL says where the read model is (default http://127.0.0.1:8080)."""


class HelpScreen(ModalScreen[None]):
    """The key reference; Esc, Q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(HELP_TEXT)
