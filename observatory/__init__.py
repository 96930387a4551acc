"""Task Observatory's public API: what your code imports.

Handler authors and clients import from here, and only from here; every name in
``__all__`` is kept stable across releases (``tests/unit/observatory/test_public_api.py``
pins the list). Everything under ``actors``, ``quart_app`` and ``launcher`` is the
observatory's own machinery and may change.

A module of handlers, run with ``observatory up --app myjobs``::

    # myjobs.py
    from observatory import JobContext, NonRetryable, handler

    @handler("resize", timeout_s=10, payload_schema={"type": "object", "required": ["width"]})
    def resize(job: JobContext) -> object:       # a plain def runs in a worker thread
        if job.payload["width"] <= 0:
            raise NonRetryable("width must be positive")  # FAILED now, no retries
        return {"width": job.payload["width"] // 2}

    @handler("fetch", concurrency=4, max_attempts=5)
    async def fetch(job: JobContext) -> object:  # async def runs on the event loop
        ...

``handler`` options: ``timeout_s``, ``max_attempts``, ``retry_backoff_s``,
``concurrency`` (per processor), ``rate_limit`` (starts per second across every processor:
``5``, ``"5/s"``, ``"300/m"``), ``payload_schema`` (a JSON Schema dict, or a ``.json``
path relative to the module), ``process=True`` (CPU-bound: a process pool), and
``registry`` (a ``HandlerRegistry`` of your own, loaded as ``--app module:registry``).
"""

from __future__ import annotations

from actors.domain.handlers import HandlerRegistry, JobContext, handler
from actors.errors import NonRetryable
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
from observatory._schedules import Schedule, ScheduleRun
from observatory.client import (
    AsyncClient,
    AttemptFailure,
    BatchResult,
    CancelAccepted,
    Client,
    InFlightJob,
    Job,
    JobPage,
    JobStatus,
    JobSummary,
    NewJob,
    QueueStats,
    Rejected,
    RetryAccepted,
    Stats,
    Submitted,
    TypeCounts,
    Worker,
    WorkerList,
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
    "HandlerRegistry",
    "InFlightJob",
    "Job",
    "JobContext",
    "JobPage",
    "JobRejected",
    "JobStatus",
    "JobSummary",
    "NewJob",
    "NonRetryable",
    "NotFound",
    "QueueStats",
    "RateLimited",
    "Rejected",
    "RequestRefused",
    "RetryAccepted",
    "Schedule",
    "ScheduleRun",
    "ServerUnavailable",
    "Stats",
    "Submitted",
    "TypeCounts",
    "Unauthorized",
    "WaitTimedOut",
    "Worker",
    "WorkerList",
    "handler",
]
