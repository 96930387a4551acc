"""Searching jobs and events: the filters, the sort orders and the keyset cursors.

Every store answers the same :class:`JobQuery` and :class:`EventQuery` (the rule of what
matches lives here, in :meth:`JobQuery.matches` and :meth:`EventQuery.matches`, which the
in-memory store applies as they are and the SQL stores translate). Pages are cut by
*keyset*, never by offset: a page ends at a position (the sort key and the id of its last
item) and the next one starts strictly after it, so jobs arriving or moving between two
pages never shift the pages after them (no job twice, none skipped).

Time bounds are half-open: ``*_after`` is inclusive, ``*_before`` exclusive, so
consecutive windows never overlap. Timestamps are the stores' fixed-width RFC 3339 text
(:mod:`actors.domain.clock`), so comparing the text compares the times.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.domain.clock import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from actors.domain.events import Envelope, EventType
    from actors.domain.jobs import JobRecord, JobStatus

__all__ = [
    "MAX_PAGE_SIZE",
    "EventCursor",
    "EventPage",
    "EventQuery",
    "JobCursor",
    "JobPage",
    "JobQuery",
    "JobSort",
    "SortKey",
    "escape_like",
    "normalize_timestamp",
    "prefix_range",
]

MAX_PAGE_SIZE = 500
"""The largest page a search answers."""


class SortKey(enum.StrEnum):
    """What a job search orders by (then by job id, the tie-breaker)."""

    CREATED = "created"
    """When the job was created (every job has it)."""
    FINISHED = "finished"
    """When the job ended; only jobs that ended (``finishedAt`` set) are listed."""


@dataclass(frozen=True, slots=True)
class JobSort:
    """A sort order of a job search: a key and a direction."""

    key: SortKey = SortKey.CREATED
    descending: bool = True
    """Newest first (the default)."""

    NAMES = ("created:desc", "created:asc", "finished:desc", "finished:asc")
    """Every spelling :meth:`parse` accepts besides the bare keys (which mean ``:desc``)."""

    @classmethod
    def parse(cls, text: str) -> JobSort:
        """``created``, ``finished``, or either with ``:asc`` or ``:desc``.

        Raises:
            ValueError: ``text`` names no sort order.
        """
        key, _, direction = text.strip().lower().partition(":")
        if direction not in {"", "asc", "desc"}:
            raise ValueError(f"Unknown sort direction {direction!r}; expected asc or desc.")
        try:
            return cls(SortKey(key), descending=direction != "asc")
        except ValueError:
            raise ValueError(
                f"Unknown sort {text!r}; expected one of created, finished, {', '.join(cls.NAMES)}."
            ) from None

    def __str__(self) -> str:
        return f"{self.key.value}:{'desc' if self.descending else 'asc'}"

    def key_of(self, record: JobRecord) -> str | None:
        """``record``'s sort key (``None``: a job that did not end, under ``finished``)."""
        return record.spec.created_at if self.key is SortKey.CREATED else record.finished_at


def _encode(document: list[object]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, length: int) -> list[str]:
    """The strings a cursor holds, or ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValueError("The cursor is not one this server gave out.") from None
    if (
        not isinstance(document, list)
        or len(document) != length
        or not all(isinstance(part, str) for part in document)
    ):
        raise ValueError("The cursor is not one this server gave out.")
    return document


@dataclass(frozen=True, slots=True)
class JobCursor:
    """Where a page of a job search ended: the next page starts strictly after it."""

    sort: JobSort
    """The order the cursor belongs to (a cursor is refused under another)."""
    key: str
    """The last item's sort key (its ``createdAt`` or ``finishedAt``)."""
    job_id: str
    """The last item's id (the tie-breaker between equal keys)."""

    def encode(self) -> str:
        """The opaque token given to clients (URL-safe)."""
        return _encode(["j", str(self.sort), self.key, self.job_id])

    @classmethod
    def decode(cls, token: str, sort: JobSort) -> JobCursor:
        """The cursor of ``token``, which must have been given out under ``sort``.

        Raises:
            ValueError: ``token`` is not a job cursor, or is one of another sort order.
        """
        kind, sort_name, key, job_id = _decode(token, 4)
        if kind != "j":
            raise ValueError("The cursor is not one of a job search.")
        if sort_name != str(sort):
            raise ValueError(
                f"The cursor belongs to sort {sort_name!r}, not {str(sort)!r}; "
                "start again without a cursor."
            )
        return cls(sort, key, job_id)


def normalize_timestamp(text: str) -> str:
    """An RFC 3339 timestamp (any offset) as the stores' fixed-width UTC text.

    Raises:
        ValueError: ``text`` is not an RFC 3339 timestamp.
    """
    message = f"{text!r} is not an RFC 3339 timestamp, such as 2026-01-31T09:30:00Z."
    if not _RFC3339_START.match(text):  # fromisoformat also takes a bare date
        raise ValueError(message)
    try:
        return format_timestamp(parse_timestamp(text))
    except ValueError:
        raise ValueError(message) from None


_RFC3339_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def escape_like(text: str) -> str:
    r"""``text`` with SQL ``LIKE``'s wildcards escaped by ``\``, to match it literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prefix_range(prefix: str) -> tuple[str, str]:
    """The half-open range of the texts that start with ``prefix`` (not empty), in code
    point order (the stores' byte order: SQLite's and the "C" collation)."""
    last = prefix[-1]
    return prefix, prefix[:-1] + chr(min(ord(last) + 1, 0x10FFFF))


def _ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only: the case-insensitivity every store can offer
    (SQLite's ``LIKE`` folds ASCII letters only)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _payload_text(record: JobRecord) -> str:
    return json.dumps(dict(record.spec.payload), separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A search of the job store: every filter given must hold (an empty set: any).

    Text filters (``error``, ``q``) are case-insensitive for ASCII letters.
    """

    statuses: frozenset[JobStatus] = frozenset()
    """Any of these statuses."""
    types: frozenset[str] = frozenset()
    """Any of these job types."""
    priority: int | None = None
    """Submitted with this ``priority`` (0 to 9; a job submitted without one has 5)."""
    created_after: str | None = None
    """Created at or after (normalized timestamp text)."""
    created_before: str | None = None
    """Created before (exclusive)."""
    finished_after: str | None = None
    """Ended at or after; a job that did not end never matches."""
    finished_before: str | None = None
    """Ended before (exclusive); a job that did not end never matches."""
    correlation_id: str | None = None
    """Submitted under this correlation id."""
    error: str | None = None
    """The job's last error contains this text."""
    q: str | None = None
    """The job id starts with this text, or the payload's JSON text contains it."""
    sort: JobSort = field(default_factory=JobSort)
    limit: int = 50
    """The page size, 1 to :data:`MAX_PAGE_SIZE`."""
    after: JobCursor | None = None
    """Start strictly after this position (the previous page's ``next``)."""

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, not {self.limit}.")
        if self.after is not None and self.after.sort != self.sort:
            raise ValueError("The cursor belongs to another sort order.")

    def matches(self, record: JobRecord) -> bool:
        """Whether ``record`` passes every filter and lies past the cursor."""
        spec = record.spec
        finished = record.finished_at
        wants_finished = (
            self.sort.key is SortKey.FINISHED
            or self.finished_after is not None
            or self.finished_before is not None
        )
        if wants_finished and finished is None:
            return False
        return (
            (not self.statuses or record.status in self.statuses)
            and (not self.types or spec.type in self.types)
            and (self.priority is None or spec.priority == self.priority)
            and (self.created_after is None or spec.created_at >= self.created_after)
            and (self.created_before is None or spec.created_at < self.created_before)
            and (self.finished_after is None or (finished or "") >= self.finished_after)
            and (self.finished_before is None or (finished or "") < self.finished_before)
            and (self.correlation_id is None or spec.correlation_id == self.correlation_id)
            and (
                self.error is None
                or (
                    record.error is not None
                    and _ascii_lower(self.error) in _ascii_lower(record.error)
                )
            )
            and (
                self.q is None
                or spec.id.startswith(self.q)
                or _ascii_lower(self.q) in _ascii_lower(_payload_text(record))
            )
            and self._past_cursor(record)
        )

    def _past_cursor(self, record: JobRecord) -> bool:
        if self.after is None:
            return True
        key = self.sort.key_of(record)
        assert key is not None  # matches() dropped unfinished jobs under FINISHED
        position = (key, record.spec.id)
        cursor = (self.after.key, self.after.job_id)
        return position < cursor if self.sort.descending else position > cursor

    def order(self, records: list[JobRecord]) -> list[JobRecord]:
        """``records`` (all matching) sorted in this search's order."""
        return sorted(
            records,
            key=lambda record: (self.sort.key_of(record) or "", record.spec.id),
            reverse=self.sort.descending,
        )

    def page(self, ordered: list[JobRecord]) -> JobPage:
        """The page of the first ``limit`` of ``ordered`` (fetched with one extra row, so
        a full page tells whether more follow)."""
        items = ordered[: self.limit]
        following = None
        if len(ordered) > self.limit:
            last = items[-1]
            key = self.sort.key_of(last)
            assert key is not None
            following = JobCursor(self.sort, key, last.spec.id)
        return JobPage(items, following)


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a job search."""

    items: list[JobRecord]
    next: JobCursor | None
    """Where the next page starts; ``None`` when this page is the last."""


@dataclass(frozen=True, slots=True)
class EventCursor:
    """Where a page of events ended: the last event's time and its store's arrival
    position (an opaque text: an integer in SQLite, a string in MongoDB)."""

    occurred_at: str
    position: str

    def encode(self) -> str:
        """The opaque token given to clients (URL-safe)."""
        return _encode(["e", self.occurred_at, self.position])

    @classmethod
    def decode(cls, token: str) -> EventCursor:
        """The cursor of ``token``.

        Raises:
            ValueError: ``token`` is not an event cursor.
        """
        kind, occurred_at, position = _decode(token, 3)
        if kind != "e":
            raise ValueError("The cursor is not one of an event search.")
        return cls(occurred_at, position)


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A search of the audit trail, newest first (by time, then arrival)."""

    job_id: str | None = None
    types: frozenset[EventType] = frozenset()
    since: str | None = None
    """Occurred at or after (normalized timestamp text)."""
    until: str | None = None
    """Occurred before (exclusive)."""
    limit: int = 50
    after: EventCursor | None = None
    """Start strictly after this position (older events)."""

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, not {self.limit}.")

    def matches(self, event: Envelope) -> bool:
        """Whether ``event`` passes every filter (the cursor aside)."""
        return (
            (self.job_id is None or event.job_id == self.job_id)
            and (not self.types or event.event_type in self.types)
            and (self.since is None or event.occurred_at >= self.since)
            and (self.until is None or event.occurred_at < self.until)
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of an event search."""

    items: list[Envelope]
    next: EventCursor | None
    """Where the next page starts; ``None`` when this page is the last."""
