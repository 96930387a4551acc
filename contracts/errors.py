"""The errors of the contracts, and the root every observatory error grows from.

``contracts`` is the bottom layer: everything else (``actors``, ``quart_app``,
``launcher``) imports these classes, usually through :mod:`actors.errors`, which
re-exports them and draws the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "InvalidMessage", "ObservatoryError", "ValidationIssue"]


class ObservatoryError(Exception):
    """Root of every error the observatory raises on purpose."""


class ConfigError(ObservatoryError):
    """The configuration is wrong: a bad URL, port, path or flag. Fix it and restart."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One contract violation, located by a JSON Pointer into the offending document."""

    path: str
    """JSON Pointer of the offending value (``""`` is the whole document)."""
    message: str
    """What is wrong, as a sentence."""

    def to_json(self) -> dict[str, str]:
        """Return the ``{"path", "message"}`` shape used in API error details."""
        return {"path": self.path, "message": self.message}


class InvalidMessage(ObservatoryError):
    """A message or request breaks its contract. Never retried; dead-lettered or answered 4xx.

    Attributes:
        issues: every violation found, each with its JSON path.
    """

    def __init__(self, message: str, issues: list[ValidationIssue] | None = None) -> None:
        super().__init__(message)
        self.issues: list[ValidationIssue] = list(issues or [])
