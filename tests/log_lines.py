"""The log lines a service writes, captured in a test: every record logged while a
:func:`capture_records` block runs, stamped as :func:`~actors.observability.logs.
configure_logging` stamps them, then formatted as ``--log-format json`` and as the
console writes them (imported as ``tests.log_lines``)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

from actors.observability.logs import (
    LIBRARY_LOGGERS,
    QUIET_LOGGERS,
    ConsoleFormatter,
    ContextFilter,
    JsonFormatter,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["capture_records", "formatted", "named_more_than_once"]


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        # Stamped where the record is logged, as the services' handler does: the context
        # variables are those of the code that logged it.
        self.addFilter(ContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def capture_records() -> Iterator[list[logging.LogRecord]]:
    """Every record logged in the block as ``--log-level DEBUG`` lets it through: ours at
    any level, the libraries' kept at WARNING as the services keep them."""
    keep = _Keep()
    root = logging.getLogger()
    libraries = [logging.getLogger(name) for name in (*QUIET_LOGGERS, *LIBRARY_LOGGERS)]
    levels = [root.level, *(logger.level for logger in libraries)]
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    for logger in libraries:
        logger.setLevel(logging.WARNING)
    try:
        yield keep.records
    finally:
        root.removeHandler(keep)
        for logger, level in zip((root, *libraries), levels, strict=True):
            logger.setLevel(level)


def formatted(record: logging.LogRecord) -> tuple[str, str]:
    """``record`` as a JSON line and as a console line."""
    return JsonFormatter().format(record), ConsoleFormatter().format(record)


def named_more_than_once(records: Iterable[logging.LogRecord], ids: Iterable[str]) -> list[str]:
    """The lines (JSON and console) that name one of ``ids`` more than once."""
    wanted = list(ids)
    return [
        line
        for record in records
        for line in formatted(record)
        if any(line.count(one) > 1 for one in wanted)
    ]
