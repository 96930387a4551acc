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
    ("/", "filter the jobs table (GET /jobs); Enter applies, Esc clears", False),
    ("W", "workers: alive and recently gone, types, in-flight jobs, done/failed", False),
    ("U", "queues: depth, ready/unacked, consumers, rates (— where unknown)", False),
    ("S", "schedules: when, job type, paused or not, next and last run, fires/misses", False),
    ("D", "dead letters", False),
    ("?", "this help", False),
]
_FILTER = [
    ("status:failed,pending", "one status or several", False),
    ("type:resize", "a job type (commas for several)", False),
    ("error:timeout", "the last error contains the text", False),
    ("q:2f6c", "id prefix or text in the payload (a bare word too)", False),
    ("corr:<id>", "the correlation id", False),
    ("since:15m", "created since (90s, 15m, 2h, 7d or an RFC 3339 time); until: before", False),
]
_FLEET = [("R", "refresh now (they refresh every poll interval)", False)]
_SCHEDULES = [
    ("P", "pause the highlighted schedule, or resume it (PATCH enabled)", True),
    ("R", "run its job once, now (they refresh every poll interval)", True),
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
        ("Filter line (words AND-ed; quote values with spaces)", _FILTER),
        ("Job", _JOB),
        ("Workers, Queues", _FLEET),
        ("Schedules", _SCHEDULES),
        ("Dead letters", _DEAD_LETTERS),
        ("New task", [("Ctrl+T", "fill in the typed type's example payload", True)]),
        ("Launcher", _LAUNCHER),
    ]
    for title, keys in sections:
        shown = [(key, what) for key, what, writes in keys if not (read_only and writes)]
        if shown:
            lines.append(f"[b]{title}[/b]")
            width = max(6, *(len(key) for key, _ in shown))
            lines += [f"  {key:<{width}} {what}" for key, what in shown]
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
