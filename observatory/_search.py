"""The job search of the clients (``GET /jobs``): its result types and query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypedDict

from actors.domain.jobs import DEFAULT_PRIORITY, JobStatus
from observatory._results import priority_of, text_field

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["JobPage", "JobSummary", "search_params"]


@dataclass(frozen=True, slots=True)
class JobSummary:
    """A job as the search lists it (``GET /jobs``); :meth:`Client.get` has the rest."""

    id: str
    type: str
    status: JobStatus
    created_at: str
    updated_at: str | None
    started_at: str | None
    finished_at: str | None
    correlation_id: str | None
    attempts: int
    round: int
    error: str | None
    """The last error, if any."""
    scheduled_for: str | None = None
    """A delayed job's start time; ``None`` for a job that ran at once."""
    priority: int = DEFAULT_PRIORITY
    """0 to 9: of the jobs waiting, the higher run first (5: submitted without one)."""

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> JobSummary:
        """Read one item of ``GET /jobs`` (fields it does not know are ignored)."""
        attempts, job_round = doc.get("attempts"), doc.get("round")
        return cls(
            id=str(doc["id"]),
            type=str(doc["type"]),
            status=JobStatus(str(doc["status"])),
            created_at=str(doc.get("createdAt", "")),
            updated_at=text_field(doc, "updatedAt"),
            started_at=text_field(doc, "startedAt"),
            finished_at=text_field(doc, "finishedAt"),
            correlation_id=text_field(doc, "correlationId"),
            attempts=attempts if isinstance(attempts, int) else 0,
            round=job_round if isinstance(job_round, int) else 1,
            error=text_field(doc, "error"),
            scheduled_for=text_field(doc, "scheduledFor"),
            priority=priority_of(doc),
        )


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a job search."""

    items: tuple[JobSummary, ...]
    next_cursor: str | None
    """Pass it as ``cursor`` (with the same filters) for the next page; ``None``: the last."""

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> JobPage:
        """Read the body of ``GET /jobs``."""
        items = doc.get("items")
        return cls(
            items=tuple(
                JobSummary.from_json(item)
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict)
            ),
            next_cursor=text_field(doc, "nextCursor"),
        )


def _many(value: str | JobStatus | Iterable[str | JobStatus] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # a JobStatus is a str too
        return [str(value)]
    return [str(item) for item in value]


def _moment(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.isoformat()


def search_params(
    *,
    status: str | JobStatus | Iterable[str | JobStatus] | None,
    type: str | Iterable[str] | None,
    created_after: datetime | str | None,
    created_before: datetime | str | None,
    finished_after: datetime | str | None,
    finished_before: datetime | str | None,
    correlation_id: str | None,
    error: str | None,
    q: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
    priority: int | None = None,
) -> list[tuple[str, str]]:
    """The query parameters of ``GET /jobs`` for the clients' ``search_jobs`` arguments
    (a naive datetime is taken as UTC)."""
    params: list[tuple[str, str]] = [("status", s) for s in _many(status)]
    params += [("type", t) for t in _many(type)]
    for name, value in (
        ("createdAfter", _moment(created_after)),
        ("createdBefore", _moment(created_before)),
        ("finishedAfter", _moment(finished_after)),
        ("finishedBefore", _moment(finished_before)),
        ("correlationId", correlation_id),
        ("error", error),
        ("q", q),
        ("priority", None if priority is None else str(priority)),
        ("sort", sort),
        ("limit", str(limit)),
        ("cursor", cursor),
    ):
        if value is not None:
            params.append((name, value))
    return params


class BulkFilters(TypedDict, total=False):
    """The filters of a bulk action (the search's, and ``limit``), and ``dry_run``, as
    keyword arguments."""

    status: str | JobStatus | Iterable[str | JobStatus]
    type: str | Iterable[str]
    created_after: datetime | str
    created_before: datetime | str
    finished_after: datetime | str
    finished_before: datetime | str
    correlation_id: str
    error: str
    q: str
    priority: int
    limit: int
    dry_run: bool
    """Count what the action would take (``matched``, ``more``) and do nothing."""


def bulk_body(filters: BulkFilters) -> dict[str, object]:
    """The JSON body of a bulk action (``POST /jobs/cancel``, ``POST /jobs/retry``): the
    search's filters, those given only (a naive datetime is taken as UTC)."""
    body: dict[str, object] = {}
    if statuses := _many(filters.get("status")):
        body["status"] = statuses
    if types := _many(filters.get("type")):
        body["type"] = types
    given = (
        ("createdAfter", _moment(filters.get("created_after"))),
        ("createdBefore", _moment(filters.get("created_before"))),
        ("finishedAfter", _moment(filters.get("finished_after"))),
        ("finishedBefore", _moment(filters.get("finished_before"))),
        ("correlationId", filters.get("correlation_id")),
        ("error", filters.get("error")),
        ("q", filters.get("q")),
        ("priority", filters.get("priority")),
        ("limit", filters.get("limit")),
    )
    body.update({name: value for name, value in given if value is not None})
    if filters.get("dry_run"):
        body["dryRun"] = True
    return body
