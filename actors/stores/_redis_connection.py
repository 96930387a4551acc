"""What the Redis stores share: opening a client, and telling whether calls reach Redis.

The counters (:mod:`actors.stores.redis`), the rate buckets
(:mod:`actors.stores.rate_buckets`) and the worker registry (:mod:`actors.stores.workers`)
each open a coredis client of their own with :func:`open_redis_store`, and keep a
:class:`RedisHealth` that translates coredis's errors into :class:`StoreUnavailable` and
tracks whether the last call got through.
"""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, TypeVar

import coredis
import coredis.exceptions

from actors.config.urls import redact
from actors.errors import StoreUnavailable

if TYPE_CHECKING:
    import logging
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

__all__ = ["REDIS_ERRORS", "RedisHealth", "open_redis_store"]

REDIS_ERRORS = (coredis.exceptions.RedisError, TimeoutError, OSError)
"""What coredis raises when the server is away, slow, or refuses (its ``ConnectionError``
is a ``RedisError``; timeouts are the builtin ``TimeoutError``)."""

StoreT = TypeVar("StoreT")


class RedisHealth:
    """Whether one Redis store's calls reach Redis, and the errors they raise when not.

    Args:
        url: the store's Redis URL (kept redacted, as :attr:`url`).
        store: the store's name in log lines (``store=<store>``).
        description: what the store is called in error messages ("The Redis
            <description> at <url> could not ...").
        advice: the end of those messages, after "Check that Redis is running and
            reachable; ".
        log: the logger of the store's module, which writes the lines.
    """

    def __init__(
        self, url: str, *, store: str, description: str, advice: str, log: logging.Logger
    ) -> None:
        self.url = redact(url)
        """The store's Redis URL, its password hidden."""
        self.available = True
        """``False`` after a call could not reach Redis, until a call succeeds again."""
        self._store = store
        self._description = description
        self._advice = advice
        self._log = log

    def unavailable(self, action: str, exc: BaseException) -> StoreUnavailable:
        """The error saying the store could not do ``action`` because of ``exc``."""
        return StoreUnavailable(
            f"The Redis {self._description} at {self.url} could not {action}: {exc!r}. Check "
            f"that Redis is running and reachable; {self._advice}"
        )

    @contextmanager
    def failures(self, action: str) -> Iterator[None]:
        """Translate coredis errors raised while doing ``action`` into StoreUnavailable.

        Also keeps :attr:`available` up to date, with one WARNING line per loss and one
        INFO line per recovery.
        """
        try:
            yield
        except REDIS_ERRORS as exc:
            if self.available:
                self._log.warning(
                    "store.unavailable store=%s url=%s error=%r", self._store, self.url, exc
                )
            self.available = False
            raise self.unavailable(action, exc) from exc
        if not self.available:
            self._log.info("store.available store=%s url=%s", self._store, self.url)
        self.available = True


@asynccontextmanager
async def open_redis_store(
    url: str,
    build: Callable[[coredis.Redis[str]], StoreT],
    *,
    store: str,
    prefix: str,
    log: logging.Logger,
    ready: Callable[[StoreT], Awaitable[None]] | None = None,
) -> AsyncIterator[StoreT]:
    """Open a client of Redis at ``url``, build a store on it, and yield the store once
    Redis answers.

    Args:
        url: a ``redis://`` (or ``rediss://``, ``unix://``) URL.
        build: makes the store from the open client.
        store: the store's name in the ``store.opened`` log line.
        prefix: the store's key prefix, for that line.
        log: the logger of the store's module, which writes it.
        ready: what proves Redis answers, raising :class:`StoreUnavailable` when not;
            ``PING`` by default.

    Resource handling:
        The client and its connections are closed when the context exits.

    Raises:
        StoreUnavailable: Redis cannot be reached when opening (raised as it is, once the
            client's task group is left, so that a Connection retrying with backoff catches
            it outside an ExceptionGroup).
    """
    client = coredis.Redis.from_url(url, decode_responses=True)
    failure: StoreUnavailable | None = None
    async with client:
        opened = build(client)
        try:
            if ready is None:
                await client.ping()
            else:
                await ready(opened)
        except REDIS_ERRORS as exc:
            failure = StoreUnavailable(f"Redis at {redact(url)} cannot be reached: {exc!r}.")
        except StoreUnavailable as exc:
            failure = exc
        else:
            log.info("store.opened store=%s url=%s prefix=%s", store, redact(url), prefix)
            yield opened
    if failure is not None:
        raise failure
