"""The clients' recurring schedules: ``POST /schedules`` and the routes around it.

:class:`Client` and :class:`AsyncClient` get these methods from the mixins here:

==========================  ==============================================================
method                      route
==========================  ==============================================================
``create_schedule``         ``POST /schedules`` (gateway): every ``interval`` or at each
                            ``cron`` time in ``timezone``
``list_schedules``          ``GET /schedules`` (read model), by name
``get_schedule``            ``GET /schedules/{id}`` (read model)
``update_schedule``         ``PATCH /schedules/{id}`` (gateway): the fields given
``pause_schedule``,         ``PATCH`` with ``enabled`` false / true (resuming skips what
``resume_schedule``         fell due while paused)
``delete_schedule``         ``DELETE /schedules/{id}`` (gateway)
``run_schedule``            ``POST /schedules/{id}/run`` (gateway): its job once, now
==========================  ==============================================================

Example::

    with Client() as client:
        nightly = client.create_schedule(
            "nightly-report", "report", {"days": 1}, cron="0 2 * * *", timezone="Europe/Berlin"
        )
        print(nightly.id, nightly.next_run_at)
        client.pause_schedule(nightly.id)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from observatory._answers import checked
from observatory._results import text_field

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    import httpx

__all__ = ["AsyncSchedules", "Schedule", "ScheduleRun", "Schedules", "schedule_body"]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A recurring schedule, as the observatory keeps it."""

    id: str
    name: str
    job_type: str
    """The type of the job it submits."""
    payload: Mapping[str, object]
    metadata: Mapping[str, object]
    cron: str | None
    """A five-field cron expression in ``timezone``; or ``None`` with ``interval``."""
    interval: str | None
    """``30s``, ``5m``, ``2h``, ``1d``; or ``None`` with ``cron``."""
    timezone: str
    enabled: bool
    """``False`` while paused."""
    catch_up: str
    """``none``, ``one`` or ``all``: what becomes of occurrences missed while down."""
    next_run_at: str | None
    """The next occurrence (RFC 3339, UTC); ``None`` while paused."""
    last_run_at: str | None
    fires: int
    """Jobs it submitted (run now included)."""
    misses: int
    """Occurrences it skipped (``catchUp``)."""
    raw: Mapping[str, object] = field(repr=False, compare=False)
    """The API's JSON as it came."""

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Schedule:
        """Read a schedule from the API's JSON."""
        job = doc.get("job")
        job = job if isinstance(job, dict) else {}
        payload = job.get("payload")
        metadata = job.get("metadata")
        fires = doc.get("fires")
        misses = doc.get("misses")
        return cls(
            id=str(doc.get("id", "")),
            name=str(doc.get("name", "")),
            job_type=str(job.get("type", "")),
            payload=payload if isinstance(payload, dict) else {},
            metadata=metadata if isinstance(metadata, dict) else {},
            cron=text_field(doc, "cron"),
            interval=text_field(doc, "interval"),
            timezone=str(doc.get("timezone") or "UTC"),
            enabled=doc.get("enabled") is not False,
            catch_up=str(doc.get("catchUp") or "one"),
            next_run_at=text_field(doc, "nextRunAt"),
            last_run_at=text_field(doc, "lastRunAt"),
            fires=fires if isinstance(fires, int) else 0,
            misses=misses if isinstance(misses, int) else 0,
            raw=doc,
        )


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """The job a schedule submitted when asked to run now."""

    job_id: str
    """Follow it with :meth:`Client.wait`."""
    event_id: str
    schedule_id: str
    scheduled_at: str


def schedule_body(
    name: str | None = None,
    type: str | None = None,
    payload: Mapping[str, object] | None = None,
    *,
    cron: str | None = None,
    interval: str | None = None,
    timezone: str | None = None,
    metadata: Mapping[str, object] | None = None,
    enabled: bool | None = None,
    catch_up: str | None = None,
) -> dict[str, object]:
    """The JSON body of ``POST`` / ``PATCH /schedules``: only the fields given."""
    body: dict[str, object] = {}
    if name is not None:
        body["name"] = name
    if cron is not None:
        body["cron"] = cron
    if interval is not None:
        body["interval"] = interval
    if timezone is not None:
        body["timezone"] = timezone
    if type is not None:
        job: dict[str, object] = {"type": type, "payload": dict(payload or {})}
        if metadata is not None:
            job["metadata"] = dict(metadata)
        body["job"] = job
    if enabled is not None:
        body["enabled"] = enabled
    if catch_up is not None:
        body["catchUp"] = catch_up
    return body


def _checked(response: httpx.Response) -> dict[str, object]:
    return checked(response)


def _schedules(body: Mapping[str, object]) -> list[Schedule]:
    found = body.get("schedules")
    return (
        [Schedule.from_json(s) for s in found if isinstance(s, dict)]
        if isinstance(found, list)
        else []
    )


def _run(body: Mapping[str, object]) -> ScheduleRun:
    return ScheduleRun(
        str(body.get("jobId", "")),
        str(body.get("eventId", "")),
        str(body.get("scheduleId", "")),
        str(body.get("scheduledAt", "")),
    )


class Schedules:
    """The schedule methods of :class:`~observatory.Client`. Each raises the client's
    :class:`~observatory.ApiError` kinds: ``BadRequest`` naming the field at fault,
    ``NotFound`` for an unknown id, ``ServerUnavailable``."""

    gateway_url: str
    read_model_url: str

    if TYPE_CHECKING:

        def _send(
            self, method: str, url: str, *, extra_s: float = 0.0, **kwargs: object
        ) -> httpx.Response: ...

    def create_schedule(
        self,
        name: str,
        type: str,
        payload: Mapping[str, object] | None = None,
        *,
        cron: str | None = None,
        interval: str | None = None,
        timezone: str | None = None,
        metadata: Mapping[str, object] | None = None,
        enabled: bool = True,
        catch_up: str | None = None,
    ) -> Schedule:
        """Create a schedule submitting ``type`` with ``payload`` every ``interval``
        (``30s``, ``5m``, ``2h``, ``1d``) or at each ``cron`` time in ``timezone``.

        Args:
            catch_up: ``none``, ``one`` (the default) or ``all``.
            enabled: ``False`` creates it paused.
        """
        body = schedule_body(
            name,
            type,
            payload,
            cron=cron,
            interval=interval,
            timezone=timezone,
            metadata=metadata,
            enabled=enabled,
            catch_up=catch_up,
        )
        answer = self._send("POST", f"{self.gateway_url}/schedules", json=body)
        return Schedule.from_json(_checked(answer))

    def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        return _schedules(_checked(self._send("GET", f"{self.read_model_url}/schedules")))

    def get_schedule(self, schedule_id: str) -> Schedule:
        """One schedule."""
        answer = self._send("GET", f"{self.read_model_url}/schedules/{schedule_id}")
        return Schedule.from_json(_checked(answer))

    def update_schedule(self, schedule_id: str, **changes: object) -> Schedule:
        """Change the fields given, as :func:`schedule_body` names them (``name``,
        ``cron``, ``interval``, ``timezone``, ``type`` with ``payload`` and
        ``metadata``, ``enabled``, ``catch_up``)."""
        body = schedule_body(**changes)  # type: ignore[arg-type]
        answer = self._send("PATCH", f"{self.gateway_url}/schedules/{schedule_id}", json=body)
        return Schedule.from_json(_checked(answer))

    def pause_schedule(self, schedule_id: str) -> Schedule:
        """Stop firing it until resumed."""
        return self.update_schedule(schedule_id, enabled=False)

    def resume_schedule(self, schedule_id: str) -> Schedule:
        """Fire it again, from its next occurrence after now."""
        return self.update_schedule(schedule_id, enabled=True)

    def delete_schedule(self, schedule_id: str) -> None:
        """Delete it (the jobs it submitted stay)."""
        _checked(self._send("DELETE", f"{self.gateway_url}/schedules/{schedule_id}"))

    def run_schedule(self, schedule_id: str) -> ScheduleRun:
        """Submit its job once, now."""
        answer = self._send("POST", f"{self.gateway_url}/schedules/{schedule_id}/run")
        return _run(_checked(answer))


class AsyncSchedules:
    """The schedule methods of :class:`~observatory.AsyncClient`; see :class:`Schedules`."""

    gateway_url: str
    read_model_url: str

    if TYPE_CHECKING:

        def _send(
            self, method: str, url: str, *, extra_s: float = 0.0, **kwargs: object
        ) -> Awaitable[httpx.Response]: ...

    async def create_schedule(
        self,
        name: str,
        type: str,
        payload: Mapping[str, object] | None = None,
        *,
        cron: str | None = None,
        interval: str | None = None,
        timezone: str | None = None,
        metadata: Mapping[str, object] | None = None,
        enabled: bool = True,
        catch_up: str | None = None,
    ) -> Schedule:
        """See :meth:`Schedules.create_schedule`."""
        body = schedule_body(
            name,
            type,
            payload,
            cron=cron,
            interval=interval,
            timezone=timezone,
            metadata=metadata,
            enabled=enabled,
            catch_up=catch_up,
        )
        answer = await self._send("POST", f"{self.gateway_url}/schedules", json=body)
        return Schedule.from_json(_checked(answer))

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        return _schedules(_checked(await self._send("GET", f"{self.read_model_url}/schedules")))

    async def get_schedule(self, schedule_id: str) -> Schedule:
        """One schedule."""
        answer = await self._send("GET", f"{self.read_model_url}/schedules/{schedule_id}")
        return Schedule.from_json(_checked(answer))

    async def update_schedule(self, schedule_id: str, **changes: object) -> Schedule:
        """See :meth:`Schedules.update_schedule`."""
        body = schedule_body(**changes)  # type: ignore[arg-type]
        answer = await self._send("PATCH", f"{self.gateway_url}/schedules/{schedule_id}", json=body)
        return Schedule.from_json(_checked(answer))

    async def pause_schedule(self, schedule_id: str) -> Schedule:
        """Stop firing it until resumed."""
        return await self.update_schedule(schedule_id, enabled=False)

    async def resume_schedule(self, schedule_id: str) -> Schedule:
        """Fire it again, from its next occurrence after now."""
        return await self.update_schedule(schedule_id, enabled=True)

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete it (the jobs it submitted stay)."""
        _checked(await self._send("DELETE", f"{self.gateway_url}/schedules/{schedule_id}"))

    async def run_schedule(self, schedule_id: str) -> ScheduleRun:
        """Submit its job once, now."""
        answer = await self._send("POST", f"{self.gateway_url}/schedules/{schedule_id}/run")
        return _run(_checked(answer))
