"""What the client raises: one root, split by who is at fault.

::

    ApiError                    anything the client raises; .message, .status, .details
    ├── RequestRefused          4xx: the server refused this request; retrying it as is won't help
    │   ├── BadRequest          400, 413, 415: malformed or out of bounds (.details: the paths)
    │   │   └── JobRejected     a submitted job does not pass validation
    │   ├── Unauthorized        401: no token, or not a valid one (OBSERVATORY_API_TOKEN)
    │   ├── Forbidden           403: the token's role may not do this
    │   ├── NotFound            404: no such job
    │   ├── Conflict            409: not in a state that allows it (.job_status when told)
    │   └── RateLimited         429: too much too fast; retry after .retry_after_s
    ├── ServerUnavailable       5xx, or the server cannot be reached: retry later
    └── WaitTimedOut            the job did not end in time (.job: how it was last seen)

Every error carries the server's own sentence (``message``) and, where the server named
them, the failing fields as JSON Pointers (``details``, ``paths``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from observatory.client import Job

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "FieldIssue",
    "Forbidden",
    "JobRejected",
    "NotFound",
    "RateLimited",
    "RequestRefused",
    "ServerUnavailable",
    "Unauthorized",
    "WaitTimedOut",
]


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One problem the server found in a request, located by a JSON Pointer into it."""

    path: str
    """Where, e.g. ``/payload/seconds`` (``""``: the whole document)."""
    message: str
    """What is wrong there, as a sentence."""

    @classmethod
    def from_json(cls, doc: object) -> FieldIssue | None:
        """Read one ``details`` entry of an error body; ``None`` if it is not one."""
        if not isinstance(doc, dict):
            return None
        path, message = doc.get("path"), doc.get("message")
        if not isinstance(path, str) or not isinstance(message, str):
            return None
        return cls(path, message)


def issues_of(doc: object) -> tuple[FieldIssue, ...]:
    """The ``details`` of an error body, each one a :class:`FieldIssue`."""
    details = doc.get("details") if isinstance(doc, dict) else None
    if not isinstance(details, list):
        return ()
    return tuple(issue for entry in details if (issue := FieldIssue.from_json(entry)) is not None)


class ApiError(Exception):
    """The root of every error the client raises.

    Args:
        message: what went wrong, as a sentence (the server's own when it gave one).
        status: the HTTP status, or ``None`` when no answer came.
        details: the fields the server found wrong.
        body: the server's whole JSON answer, when it was JSON.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details: Sequence[FieldIssue] = (),
        body: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        """The server's sentence (or ours, when no answer came)."""
        self.status = status
        """The HTTP status, ``None`` when no answer came."""
        self.details = tuple(details)
        """Every problem the server located in the request."""
        self.body: Mapping[str, object] = body or {}
        """The server's JSON answer (empty when there was none)."""

    @property
    def paths(self) -> list[str]:
        """The JSON Pointers of :attr:`details`, in the server's order."""
        return [issue.path for issue in self.details]

    def __str__(self) -> str:
        if not self.details:
            return self.message
        located = "; ".join(f"{issue.path or '/'}: {issue.message}" for issue in self.details)
        return f"{self.message} ({located})"


class RequestRefused(ApiError):
    """The server refused this request (4xx); sending it again unchanged will not help."""


class BadRequest(RequestRefused):
    """The request is malformed or out of bounds (400, 413, 415); see :attr:`details`."""


class JobRejected(BadRequest):
    """A submitted job does not pass validation (its type, id, payload or metadata)."""


class Unauthorized(RequestRefused):
    """No token was sent, or it is not valid (401): set ``OBSERVATORY_API_TOKEN``."""


class Forbidden(RequestRefused):
    """The token's role may not do this (403): a viewer may only read."""


class NotFound(RequestRefused):
    """There is no such job (404); one just accepted may take a moment to appear."""


class Conflict(RequestRefused):
    """The job is not in a state that allows this (409)."""

    @property
    def job_status(self) -> str | None:
        """The job's status when the server said it (``COMPLETED``, ``EXECUTING``...)."""
        status = self.body.get("status")
        return status if isinstance(status, str) else None


class RateLimited(RequestRefused):
    """This client sent too much too fast (429); wait :attr:`retry_after_s`, then retry."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float,
        status: int | None = 429,
        details: Sequence[FieldIssue] = (),
        body: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, status=status, details=details, body=body)
        self.retry_after_s = retry_after_s
        """How long to wait before trying again (the server's ``Retry-After``)."""


class ServerUnavailable(ApiError):
    """The server answered 5xx or could not be reached; nothing is known to have changed.

    Retrying is safe for submissions that carry their job id: a resubmitted id never
    runs twice.
    """


class WaitTimedOut(ApiError):
    """The job did not end within the time given to wait for it.

    Args:
        message: which job and how long.
        job: the job as last seen (``None`` if the read model never knew it).
    """

    def __init__(self, message: str, *, job: Job | None) -> None:
        super().__init__(message)
        self.job = job
        """The job as it was when the time was up; ``None`` when it was never seen."""
