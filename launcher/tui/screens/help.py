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

__all__ = ["HELP_TEXT", "HelpScreen", "help_text"]

_DASHBOARD = [
    ("Q", "quit", False),
    ("R", "refresh now", False),
    ("N", "new task (submit jobs to the gateway)", True),
    ("Enter", "details of the highlighted job: payload, result or error, event timeline", False),
    ("D", "dead letters", False),
    ("?", "this help", False),
]
_JOB = [("R", "reload", False), ("T", "retry a FAILED job (a new round)", True)]
_DEAD_LETTERS = [
    ("R", "reload", False),
    ("U", "requeue the highlighted dead letter as it is", True),
    ("E", "edit its message, then requeue it (Ctrl+S sends)", True),
    ("X", "discard it for good (press twice)", True),
]
_LAUNCHER = [
    ("L", "launch the kind cluster (the steps of `observatory cluster up`)", True),
    ("E", "start the embedded observatory in the background (`observatory up`)", True),
    ("F", "restart the port-forwards of a running cluster", True),
]


def help_text(*, read_only: bool = False) -> str:
    """The key reference; read-only, without the keys that write (they are refused)."""
    lines: list[str] = []
    sections = [
        ("Dashboard", _DASHBOARD),
        ("Job", _JOB),
        ("Dead letters", _DEAD_LETTERS),
        ("New task", [("Ctrl+T", "fill in the typed type's example payload", True)]),
        ("Launcher", _LAUNCHER),
    ]
    for title, keys in sections:
        shown = [(key, what) for key, what, writes in keys if not (read_only and writes)]
        if shown:
            lines.append(f"[b]{title}[/b]")
            lines += [f"  {key:<6} {what}" for key, what in shown]
    lines += ["[b]Everywhere[/b]", "  Esc    back / close", "  Ctrl+Q quit", ""]
    if read_only:
        lines.append("Read-only: nothing is submitted, retried, requeued or discarded.")
    lines += [
        "Updates come from the read model's live stream, or by polling every few seconds.",
        "READ_MODEL_URL says where the read model is (default http://127.0.0.1:8080).",
    ]
    return "\n".join(lines)


HELP_TEXT = help_text()
"""The whole key reference (writes allowed)."""


class HelpScreen(ModalScreen[None]):
    """The key reference; Esc, Q or ? closes it.

    Args:
        read_only: leave out the keys that write (``--read-only`` refuses them).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
    ]

    def __init__(self, *, read_only: bool = False) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(help_text(read_only=self.read_only))
