"""The dashboard's filter line (``/``): a few ``key:value`` words for ``GET /jobs``.

=========================  ===========================================================
word                       narrows the jobs to
=========================  ===========================================================
``status:failed``          that status; several with commas (``status:failed,pending``)
``type:resize``            that job type; several with commas
``error:timeout``          a last error containing the text (case-insensitive)
``q:2f6c``                 an id starting with the text, or a payload containing it;
                           a word without a key means the same (``2f6c``)
``corr:<id>``              that correlation id
``priority:7``             that priority (0 to 9; 5 is the default)
``since:15m``              created at or after: a duration ago (``90s``, ``15m``, ``2h``,
                           ``7d``) or an RFC 3339 time (``2026-12-01T09:30:00Z``)
``until:<time>``           created before (the same forms)
=========================  ===========================================================

Every word must hold (AND). A value with spaces is quoted: ``error:"connection reset"``.
Keys are case-insensitive, statuses too; each key may be given once. A duration is
measured again at each refresh, so ``since:15m`` stays the last fifteen minutes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from actors.domain.jobs import MAX_PRIORITY, JobStatus
from actors.errors import ObservatoryError

__all__ = ["FILTER_HELP", "FilterSyntaxError", "JobFilter", "parse_filter"]

FILTER_HELP = (
    "status:failed,pending  type:resize  error:timeout  q:<id or text>  corr:<id>  "
    "priority:7  since:15m  until:<time>"
)
"""The syntax in one line (the filter line's placeholder)."""

_KEYS = {
    "status": "status",
    "type": "type",
    "error": "error",
    "q": "q",
    "corr": "correlation_id",
    "correlation": "correlation_id",
    "priority": "priority",
    "since": "since",
    "until": "until",
}
_AGO = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STATUSES = {status.value for status in JobStatus}


class FilterSyntaxError(ObservatoryError):
    """The filter line cannot be read; the message names the word and what is wrong."""


@dataclass(frozen=True, slots=True)
class _Moment:
    """A time of the filter: a fixed RFC 3339 text, or a duration before each refresh."""

    text: str | None = None
    ago_s: int | None = None

    def resolve(self, now: datetime) -> str:
        if self.ago_s is not None:
            return (now - timedelta(seconds=self.ago_s)).isoformat()
        assert self.text is not None
        return self.text


def _moment(key: str, value: str) -> _Moment:
    if match := _AGO.match(value):
        return _Moment(ago_s=int(match[1]) * _UNIT_S[match[2]])
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FilterSyntaxError(
            f"{key}:{value} is neither a duration ago (90s, 15m, 2h, 7d) nor an RFC 3339 "
            "time (2026-12-01T09:30:00Z)."
        ) from None
    return _Moment(text=value)


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What the filter line asks for; :meth:`params` are the ``GET /jobs`` parameters."""

    text: str
    """The line as typed."""
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    error: str | None = None
    q: str | None = None
    correlation_id: str | None = None
    priority: int | None = None
    since: _Moment | None = None
    until: _Moment | None = None

    def params(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """The query parameters of ``GET /jobs`` (durations measured back from ``now``)."""
        moment = now or datetime.now(UTC)
        params = [("status", s) for s in self.statuses] + [("type", t) for t in self.types]
        for name, value in (
            ("error", self.error),
            ("q", self.q),
            ("correlationId", self.correlation_id),
            ("priority", None if self.priority is None else str(self.priority)),
            ("createdAfter", self.since.resolve(moment) if self.since else None),
            ("createdBefore", self.until.resolve(moment) if self.until else None),
        ):
            if value is not None:
                params.append((name, value))
        return params


def parse_filter(text: str) -> JobFilter | None:
    """Read the filter line; ``None`` for a blank one (no filter).

    Raises:
        FilterSyntaxError: an unclosed quote, an unknown key, an empty value, a status
            that does not exist, a key given twice, or a time that is not one.
    """
    try:
        words = shlex.split(text)
    except ValueError as error:  # shlex: "No closing quotation"
        raise FilterSyntaxError(f"{error}: close the quote.") from None
    if not words:
        return None
    found: dict[str, str] = {}
    bare: list[str] = []
    for word in words:
        key, colon, value = word.partition(":")
        if not colon:
            bare.append(word)
            continue
        name = _KEYS.get(key.lower())
        if name is None:
            keys = ", ".join(sorted({k for k in _KEYS if k != "correlation"}))
            raise FilterSyntaxError(f"Unknown key {key!r} in {word!r}; the keys are {keys}.")
        if not value:
            raise FilterSyntaxError(f"{key}: needs a value, e.g. {key}:{_EXAMPLES[name]}.")
        if name in found:
            raise FilterSyntaxError(f"{key}: is given twice; give it once (commas for several).")
        found[name] = value
    if bare:
        if "q" in found:
            raise FilterSyntaxError(
                f"Both q:{found['q']} and the bare word {bare[0]!r}: a bare word is q: too."
            )
        found["q"] = " ".join(bare)
    statuses = tuple(s.strip().upper() for s in found.get("status", "").split(",") if s.strip())
    for status in statuses:
        if status not in _STATUSES:
            raise FilterSyntaxError(
                f"status:{status.lower()} is not a status; one of "
                f"{', '.join(sorted(s.lower() for s in _STATUSES))}."
            )
    return JobFilter(
        text=text,
        priority=_priority(found["priority"]) if "priority" in found else None,
        statuses=statuses,
        types=tuple(t.strip() for t in found.get("type", "").split(",") if t.strip()),
        error=found.get("error"),
        q=found.get("q"),
        correlation_id=found.get("correlation_id"),
        since=_moment("since", found["since"]) if "since" in found else None,
        until=_moment("until", found["until"]) if "until" in found else None,
    )


def _priority(value: str) -> int:
    if not value.isdigit() or int(value) > MAX_PRIORITY:
        raise FilterSyntaxError(
            f"priority:{value} is not a priority; a whole number from 0 to {MAX_PRIORITY}."
        )
    return int(value)


_EXAMPLES = {
    "status": "failed",
    "type": "resize",
    "error": "timeout",
    "q": "2f6c",
    "correlation_id": "<id>",
    "priority": "7",
    "since": "15m",
    "until": "2026-12-01T09:30:00Z",
}
