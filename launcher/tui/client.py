"""The TUI's only way to the observatory: the read model's and gateway's HTTP APIs.

Resource handling:
    :class:`ObservatoryClient` owns one ``httpx.AsyncClient``; close it with
    :meth:`ObservatoryClient.aclose` (or ``async with``).

Error handling:
    A connection failure, a timeout or a 5xx becomes :class:`ApiUnavailable`; a body of
    the wrong shape becomes :class:`~launcher.tui.models.MalformedDocument`; a 400 from
    the gateway becomes :class:`SubmitRejected` with every detail. Nothing is retried
    here: the screens decide when to ask again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

import httpx
from httpx_sse import SSEError, aconnect_sse

from actors.errors import ObservatoryError
from launcher.tui.models import (
    Alerts,
    JobSummary,
    MalformedDocument,
    Stats,
    Throughput,
    as_list,
    as_object,
)
from launcher.tui.type_hints import JobTypeInfo
from observatory import QueueStats, Schedule, WorkerList

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = [
    "DEFAULT_READ_MODEL_URL",
    "ApiUnavailable",
    "DeadLetterRefused",
    "FilterRefused",
    "ObservatoryClient",
    "ReadModelConfig",
    "RetryRefused",
    "ScheduleRefused",
    "StreamEvent",
    "StreamMissing",
    "SubmitRejected",
    "SubmitResult",
    "read_model_url_from_env",
]

DEFAULT_READ_MODEL_URL = "http://127.0.0.1:8080"
STREAM_READ_TIMEOUT_S = 45.0
"""The stream sends a keep-alive every 15 s; three missed ones mean it is dead."""


def read_model_url_from_env() -> str:
    """``$READ_MODEL_URL`` or ``http://127.0.0.1:8080``, without a trailing slash."""
    return (os.environ.get("READ_MODEL_URL") or DEFAULT_READ_MODEL_URL).rstrip("/")


class ApiUnavailable(ObservatoryError):
    """The read model or gateway did not answer, timed out, or answered with a 5xx."""


class Unauthorized(ApiUnavailable):
    """The API wants a (valid) token: ``OBSERVATORY_API_TOKEN`` or the prompt."""


class StreamMissing(ObservatoryError):
    """The read model has no ``/stream`` (an older version): poll instead."""


class SubmitRejected(ObservatoryError):
    """The gateway refused the submission (400); ``details`` lists ``(path, message)``."""

    def __init__(self, error: str, details: list[tuple[str, str]]) -> None:
        super().__init__(error)
        self.error = error
        self.details = details


class FilterRefused(ObservatoryError):
    """The read model refused the filter of a job search (400): its message says why."""


class RetryRefused(ObservatoryError):
    """The gateway refused to retry the job: it is unknown (404) or not FAILED (409)."""


class ScheduleRefused(ObservatoryError):
    """The gateway refused to pause, resume or run a schedule: it is unknown (404), or
    the token may not change schedules (403); the gateway's message says which."""


class DeadLetterRefused(ObservatoryError):
    """The gateway refused to requeue or discard a dead letter: unknown (404), not a job
    (409), or an (edited) message that is not a valid job (400, ``details`` say where)."""

    def __init__(self, error: str, details: list[tuple[str, str]]) -> None:
        super().__init__(error)
        self.error = error
        self.details = details


@dataclass(frozen=True, slots=True)
class ReadModelConfig:
    """``GET /config``: where the gateway is and which job types are registered."""

    gateway_url: str
    version: str
    job_types: list[str]


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What the gateway accepted: the new job ids, and a sentence per rejected job."""

    job_ids: list[str]
    rejected: list[str]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One Server-Sent Event of ``/stream``: its ``event:`` name and its JSON data."""

    kind: str
    data: object


def _details(body: dict[str, object]) -> list[tuple[str, str]]:
    details = body.get("details")
    if not isinstance(details, list):
        return []
    return [
        (str(item.get("path", "")), str(item.get("message", "")))
        for item in details
        if isinstance(item, dict)
    ]


class ObservatoryClient:
    """Talks to one read model (and the gateway its ``/config`` names).

    Args:
        read_model_url: e.g. ``http://127.0.0.1:8080``.
        gateway_url: the gateway; ``None``: ``$GATEWAY_URL``, else what ``/config`` says.
        timeout_s: bound of every request but the stream.
    """

    def __init__(
        self,
        read_model_url: str,
        *,
        gateway_url: str | None = None,
        timeout_s: float = 5.0,
        token: str | None = None,
    ) -> None:
        self.read_model_url = read_model_url.rstrip("/")
        self.gateway_url = gateway_url or os.environ.get("GATEWAY_URL") or None
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self.set_token(token or os.environ.get("OBSERVATORY_API_TOKEN") or None)

    def set_token(self, token: str | None) -> None:
        """Send ``token`` as ``Authorization: Bearer`` from now on (``None``: no header)."""
        self.token = token
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        else:
            self._http.headers.pop("Authorization", None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        url: str,
        *,
        json_body: object = None,
        params: dict[str, str] | httpx.QueryParams | None = None,
    ) -> httpx.Response:
        try:
            if json_body is None:
                response = await self._http.request(method, url, params=params)
            else:
                response = await self._http.request(method, url, json=json_body, params=params)
        except httpx.HTTPError as error:
            raise ApiUnavailable(
                f"{method} {url} failed: {type(error).__name__}: {error}"
            ) from error
        if response.status_code >= 500:
            raise ApiUnavailable(f"{method} {url} answered HTTP {response.status_code}.")
        if response.status_code == 401:
            reason = "no token was sent" if not self.token else "the token was refused"
            raise Unauthorized(f"{method} {url} needs an API token: {reason}.")
        return response

    async def _get_json(self, path: str, params: dict[str, str] | None = None) -> object:
        url = f"{self.read_model_url}{path}"
        response = await self._request("GET", url, params=params)
        if response.status_code != 200:
            raise ApiUnavailable(f"GET {url} answered HTTP {response.status_code}.")
        return _json(response)

    async def health(self) -> str:
        """``GET /health``: the read model's version."""
        doc = as_object(await self._get_json("/health"), "health")
        return str(doc.get("version", "?"))

    async def config(self) -> ReadModelConfig:
        """``GET /config``, remembering the gateway URL unless one was given."""
        doc = as_object(await self._get_json("/config"), "config")
        types = [str(t) for t in as_list(doc.get("jobTypes", []), "config.jobTypes")]
        config = ReadModelConfig(
            gateway_url=str(doc.get("gatewayUrl", "")).rstrip("/"),
            version=str(doc.get("version", "?")),
            job_types=types,
        )
        if self.gateway_url is None and config.gateway_url:
            self.gateway_url = config.gateway_url
        return config

    async def job_types(self) -> list[JobTypeInfo] | None:
        """``GET /types``: each registered type with its payload schema; ``None`` when
        this read model does not have it (an older version)."""
        url = f"{self.read_model_url}/types"
        response = await self._request("GET", url)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApiUnavailable(f"GET {url} answered HTTP {response.status_code}.")
        return JobTypeInfo.list_from_json(_json(response))

    async def stats(self) -> Stats:
        """``GET /stats``."""
        return Stats.from_json(await self._get_json("/stats"))

    async def throughput(self) -> Throughput | None:
        """``GET /stats/throughput``; ``None`` when this read model does not have it."""
        url = f"{self.read_model_url}/stats/throughput"
        response = await self._request("GET", url)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApiUnavailable(f"GET {url} answered HTTP {response.status_code}.")
        return Throughput.from_json(_json(response))

    async def recent_jobs(self, limit: int = 20) -> list[JobSummary]:
        """``GET /jobs/recent?limit=...``, newest first."""
        return JobSummary.list_from_json(
            await self._get_json("/jobs/recent", {"limit": str(limit)})
        )

    async def search_jobs(self, params: list[tuple[str, str]], limit: int) -> list[JobSummary]:
        """``GET /jobs`` with the filter's ``params``: the first ``limit`` matches, newest
        first.

        Raises:
            FilterRefused: the read model refused the filter (400, its message).
            ApiUnavailable: it did not answer.
        """
        url = f"{self.read_model_url}/jobs"
        response = await self._request(
            "GET", url, params=httpx.QueryParams([*params, ("limit", str(limit))])
        )
        if response.status_code == 400:
            body = as_object(_json(response), "the read model's answer")
            raise FilterRefused(str(body.get("error", "The read model refused the filter.")))
        if response.status_code != 200:
            raise ApiUnavailable(f"GET {url} answered HTTP {response.status_code}.")
        items = as_list(as_object(_json(response), "the job search").get("items"), "items")
        # A job not updated since it was created has a null updatedAt here.
        return [
            JobSummary.from_json({**doc, "updatedAt": doc.get("updatedAt") or doc.get("createdAt")})
            for doc in (as_object(item, "job") for item in items)
        ]

    async def workers(self) -> WorkerList:
        """``GET /workers``: the processors and metrics engines seen lately."""
        return WorkerList.from_json(as_object(await self._get_json("/workers"), "workers"))

    async def queues(self) -> list[QueueStats]:
        """``GET /queues``: every queue of the topology."""
        items = as_list(await self._get_json("/queues"), "queues")
        return [QueueStats.from_json(as_object(item, "queue")) for item in items]

    async def schedules(self) -> list[Schedule]:
        """``GET /schedules``: every recurring schedule, by name."""
        doc = as_object(await self._get_json("/schedules"), "schedules")
        items = as_list(doc.get("schedules"), "the schedules")
        return [Schedule.from_json(as_object(item, "schedule")) for item in items]

    async def set_schedule_enabled(self, schedule_id: str, *, enabled: bool) -> Schedule:
        """``PATCH /schedules/{id}`` on the gateway with ``enabled``: pause or resume it.

        Raises:
            ScheduleRefused: the gateway's 400, 403 or 404, with its message.
            ApiUnavailable: no gateway is known, or it did not answer.
        """
        url = f"{await self._gateway_url()}/schedules/{quote(schedule_id, safe='')}"
        response = await self._request("PATCH", url, json_body={"enabled": enabled})
        answer = as_object(_json(response), "the gateway's answer")
        if response.status_code != 200:
            raise ScheduleRefused(str(answer.get("error", f"HTTP {response.status_code}")))
        return Schedule.from_json(answer)

    async def run_schedule(self, schedule_id: str) -> str:
        """``POST /schedules/{id}/run`` on the gateway: submit its job once, now.

        Returns:
            The id of the job it submitted.

        Raises:
            ScheduleRefused: the gateway's 403 or 404, with its message.
            ApiUnavailable: no gateway is known, it did not answer, or the job could not
                be submitted (503).
        """
        url = f"{await self._gateway_url()}/schedules/{quote(schedule_id, safe='')}/run"
        response = await self._request("POST", url)
        answer = as_object(_json(response), "the gateway's answer")
        if response.status_code != 202:
            raise ScheduleRefused(str(answer.get("error", f"HTTP {response.status_code}")))
        return str(answer.get("jobId", ""))

    async def job(self, job_id: str) -> dict[str, object]:
        """``GET /jobs/{id}``: the job with its ``events``."""
        return as_object(await self._get_json(f"/jobs/{job_id}"), "job")

    async def alerts(self) -> Alerts:
        """``GET /alerts``."""
        return Alerts.from_json(await self._get_json("/alerts"))

    async def dead_letters(self, limit: int = 50) -> list[dict[str, object]]:
        """``GET /dead-letters?limit=...``, newest first."""
        items = as_list(
            await self._get_json("/dead-letters", {"limit": str(limit)}), "dead letters"
        )
        return [as_object(item, "dead letter") for item in items]

    async def submit(
        self, job_type: str, payload: dict[str, object] | None, count: int
    ) -> SubmitResult:
        """Submit ``count`` jobs of ``job_type``: ``POST /jobs`` for one, ``/jobs/batch`` for more.

        Raises:
            SubmitRejected: the gateway answered 400 (every detail is kept).
            ApiUnavailable: no gateway is known, or it did not answer.
        """
        if self.gateway_url is None:
            await self.config()
        if not self.gateway_url:
            raise ApiUnavailable("The read model's /config names no gateway; set GATEWAY_URL.")
        job: dict[str, object] = {"type": job_type}
        if payload is not None:
            job["payload"] = payload
        if count == 1:
            url = f"{self.gateway_url}/jobs"
            response = await self._request("POST", url, json_body=job)
            body = as_object(_json(response), "the gateway's answer")
            if response.status_code == 202:
                return SubmitResult(job_ids=[str(body.get("jobId"))], rejected=[])
            raise SubmitRejected(
                str(body.get("error", f"HTTP {response.status_code}")), _details(body)
            )
        url = f"{self.gateway_url}/jobs/batch"
        response = await self._request("POST", url, json_body=[job] * count)
        body = as_object(_json(response), "the gateway's answer")
        results = body.get("results")
        if not isinstance(results, list):
            raise SubmitRejected(
                str(body.get("error", f"HTTP {response.status_code}")), _details(body)
            )
        ids: list[str] = []
        rejected: list[str] = []
        for index, result in enumerate(results):
            item = as_object(result, "a batch result")
            if "jobId" in item:
                ids.append(str(item["jobId"]))
            else:
                detail = "; ".join(f"{p or '/'}: {m}" for p, m in _details(item))
                rejected.append(f"job {index}: {item.get('error', '')} {detail}".strip())
        if not ids:
            first = as_object(results[0], "a batch result") if results else {}
            raise SubmitRejected(
                str(first.get("error", "Every job was rejected.")), _details(first)
            )
        return SubmitResult(job_ids=ids, rejected=rejected)

    async def retry(self, job_id: str) -> int:
        """``POST /jobs/{id}/retry`` on the gateway: run the FAILED job again.

        Returns:
            The round the job runs as now (2 for its first retry).

        Raises:
            RetryRefused: the job is unknown, or not FAILED (the gateway's message).
            ApiUnavailable: no gateway is known, or it did not answer.
        """
        if self.gateway_url is None:
            await self.config()
        if not self.gateway_url:
            raise ApiUnavailable("The read model's /config names no gateway; set GATEWAY_URL.")
        response = await self._request("POST", f"{self.gateway_url}/jobs/{job_id}/retry")
        body = as_object(_json(response), "the gateway's answer")
        if response.status_code != 202:
            raise RetryRefused(str(body.get("error", f"HTTP {response.status_code}")))
        round_ = body.get("round")
        return round_ if isinstance(round_, int) else 0

    async def _gateway_url(self) -> str:
        if self.gateway_url is None:
            await self.config()
        if not self.gateway_url:
            raise ApiUnavailable("The read model's /config names no gateway; set GATEWAY_URL.")
        return self.gateway_url

    async def requeue_dead_letter(self, dead_letter_id: str, body: str | None = None) -> str:
        """``POST /dead-letters/{id}/requeue`` on the gateway: publish the dead letter's
        job again, as it was or (``body``) the operator's edited message text.

        Returns:
            The id of the requeued job.

        Raises:
            DeadLetterRefused: the gateway's 400 (with every detail), 404 or 409.
            ApiUnavailable: no gateway is known, it did not answer, or the broker did not
                confirm (503: the dead letter is kept).
        """
        url = f"{await self._gateway_url()}/dead-letters/{quote(dead_letter_id, safe='')}/requeue"
        document = None if body is None else {"body": body}
        response = await self._request("POST", url, json_body=document)
        answer = as_object(_json(response), "the gateway's answer")
        if response.status_code != 202:
            error = str(answer.get("error", f"HTTP {response.status_code}"))
            raise DeadLetterRefused(error, _details(answer))
        return str(answer.get("jobId", ""))

    async def discard_dead_letter(self, dead_letter_id: str) -> None:
        """``DELETE /dead-letters/{id}`` on the gateway: drop the dead letter for good.

        Raises:
            DeadLetterRefused: it is unknown (404), or the gateway keeps none (409).
            ApiUnavailable: no gateway is known, or it did not answer.
        """
        url = f"{await self._gateway_url()}/dead-letters/{quote(dead_letter_id, safe='')}"
        response = await self._request("DELETE", url)
        if response.status_code != 200:
            answer = as_object(_json(response), "the gateway's answer")
            error = str(answer.get("error", f"HTTP {response.status_code}"))
            raise DeadLetterRefused(error, _details(answer))

    async def follow_stream(
        self, on_event: Callable[[StreamEvent], None], *, on_open: Callable[[], None] | None = None
    ) -> None:
        """Read ``GET /stream`` and hand each event to ``on_event`` until the stream ends.

        Raises:
            StreamMissing: the read model answered 404 (it has no stream).
            ApiUnavailable: it could not be reached, or the connection broke.
        """
        url = f"{self.read_model_url}/stream"
        timeout = httpx.Timeout(5.0, read=STREAM_READ_TIMEOUT_S)
        try:
            async with aconnect_sse(self._http, "GET", url, timeout=timeout) as source:
                status = source.response.status_code
                if status == 404:
                    raise StreamMissing(f"GET {url} answered 404: this read model has no stream.")
                if status != 200:
                    raise ApiUnavailable(f"GET {url} answered HTTP {status}.")
                if on_open is not None:
                    on_open()
                async for sse in source.aiter_sse():
                    if not sse.event or not sse.data:
                        continue
                    try:
                        data = json.loads(sse.data)
                    except ValueError as error:
                        raise MalformedDocument(
                            f"The {sse.event!r} event's data is not JSON: {error}"
                        ) from None
                    on_event(StreamEvent(sse.event, data))
        except (httpx.HTTPError, SSEError) as error:
            raise ApiUnavailable(f"GET {url} failed: {type(error).__name__}: {error}") from error


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        raise MalformedDocument(
            f"{response.request.method} {response.request.url} answered HTTP "
            f"{response.status_code} with a body that is not JSON."
        ) from None
