"""Submit jobs and follow them from Python: :class:`Client` (sync) and :class:`AsyncClient`.

Both speak to a running observatory over HTTP (httpx): jobs go to the gateway, reads go
to the read model. Where they are, and the token, come from the arguments or else from
the environment the other tools read too:

==========================  =========================  ===========================
argument                    environment                default
==========================  =========================  ===========================
``gateway_url``             ``GATEWAY_URL``            ``http://127.0.0.1:3000``
``read_model_url``          ``READ_MODEL_URL``         ``http://127.0.0.1:8080``
``token``                   ``OBSERVATORY_API_TOKEN``  none (sent as a Bearer token)
==========================  =========================  ===========================

Example::

    from observatory import Client

    with Client() as client:
        submitted = client.submit("echo", {"hello": "world"})
        job = client.wait(submitted.job_id, timeout_s=30)
        print(job.status, job.result)

and the same with ``async with AsyncClient() as client:`` and ``await``. Failures are
exceptions from :mod:`observatory._errors` (``ApiError`` and below), carrying the
server's message and the paths of the fields it refused.

Ids: a job submitted without ``job_id`` gets a fresh UUID *here*, before it is sent, so
a submission that ended in :class:`~observatory.ServerUnavailable` can be sent again
as is: the observatory never runs one id twice.

The code lives by concept in private modules, re-exported here: ``_sync_client`` and
``_async_client`` (the two mirrors), ``_calls`` (every request and the reading of its
answer, shared by both), ``_answers`` (answers to errors), ``_submitting`` and
``_waiting`` (batches and waits), ``_results`` and ``_search`` (the result types).
"""

from __future__ import annotations

from observatory._answers import error_of
from observatory._async_client import AsyncClient
from observatory._calls import DEFAULT_GATEWAY_URL, DEFAULT_READ_MODEL_URL
from observatory._fleet import InFlightJob, QueueStats, Worker, WorkerList
from observatory._results import (
    AttemptFailure,
    BatchResult,
    CancelAccepted,
    Job,
    JobStatus,
    NewJob,
    Rejected,
    RetryAccepted,
    Stats,
    Submitted,
    TypeCounts,
)
from observatory._search import JobPage, JobSummary
from observatory._submitting import (
    MAX_BATCH_JOBS,
    as_new_job,
    batch_results,
    chunks,
    rate_limited_pause,
    submission,
)
from observatory._sync_client import Client
from observatory._waiting import wait_params

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_READ_MODEL_URL",
    "MAX_BATCH_JOBS",
    "AsyncClient",
    "AttemptFailure",
    "BatchResult",
    "CancelAccepted",
    "Client",
    "InFlightJob",
    "Job",
    "JobPage",
    "JobStatus",
    "JobSummary",
    "NewJob",
    "QueueStats",
    "Rejected",
    "RetryAccepted",
    "Stats",
    "Submitted",
    "TypeCounts",
    "Worker",
    "WorkerList",
]

# The helpers' names from before the split, which tests/unit/observatory/test_client.py
# reads here.
_error = error_of
_as_new_job = as_new_job
_batch_results = batch_results
_chunks = chunks
_rate_limited_pause = rate_limited_pause
_submission = submission
_wait_params = wait_params
