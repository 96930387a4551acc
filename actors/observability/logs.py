"""Logging for every service: one structured line per event, stamped with correlation ids.

Configure once per process with :func:`configure_logging`. Every record gets the
``service``, ``actor``, ``correlationId`` and ``jobId`` in force where it was logged,
from context variables that ingress code sets (HTTP middleware, consumers, job runner),
and, with tracing on (:mod:`~actors.observability.tracing`) and a span in force, the
span's ``trace_id`` and ``span_id``.
On a terminal the lines are readable; elsewhere (containers, CI) they are JSON.

Gotcha: a task started with ``start_soon``/``start`` copies the context of its starter,
so set the ids inside the task that handles the message, not in a long-lived parent.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import sys
import time
from typing import TYPE_CHECKING

from opentelemetry.trace import get_current_span

from actors.observability import tracing
from contracts import dump_json

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "ACTOR",
    "CORRELATION_ID",
    "JOB_ID",
    "LIBRARY_LOGGERS",
    "QUIET_LOGGERS",
    "SERVICE",
    "ContextFilter",
    "JsonFormatter",
    "ProcessName",
    "RateLimit",
    "bind",
    "configure_logging",
]

SERVICE: contextvars.ContextVar[str] = contextvars.ContextVar("service", default="-")
ACTOR: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="-")
CORRELATION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
JOB_ID: contextvars.ContextVar[str] = contextvars.ContextVar("job_id", default="-")

_FIELDS = (
    ("service", SERVICE),
    ("actor", ACTOR),
    ("correlationId", CORRELATION_ID),
    ("jobId", JOB_ID),
)


class bind:
    """Set the given context fields for the ``with`` block, restoring them afterwards.

    A plain class rather than a ``@contextmanager`` generator: the executor binds once
    per job, and a generator-based context manager costs several times as much.
    """

    __slots__ = ("_actor", "_correlation_id", "_job_id", "_service", "_tokens")

    def __init__(
        self,
        *,
        service: str | None = None,
        actor: str | None = None,
        correlation_id: str | None = None,
        job_id: str | None = None,
    ) -> None:
        self._service = service
        self._actor = actor
        self._correlation_id = correlation_id
        self._job_id = job_id
        self._tokens: list[tuple[contextvars.ContextVar[str], contextvars.Token[str]]] = []

    def __enter__(self) -> None:
        tokens = self._tokens
        if self._service is not None:
            tokens.append((SERVICE, SERVICE.set(self._service)))
        if self._actor is not None:
            tokens.append((ACTOR, ACTOR.set(self._actor)))
        if self._correlation_id is not None:
            tokens.append((CORRELATION_ID, CORRELATION_ID.set(self._correlation_id)))
        if self._job_id is not None:
            tokens.append((JOB_ID, JOB_ID.set(self._job_id)))

    def __exit__(self, *exc_info: object) -> None:
        tokens = self._tokens
        while tokens:
            var, token = tokens.pop()
            var.reset(token)


class ContextFilter(logging.Filter):
    """Stamps the context fields on every record (as attributes of the same names)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _FIELDS:
            if not hasattr(record, name):
                setattr(record, name, var.get())
        if tracing.enabled():
            # Only with tracing on, and only where a span is in force: lines stay as
            # they were otherwise.
            context = get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = f"{context.trace_id:032x}"
                record.span_id = f"{context.span_id:016x}"
        return True


class ProcessName(logging.Filter):
    """Stamps ``process_name`` on every record: which of several processes of one service
    logged it (``processor-2``), for the lines of processes that share a terminal."""

    def __init__(self, process_name: str) -> None:
        super().__init__()
        self._process_name = process_name

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self._process_name
        return True


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__
) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context and ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                doc[key] = (
                    value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
                )
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        # orjson: a third of the cost of a line with the standard library's encoder.
        return dump_json(doc).decode()


class ConsoleFormatter(logging.Formatter):
    """Readable lines for a terminal: time level [service/actor] message ids.

    Each id appears once per line: a message that already names it (``job.accepted
    job_id=...``, logged where the id is also bound) gets no second copy. A record with
    a ``process_name`` (:class:`ProcessName`) starts with it: ``processor-2 | ...``.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        process_name = getattr(record, "process_name", None)
        base = (
            ("" if process_name is None else f"{process_name} | ")
            + f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} "
            f"[{getattr(record, 'service', '-')}/{getattr(record, 'actor', '-')}] "
            f"{message}"
        )
        for name in ("correlationId", "jobId", "trace_id"):
            value = getattr(record, name, "-")
            if value != "-" and value not in message:
                base += f" {name}={value}"
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


LIBRARY_LOGGERS = ("aio_pika", "aiormq", "coredis", "pymongo")
"""Client libraries of the servers: kept at WARNING and rate limited by :class:`RateLimit`
(while a server is away they would repeat the same line at every reconnect; the
``Connection`` that retries already says so once per attempt)."""

QUIET_LOGGERS = ("httpx", "httpcore", "hypercorn.access", "hypercorn.error", "aiosqlite")
"""Kept at WARNING: a line per HTTP request (``HTTP Request: GET .../healthz "503"``), the
server's "Running on ... (CTRL + C to quit)" (``http.listening`` says it), SQLite calls."""


class RateLimit(logging.Filter):
    """Lets one record per logger and message template through per ``period_s``.

    The next one after a quiet spell says how many like it were held back. Only the
    records of ``prefixes`` (logger names and their children) are limited.

    Args:
        prefixes: logger names whose records are limited.
        period_s: the window per (logger, template).
        now: the clock, a parameter so that tests control time.
    """

    def __init__(
        self,
        prefixes: tuple[str, ...] = LIBRARY_LOGGERS,
        *,
        period_s: float = 60.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._period_s = period_s
        self._now = now
        self._last: dict[tuple[str, str], tuple[float, int]] = {}
        """(logger, template) -> (when one was last let through, how many held back since)."""

    def _limited(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self._prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limited(record.name):
            return True
        key = (record.name, str(record.msg))
        now = self._now()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._period_s:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if len(self._last) >= _RATE_LIMIT_KEYS and key not in self._last:
            self._last.clear()  # bounded: forget the windows rather than grow
        self._last[key] = (now, 0)
        if last is not None and last[1]:
            record.msg = f"{record.msg} ({last[1]} more like this in the last {self._period_s:g} s)"
        return True


_RATE_LIMIT_KEYS = 1024


def configure_logging(
    *, level: str = "INFO", json_lines: bool | None = None, process_name: str | None = None
) -> None:
    """Configure the root logger once for this process (stderr).

    Args:
        level: the root level name, e.g. ``"INFO"``.
        json_lines: JSON lines when true, readable lines when false; by default JSON
            unless stderr is a terminal.
        process_name: stamped on every line (``process_name`` in JSON, the start of a
            readable line), to tell apart processes of one service (``processor-2``).
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    # What no line shows is not gathered for every record (the logging HOWTO's
    # "Optimization"): the caller's file and line (a walk of the stack), thread, process
    # and asyncio task names. A JSON line then costs about 8 us instead of 13.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    setattr(logging, "logAsyncioTasks", False)  # noqa: B010 (Python 3.12+; unused before)
    formatter = "json" if json_lines else "console"
    filters: dict[str, dict[str, object]] = {
        "context": {"()": ContextFilter},
        "rate_limit": {"()": RateLimit},
    }
    if process_name is not None:
        filters["process_name"] = {"()": ProcessName, "process_name": process_name}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": filters,
            "formatters": {
                "json": {"()": JsonFormatter},
                "console": {"()": ConsoleFormatter},
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": formatter,
                    "filters": list(filters),
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {name: {"level": "WARNING"} for name in (*QUIET_LOGGERS, *LIBRARY_LOGGERS)},
        }
    )
