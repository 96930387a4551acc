"""Lifecycle states and health records shared by actors and supervisors."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ActorHealth", "ActorState", "describe_error"]

_MAX_ERROR_CHARS = 200


class ActorState(enum.Enum):
    """Where an actor (or a supervisor, or a supervised child) is in its lifecycle."""

    STARTING = enum.auto()
    """Not handling messages yet: ``run()`` has not been called or ``on_start()`` is running."""
    RUNNING = enum.auto()
    """Started and handling messages (a supervisor: supervising its children)."""
    STOPPING = enum.auto()
    """Asked to stop: takes no new messages and drains what is already queued."""
    STOPPED = enum.auto()
    """Returned after a graceful stop, or was cancelled."""
    RESTARTING = enum.auto()
    """Crashed (or stopped by its supervisor's strategy); waiting to be started again."""
    FAILED = enum.auto()
    """Crashed and is not being restarted (for a supervisor: it gave up)."""


@dataclass(frozen=True, slots=True)
class ActorHealth:
    """One line of a service's health report: one actor, supervisor or child.

    Examples:
        ======================================  =============================
        ``path``                                what it names
        ======================================  =============================
        ``"processor"``                         the service's root supervisor
        ``"processor/persister"``               a child of that supervisor
        ``"processor/ingress/consumer"``        a child of a nested supervisor
        ======================================  =============================
    """

    path: str
    """Supervisor names and the child's name, joined by ``/``."""
    state: ActorState
    """The lifecycle state."""
    restarts: int
    """How often this child has been restarted so far (all time)."""
    mailbox_depth: int | None = None
    """Messages waiting in the mailbox, or ``None`` where there is no mailbox."""
    mailbox_size: int | None = None
    """Capacity of the mailbox, or ``None`` where there is no mailbox."""
    last_error: str | None = None
    """One line describing the last crash, at most 200 characters."""

    def to_json(self) -> dict[str, object]:
        """Return the camelCase shape used by ``/healthz``."""
        return {
            "path": self.path,
            "state": self.state.name.lower(),
            "restarts": self.restarts,
            "mailboxDepth": self.mailbox_depth,
            "mailboxSize": self.mailbox_size,
            "lastError": self.last_error,
        }


def describe_error(error: BaseException) -> str:
    """Describe ``error`` on one line of at most 200 characters, for health reports."""
    text = " ".join(repr(error).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1] + "…"
    return text
