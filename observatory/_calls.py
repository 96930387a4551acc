"""Every request the clients make, described once: where it goes, what it sends, and how
its answer is read.

:class:`~observatory.Client` and :class:`~observatory.AsyncClient` are mirrors: each
method builds its :class:`Call` here and only sends it (the one with ``httpx.Client``,
the other awaiting ``httpx.AsyncClient``), so the two never disagree on a URL, a
parameter or the reading of an answer. Where they are, and the token, come from the
arguments or the environment (:func:`resolve_url`, :func:`auth_headers`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from observatory._answers import checked, error_of
from observatory._fleet import QueueStats, WorkerList, queues_of
from observatory._results import CancelAccepted, Job, RetryAccepted, Stats, text_field
from observatory._search import JobPage, bulk_body
from observatory._submitting import submission, submitted
from observatory._waiting import wait_params

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime, timedelta

    import httpx

    from observatory._results import Submitted
    from observatory._search import BulkFilters

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_READ_MODEL_URL",
    "GATEWAY_URL_ENV",
    "READ_MODEL_URL_ENV",
    "TOKEN_ENV",
    "Call",
    "Calls",
    "auth_headers",
    "resolve_url",
]

DEFAULT_GATEWAY_URL = "http://127.0.0.1:3000"
"""Where ``observatory up`` runs the gateway by default."""
DEFAULT_READ_MODEL_URL = "http://127.0.0.1:8080"
"""Where ``observatory up`` runs the read model by default."""
GATEWAY_URL_ENV = "GATEWAY_URL"
READ_MODEL_URL_ENV = "READ_MODEL_URL"
TOKEN_ENV = "OBSERVATORY_API_TOKEN"

T = TypeVar("T")


def resolve_url(given: str | None, env: str, default: str) -> str:
    """``given``, else the environment variable ``env``, else ``default``; no final ``/``."""
    return (given or os.environ.get(env) or default).rstrip("/")


def auth_headers(token: str | None) -> dict[str, str]:
    """The Bearer header for ``token`` (default ``$OBSERVATORY_API_TOKEN``), if any."""
    token = token or os.environ.get(TOKEN_ENV) or None
    return {"Authorization": f"Bearer {token}"} if token else {}


def _checked_json(response: httpx.Response) -> dict[str, object]:
    return checked(response)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request, and how to read its answer into a result (or raise its error)."""

    method: str
    url: str
    read: Callable[[httpx.Response], T]
    """Turns the answer into the result; raises the :class:`ApiError` of a refusal."""
    params: list[tuple[str, str]] | dict[str, str] | None = None
    json: object = None
    """The JSON body; ``None``: no body."""
    extra_s: float = 0.0
    """Added to the client's per-request timeout (a ``?wait=`` request waits that long)."""


def _retry_accepted(job_id: str, body: Mapping[str, object]) -> RetryAccepted:
    new_round = body.get("round")
    return RetryAccepted(
        str(body.get("jobId", job_id)), new_round if isinstance(new_round, int) else 2, body
    )


class Calls:
    """The requests of one observatory: jobs to the gateway, reads to the read model.

    Args:
        gateway_url: the gateway's base URL (no final ``/``).
        read_model_url: the read model's base URL (no final ``/``).
    """

    def __init__(self, gateway_url: str, read_model_url: str) -> None:
        self.gateway_url = gateway_url
        self.read_model_url = read_model_url

    def submit(
        self,
        job_type: str,
        payload: Mapping[str, object] | None,
        job_id: str | None,
        metadata: Mapping[str, object] | None,
        run_at: datetime | timedelta | None = None,
        priority: int | None = None,
    ) -> Call[Submitted]:
        """``POST /jobs``: one job (a 400 is a :class:`JobRejected`)."""
        body = submission(job_type, payload, job_id, metadata, run_at, priority)
        return Call(
            "POST",
            f"{self.gateway_url}/jobs",
            lambda response: submitted(checked(response, job=True)),
            json=body,
        )

    def batch(self, chunk: list[dict[str, object]]) -> Call[httpx.Response]:
        """``POST /jobs/batch``: the answer as is (read by ``batch_results``, after any
        rate-limit retries)."""
        return Call("POST", f"{self.gateway_url}/jobs/batch", lambda response: response, json=chunk)

    def get(self, job_id: str, *, wait_s: float = 0.0) -> Call[Job]:
        """``GET /jobs/{id}``, answering once the job ended or ``wait_s`` passed."""
        return Call(
            "GET",
            f"{self.read_model_url}/jobs/{job_id}",
            lambda response: Job.from_json(checked(response)),
            params=wait_params(wait_s)[1] if wait_s > 0 else {},
            extra_s=wait_s,
        )

    def cancel(self, job_id: str) -> Call[CancelAccepted]:
        """``DELETE /jobs/{id}``."""

        def read(response: httpx.Response) -> CancelAccepted:
            body = checked(response)
            return CancelAccepted(str(body.get("jobId", job_id)), text_field(body, "status"), body)

        return Call("DELETE", f"{self.gateway_url}/jobs/{job_id}", read)

    def retry(self, job_id: str) -> Call[RetryAccepted]:
        """``POST /jobs/{id}/retry``."""
        return Call(
            "POST",
            f"{self.gateway_url}/jobs/{job_id}/retry",
            lambda response: _retry_accepted(job_id, checked(response)),
        )

    def cancel_jobs(self, filters: BulkFilters) -> Call[dict[str, object]]:
        """``POST /jobs/cancel`` with the search's filters."""
        return Call(
            "POST", f"{self.gateway_url}/jobs/cancel", _checked_json, json=bulk_body(filters)
        )

    def retry_jobs(self, filters: BulkFilters) -> Call[dict[str, object]]:
        """``POST /jobs/retry`` with the search's filters."""
        return Call(
            "POST", f"{self.gateway_url}/jobs/retry", _checked_json, json=bulk_body(filters)
        )

    def stats(self) -> Call[Stats]:
        """``GET /stats``."""
        return Call(
            "GET",
            f"{self.read_model_url}/stats",
            lambda response: Stats.from_json(checked(response)),
        )

    def search_jobs(self, params: list[tuple[str, str]]) -> Call[JobPage]:
        """``GET /jobs`` with ``params`` (from ``search_params``)."""
        return Call(
            "GET",
            f"{self.read_model_url}/jobs",
            lambda response: JobPage.from_json(checked(response)),
            params=params,
        )

    def workers(self) -> Call[WorkerList]:
        """``GET /workers``."""
        return Call(
            "GET",
            f"{self.read_model_url}/workers",
            lambda response: WorkerList.from_json(checked(response)),
        )

    def queues(self) -> Call[tuple[QueueStats, ...]]:
        """``GET /queues`` (a JSON array)."""
        return Call("GET", f"{self.read_model_url}/queues", _read_queues)


def _read_queues(response: httpx.Response) -> tuple[QueueStats, ...]:
    if not response.is_success:
        raise error_of(response)
    try:
        document = response.json()
    except ValueError:
        document = None
    return queues_of(document)
