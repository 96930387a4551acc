"""Logging for every service: one structured line per event, stamped with correlation ids.

Configure once per process with :func:`configure_logging`. Every record gets the
``service``, ``actor``, ``correlationId`` and ``jobId`` in force where it was logged,
from context variables that ingress code sets (HTTP middleware, consumers, job runner).
On a terminal the lines are readable; elsewhere (containers, CI) they are JSON.

Gotcha: a task started with ``start_soon``/``start`` copies the context of its starter,
so set the ids inside the task that handles the message, not in a long-lived parent.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import logging.config
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ACTOR",
    "CORRELATION_ID",
    "JOB_ID",
    "SERVICE",
    "ContextFilter",
    "JsonFormatter",
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


@contextlib.contextmanager
def bind(
    *,
    service: str | None = None,
    actor: str | None = None,
    correlation_id: str | None = None,
    job_id: str | None = None,
) -> Iterator[None]:
    """Set the given context fields for the ``with`` block, restoring them afterwards."""
    tokens: list[tuple[contextvars.ContextVar[str], contextvars.Token[str]]] = []
    for var, value in (
        (SERVICE, service),
        (ACTOR, actor),
        (CORRELATION_ID, correlation_id),
        (JOB_ID, job_id),
    ):
        if value is not None:
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Stamps the context fields on every record (as attributes of the same names)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _FIELDS:
            if not hasattr(record, name):
                setattr(record, name, var.get())
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
        return json.dumps(doc, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """Readable lines for a terminal: time level [service/actor] message ids."""

    def format(self, record: logging.LogRecord) -> str:
        base = (
            f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} "
            f"[{getattr(record, 'service', '-')}/{getattr(record, 'actor', '-')}] "
            f"{record.getMessage()}"
        )
        correlation = getattr(record, "correlationId", "-")
        job = getattr(record, "jobId", "-")
        if correlation != "-" or job != "-":
            base += f" correlationId={correlation} jobId={job}"
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def configure_logging(*, level: str = "INFO", json_lines: bool | None = None) -> None:
    """Configure the root logger once for this process (stderr).

    Args:
        level: the root level name, e.g. ``"INFO"``.
        json_lines: JSON lines when true, readable lines when false; by default JSON
            unless stderr is a terminal.
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    formatter = "json" if json_lines else "console"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {
                "json": {"()": JsonFormatter},
                "console": {"()": ConsoleFormatter},
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": formatter,
                    "filters": ["context"],
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {
                "hypercorn.access": {"level": "WARNING"},
                "aiosqlite": {"level": "WARNING"},
            },
        }
    )
