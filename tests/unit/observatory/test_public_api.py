"""The public API: ``observatory`` exports exactly these names, and they work."""

from __future__ import annotations

import observatory
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.errors import JobFailed


def test_the_public_names_are_pinned() -> None:
    handlers = ["HandlerRegistry", "JobContext", "NonRetryable", "handler"]
    client = [
        *["ApiError", "AsyncClient", "AttemptFailure", "BadRequest", "BatchResult"],
        *["CancelAccepted", "Client", "Conflict", "FieldIssue", "Forbidden", "InFlightJob"],
        "Job",
        *["JobPage", "JobRejected", "JobStatus", "JobSummary", "NewJob", "NotFound"],
        *["QueueStats", "RateLimited", "Rejected"],
        *["RequestRefused", "RetryAccepted", "Schedule", "ScheduleRun", "ServerUnavailable"],
        *["Stats", "Submitted"],
        *["TypeCounts", "Unauthorized", "WaitTimedOut", "Worker", "WorkerList"],
    ]
    assert set(observatory.__all__) == {*handlers, *client}
    assert len(observatory.__all__) == len(handlers) + len(client)
    assert observatory.__all__ == sorted(observatory.__all__, key=lambda n: (n[0].islower(), n))
    for name in observatory.__all__:
        assert getattr(observatory, name).__doc__, name


def test_a_handler_declared_through_the_public_api_registers() -> None:
    registry = observatory.HandlerRegistry()

    @observatory.handler("public-api", registry=registry, max_attempts=2)
    async def run(job: observatory.JobContext) -> object:
        raise observatory.NonRetryable(f"{job.id} is not welcome")

    found = registry.find("public-api")
    assert found is not None
    assert found.run is run
    assert found.max_attempts == 2
    assert issubclass(observatory.NonRetryable, JobFailed)
    assert "public-api" not in DEFAULT_REGISTRY.types()
