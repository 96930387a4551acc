"""PostgreSQL plumbing shared by the job store's modules: what the store needs from asyncpg
(it ships no type information), how its connections are opened and closed, and
:class:`PostgresCalls`, the one way a store method runs on a pooled connection (retried
when that is safe, every failure translated).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, TypeVar

import anyio
import anyio.lowlevel
import asyncpg

from actors.config.urls import redact
from actors.errors import ConfigError, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

__all__ = [
    "ASYNCPG_ERRORS",
    "CLOSE_TIMEOUT_S",
    "Closable",
    "Connection",
    "Pool",
    "PostgresCalls",
    "Progress",
    "Row",
    "check_schema",
    "close_resource",
    "connect_options",
    "integer",
    "keep_session",
    "optional_text",
    "quote_identifier",
    "reason",
    "text",
]

log = logging.getLogger("actors.stores.postgres")

_T = TypeVar("_T")

_CONNECT_TIMEOUT_S = 10.0
"""How long opening one connection may take before it counts as a failure."""
CLOSE_TIMEOUT_S = 5.0
"""Bound of the shielded graceful close of the pool; then its connections are cut."""
_STATEMENT_CACHE_SIZE = 32
"""Prepared statements kept per connection: the store's dozen statements all stay prepared."""
_ATTEMPTS = 3
"""Tries of one store call when its connection turned out dead before anything was written,
or when PostgreSQL rolled its statement back (deadlock); both are safe to retry."""
_APPLICATION_NAME_PREFIX = "observatory-jobs/"
"""``application_name`` of the store's connections, followed by the schema (pg_stat_activity)."""
_MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's ``NAMEDATALEN - 1``: longer schema names would be silently truncated."""


class Row(Protocol):
    def __getitem__(self, index: int, /) -> object: ...


class Closable(Protocol):
    async def close(self) -> None: ...

    def terminate(self) -> None: ...


class Connection(Closable, Protocol):
    async def fetch(self, query: str, *args: object) -> list[Row]: ...

    async def fetchval(self, query: str, *args: object) -> object: ...

    async def execute(self, query: str, *args: object) -> str: ...

    def transaction(self) -> AbstractAsyncContextManager[object]: ...


class Pool(Closable, Protocol):
    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...


ASYNCPG_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,  # includes TimeoutError (connecting) and ConnectionRefusedError
)
"""Everything asyncpg raises when the server, the network or a statement fails."""

_CONNECTION_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
"""Connection exception, insufficient resources, operator intervention, system error."""


def refused_value(exc: BaseException) -> bool:
    """Whether ``exc`` says a value of the call cannot be stored (retrying cannot help).

    asyncpg raises a ``DataError`` that is also a ``ValueError`` when it cannot encode an
    argument; PostgreSQL answers class 22 (data exception) for, e.g., a NUL character in
    text or ``NaN`` in JSON.
    """
    if isinstance(exc, ValueError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the connection rather than of one statement."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "pool is closing"; not the argument errors (ValueError).
        return not isinstance(exc, ValueError)
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _CONNECTION_SQLSTATE_CLASSES


def reason(exc: BaseException) -> str:
    """``exc``'s message on one line (PostgreSQL's carry ``DETAIL:`` lines), for a sentence."""
    return " ".join(str(exc).split()).rstrip(". ") or type(exc).__name__


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_schema(schema: str) -> None:
    if not schema or "\x00" in schema or len(schema.encode()) > _MAX_IDENTIFIER_BYTES:
        raise ConfigError(
            f"The PostgreSQL schema name {schema!r} is not usable; give a name of 1 to "
            f"{_MAX_IDENTIFIER_BYTES} bytes without NUL characters."
        )


def connect_options(schema: str) -> dict[str, object]:
    """asyncpg options shared by the pool and the migration connection."""
    return {
        "timeout": _CONNECT_TIMEOUT_S,
        "statement_cache_size": _STATEMENT_CACHE_SIZE,
        # Startup parameters are the session defaults, so a pool's RESET cannot undo them.
        "server_settings": {
            "search_path": quote_identifier(schema),
            "application_name": (_APPLICATION_NAME_PREFIX + schema)[:_MAX_IDENTIFIER_BYTES],
            # A plan per run, for the current table size: a fresh system prepares its
            # statements while the tables are empty, and the generic plan PostgreSQL would
            # cache after five runs (kept until the table is analyzed) scans the whole
            # table for every batch while it grows (measured: 2 ms a call, and a core busy
            # at 200 jobs/s). Planning costs a fraction of a millisecond.
            "plan_cache_mode": "force_custom_plan",
        },
    }


async def keep_session(connection: object) -> None:
    """The pool's reset on release: nothing to reset.

    The store never leaves session state behind (no ``SET``, ``LISTEN``, cursors or
    session advisory locks; open transactions are rolled back by the pool anyway), so the
    default ``RESET ALL`` round trip after every call is skipped.
    """
    await anyio.lowlevel.checkpoint()


async def close_resource(resource: Closable, url: str) -> None:
    """Close a connection or pool gracefully in a bounded shield, else cut it."""
    with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True) as scope:
        try:
            await resource.close()
        except ASYNCPG_ERRORS as exc:
            log.warning("store.close_failed url=%s error=%s", redact(url), reason(exc))
            resource.terminate()
    if scope.cancelled_caught:
        log.warning("store.close_timed_out url=%s timeout_s=%g", redact(url), CLOSE_TIMEOUT_S)
        resource.terminate()


def text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"Expected a text column, got {type(value).__name__}.")
    return value


def optional_text(value: object) -> str | None:
    return None if value is None else text(value)


def integer(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"Expected an integer column, got {type(value).__name__}.")
    return value


class Progress:
    """How far a store call got, to tell connection failures and safe retries apart."""

    __slots__ = ("connected", "wrote")

    def __init__(self) -> None:
        self.connected = False
        """It got a connection from the pool (any failure before is a connection failure)."""
        self.wrote = False
        """It sent a write (retrying might apply it twice)."""


class PostgresCalls:
    """Runs a store's calls on its pool: :meth:`_call`, and whether the last one reached
    PostgreSQL (:meth:`is_available`)."""

    def __init__(self, pool: Pool, url: str, schema: str) -> None:
        self._pool = pool
        self._url = redact(url)
        self._schema = schema
        self._available = True
        self._retried_calls = 0

    def is_available(self) -> bool:
        """``False`` after a failed connection, until a call succeeds again."""
        return self._available

    async def _call(self, action: str, work: Callable[[Connection, Progress], Awaitable[_T]]) -> _T:
        """Run ``work`` on a pooled connection, retrying when that is safe, translating errors.

        A connection found dead before ``work`` wrote anything (a server restart, a
        terminated backend) is replaced by the pool and ``work`` runs again; so is a
        statement PostgreSQL rolled back whole (a deadlock between concurrent writers).
        """
        for attempt in range(1, _ATTEMPTS + 1):
            progress = Progress()
            try:
                async with self._pool.acquire() as conn:
                    progress.connected = True
                    result = await work(conn, progress)
            except ASYNCPG_ERRORS as exc:
                if refused_value(exc):
                    raise ValueError(
                        f"The PostgreSQL job store at {self._url!r} (schema {self._schema!r}) "
                        f"cannot {action}: PostgreSQL refused a value ({reason(exc)}). Nothing "
                        "was stored; such values cannot be stored as they are."
                    ) from exc
                lost = not progress.connected or connection_lost(exc)
                if lost:
                    self._available = False
                rolled_back = isinstance(exc, asyncpg.exceptions.TransactionRollbackError)
                if attempt < _ATTEMPTS and ((lost and not progress.wrote) or rolled_back):
                    self._retried_calls += 1
                    log.info(
                        "store.retrying action=%r attempt=%d schema=%s error=%s",
                        action,
                        attempt,
                        self._schema,
                        reason(exc),
                    )
                    continue
                raise StoreUnavailable(
                    f"The PostgreSQL job store at {self._url!r} (schema {self._schema!r}) "
                    f"could not {action}: {reason(exc)}. Check that PostgreSQL is running "
                    "and reachable; the call can be retried."
                ) from exc
            self._available = True
            return result
        raise AssertionError("unreachable")  # pragma: no cover
