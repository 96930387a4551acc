"""The read model's documents as the TUI uses them, parsed from JSON with light checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.domain.jobs import DEFAULT_PRIORITY
from actors.errors import ObservatoryError

__all__ = [
    "Alert",
    "Alerts",
    "JobSummary",
    "MalformedDocument",
    "Stats",
    "Throughput",
    "as_list",
    "as_object",
]


class MalformedDocument(ObservatoryError):
    """An API answered with JSON that does not have the documented shape."""


def as_object(value: object, what: str) -> dict[str, object]:
    """``value`` as a JSON object, or :class:`MalformedDocument` naming ``what``."""
    if not isinstance(value, dict):
        raise MalformedDocument(f"Expected {what} to be a JSON object, got {type(value).__name__}.")
    return {str(k): v for k, v in value.items()}


def as_list(value: object, what: str) -> list[object]:
    """``value`` as a JSON array, or :class:`MalformedDocument` naming ``what``."""
    if not isinstance(value, list):
        raise MalformedDocument(f"Expected {what} to be a JSON array, got {type(value).__name__}.")
    return list(value)


def _int(doc: dict[str, object], key: str, what: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedDocument(f"Expected {what}.{key} to be an integer, got {value!r}.")
    return value


def _str(doc: dict[str, object], key: str, what: str, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise MalformedDocument(f"Expected {what}.{key} to be a string, got {value!r}.")
    return value


@dataclass(frozen=True, slots=True)
class Stats:
    """``GET /stats``: the live counters."""

    total: int
    completed: int
    failed: int
    in_flight: int
    last_event_time: str | None

    @classmethod
    def from_json(cls, value: object) -> Stats:
        doc = as_object(value, "stats")
        last = doc.get("lastEventTime")
        return cls(
            total=_int(doc, "totalJobs", "stats"),
            completed=_int(doc, "completedJobs", "stats"),
            failed=_int(doc, "failedJobs", "stats"),
            in_flight=_int(doc, "inFlightJobs", "stats"),
            last_event_time=last if isinstance(last, str) else None,
        )

    @property
    def finished(self) -> int:
        """Completed plus failed."""
        return self.completed + self.failed


@dataclass(frozen=True, slots=True)
class Throughput:
    """``GET /stats/throughput``: finished jobs per second over the last minute."""

    per_second: float

    @classmethod
    def from_json(cls, value: object) -> Throughput:
        doc = as_object(value, "throughput")
        rate = doc.get("perSecond")
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise MalformedDocument(f"Expected throughput.perSecond to be a number, got {rate!r}.")
        return cls(per_second=float(rate))


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One row of ``GET /jobs/recent``."""

    id: str
    type: str
    status: str
    created_at: str
    updated_at: str
    priority: int = DEFAULT_PRIORITY
    """0 to 9: of the waiting jobs the higher start first (5: submitted without one, or
    listed by a read model that predates priorities)."""

    @classmethod
    def from_json(cls, value: object) -> JobSummary:
        doc = as_object(value, "job")
        priority = doc.get("priority", DEFAULT_PRIORITY)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise MalformedDocument(f"Expected job.priority to be an integer, got {priority!r}.")
        return cls(
            id=_str(doc, "id", "job"),
            type=_str(doc, "type", "job"),
            status=_str(doc, "status", "job"),
            created_at=_str(doc, "createdAt", "job", ""),
            updated_at=_str(doc, "updatedAt", "job", ""),
            priority=priority,
        )

    @classmethod
    def list_from_json(cls, value: object) -> list[JobSummary]:
        return [cls.from_json(item) for item in as_list(value, "the recent jobs")]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of ``GET /alerts``."""

    name: str
    severity: str
    status: str
    summary: str
    starts_at: str

    @classmethod
    def from_json(cls, value: object) -> Alert:
        doc = as_object(value, "alert")
        annotations = doc.get("annotations")
        summary = ""
        if isinstance(annotations, dict):
            text = annotations.get("summary") or annotations.get("description") or ""
            summary = str(text)
        return cls(
            name=_str(doc, "name", "alert"),
            severity=_str(doc, "severity", "alert", "unknown"),
            status=_str(doc, "status", "alert", "firing"),
            summary=summary,
            starts_at=_str(doc, "startsAt", "alert", ""),
        )


@dataclass(frozen=True, slots=True)
class Alerts:
    """``GET /alerts``: the active alerts (critical first, as the read model orders them)."""

    active: list[Alert] = field(default_factory=list)

    @classmethod
    def from_json(cls, value: object) -> Alerts:
        doc = as_object(value, "alerts")
        return cls(active=[Alert.from_json(a) for a in as_list(doc.get("active"), "alerts.active")])
