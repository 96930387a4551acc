"""The error every failed external command becomes."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from actors.errors import ObservatoryError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LauncherError", "stderr_tail"]

_TAIL_LINES = 5


def stderr_tail(text: str, lines: int = _TAIL_LINES) -> str:
    """The last non-blank ``lines`` of ``text``, joined with `` | `` to fit one message."""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


class LauncherError(ObservatoryError):
    """An external tool (docker, kind, kubectl) failed, could not run or took too long.

    The message is one sentence naming the command, its exit code, the end of its stderr
    and what to do about it; the parts stay available as attributes.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        exit_code: int | None,
        stderr: str = "",
        hint: str,
        reason: str | None = None,
    ) -> None:
        self.command = list(command)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail(stderr)
        self.hint = hint
        if reason is None:
            reason = f"failed with exit code {exit_code}"
        elif exit_code is not None:
            reason = f"{reason} (exit code {exit_code})"
        said = (
            f"its stderr ended with: {self.stderr_tail}"
            if self.stderr_tail
            else "it printed nothing on stderr"
        )
        stop = "" if said.endswith((".", "?", "!")) else "."
        super().__init__(f"`{shlex.join(self.command)}` {reason}; {said}{stop} Hint: {hint}")
