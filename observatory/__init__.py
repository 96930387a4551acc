"""Task Observatory's public API: what your code imports.

Handler authors and clients import from here, and only from here; every name in
``__all__`` is kept stable across releases (``tests/unit/observatory/test_public_api.py``
pins the list). Everything under ``actors``, ``quart_app`` and ``launcher`` is the
observatory's own machinery and may change.
"""

from __future__ import annotations

from observatory._errors import (
    ApiError,
    BadRequest,
    Conflict,
    FieldIssue,
    Forbidden,
    JobRejected,
    NotFound,
    RateLimited,
    RequestRefused,
    ServerUnavailable,
    Unauthorized,
    WaitTimedOut,
)
from observatory.client import (
    AsyncClient,
    AttemptFailure,
    BatchResult,
    CancelAccepted,
    Client,
    Job,
    JobStatus,
    NewJob,
    Rejected,
    RetryAccepted,
    Stats,
    Submitted,
    TypeCounts,
)

__all__ = [
    "ApiError",
    "AsyncClient",
    "AttemptFailure",
    "BadRequest",
    "BatchResult",
    "CancelAccepted",
    "Client",
    "Conflict",
    "FieldIssue",
    "Forbidden",
    "Job",
    "JobRejected",
    "JobStatus",
    "NewJob",
    "NotFound",
    "RateLimited",
    "Rejected",
    "RequestRefused",
    "RetryAccepted",
    "ServerUnavailable",
    "Stats",
    "Submitted",
    "TypeCounts",
    "Unauthorized",
    "WaitTimedOut",
]
