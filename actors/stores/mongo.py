"""The audit trail and the dead letters in MongoDB (PyMongo's async client).

Only plain CRUD and indexes are used (``insert_many``, ``find`` with sort and limit,
``count_documents``, ``delete_many``, ``create_indexes``): no transactions, no
aggregation, nothing that depends on index names. That keeps the adapter working the same
on a real MongoDB and on the wire-protocol stand-in the tests start (nx-27017).

Idempotency rests on unique indexes: an ``insert_many(ordered=False)`` stores what is new
and reports every already stored id as a duplicate-key error (code 11000), which is
counted, not raised.

Arrival order (the tie-breaker of equal timestamps, and the order of
:meth:`MongoEventStore.iter_events`) is the ``seq`` field: 16 hex digits of a
microsecond clock that never repeats or goes back within one store, then 10 hex digits
naming the store instance. Strings of equal width compare in that order, so ``seq`` is
unique across writers and strictly increasing for each; between writers it follows
their clocks (a database has no single arrival order without transactions).

Example::

    async with (
        open_mongo_event_store(url) as events,
        open_mongo_dead_letter_store(url) as dead_letters,
    ):
        ...
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.lowlevel
import pymongo
import pymongo.errors
from pymongo import ASCENDING, DESCENDING, IndexModel

from actors.config.urls import redact
from actors.domain.dead_letters import DeadLetter
from actors.domain.events import Envelope
from actors.domain.search import EventCursor, EventPage
from actors.errors import ConfigError, StoreUnavailable, ValidationIssue
from actors.stores._protocols import AppendResult
from actors.stores.names import DEAD_LETTERS_COLLECTION, DEFAULT_MONGO_DATABASE, EVENTS_COLLECTION

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence

    from pymongo.asynchronous.collection import AsyncCollection

    from actors.domain.events import EventType
    from actors.domain.search import EventQuery

__all__ = [
    "DEAD_LETTER_INDEXES",
    "EVENT_INDEXES",
    "MongoDeadLetterStore",
    "MongoEventStore",
    "open_mongo_dead_letter_store",
    "open_mongo_event_store",
    "ping_mongo",
]

log = logging.getLogger(__name__)

# pymongo's own document type; the values are read through the checked helpers below.
_Document: TypeAlias = dict[str, Any]

_RecordT = TypeVar("_RecordT")

_DUPLICATE_KEY = 11000
"""MongoDB's error code for a write that broke a unique index."""

_ITER_PAGE_SIZE = 500
"""Events read per query by :meth:`MongoEventStore.iter_events`."""

_CLOSE_TIMEOUT_S = 5.0
"""Bound of the shielded close of the client when a store is closed."""

_SERVER_SELECTION_TIMEOUT_MS = 5_000
"""How long a call waits for a reachable server before raising (pymongo's default is
30 s); applied unless the URL sets ``serverSelectionTimeoutMS`` itself."""

EVENT_INDEXES = (
    # Idempotent appends: one document per event id.
    IndexModel([("eventId", ASCENDING)], unique=True),
    # A job's timeline and recent_events(job_id=...).
    IndexModel([("jobId", ASCENDING), ("occurredAt", ASCENDING)]),
    # recent_events() over every job: newest first, ties by arrival.
    IndexModel([("occurredAt", ASCENDING), ("seq", ASCENDING)]),
    # iter_events(): arrival order, read page by page after the last seq seen.
    IndexModel([("seq", ASCENDING)]),
    # search_events(types=...): newest first within the types.
    IndexModel([("eventType", ASCENDING), ("occurredAt", ASCENDING), ("seq", ASCENDING)]),
)
"""Indexes of the event collection, created when the store is opened."""

DEAD_LETTER_INDEXES = (
    IndexModel([("deadLetterId", ASCENDING)], unique=True),
    # recent(): newest first, ties by arrival.
    IndexModel([("occurredAt", ASCENDING), ("seq", ASCENDING)]),
)
"""Indexes of the dead-letter collection, created when the store is opened."""


_CONFIGURED_TIMEOUTS = re.compile(r" \(configured timeouts: [^)]*\)")


def _reason(exc: pymongo.errors.PyMongoError) -> str:
    """``exc``'s message for a sentence: what went wrong with each server, on one line.

    A server selection timeout's message ends with the whole topology description
    (server descriptions, the topology id, the same error again); that part and pymongo's
    reminder of the configured timeouts are left out.
    """
    text = str(exc)
    if isinstance(exc, pymongo.errors.ServerSelectionTimeoutError):
        text = text.split(", Timeout: ", 1)[0]
    text = _CONFIGURED_TIMEOUTS.sub("", text)
    return " ".join(text.split()).rstrip(". ") or type(exc).__name__


def _validate_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}.")


def _text(doc: Mapping[str, object], field: str) -> str:
    value = doc.get(field)
    if not isinstance(value, str):
        raise TypeError(f"Expected text in field {field!r}, got {type(value).__name__}.")
    return value


def _optional_text(doc: Mapping[str, object], field: str) -> str | None:
    return None if doc.get(field) is None else _text(doc, field)


class _ArrivalClock:
    """Hands out ``seq`` values: fixed-width, unique, strictly increasing per instance."""

    def __init__(self) -> None:
        self._writer = secrets.token_hex(5)
        self._last_us = 0

    def seed(self, stored: object) -> None:
        """Never go below ``stored``, the highest ``seq`` already in the collection."""
        if isinstance(stored, str):
            try:
                self._last_us = max(self._last_us, int(stored[:16], 16))
            except ValueError:  # pragma: no cover - written by hand
                log.warning("store.unreadable_seq seq=%r", stored)

    def next(self) -> str:
        """The next ``seq``: the clock's microseconds, or one more than the last."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return f"{self._last_us:016x}{self._writer}"


class _Collection:
    """One store's collection, its client's URL (redacted) and its error translation."""

    def __init__(self, collection: AsyncCollection[_Document], url: str, description: str):
        self.collection = collection
        self.url = redact(url)
        self.description = description
        self.clock = _ArrivalClock()
        self.available = True
        """``False`` after a call could not reach MongoDB, until a call succeeds again."""

    @contextmanager
    def failures(self, action: str, *, opening: bool = False) -> Iterator[None]:
        """Translate pymongo errors raised while doing ``action`` into StoreUnavailable.

        Also keeps :attr:`available` up to date, except while ``opening`` (whoever opens
        the store reports its attempts).
        """
        try:
            yield
        except pymongo.errors.PyMongoError as exc:
            if not opening:
                if self.available:
                    log.warning(
                        "store.unavailable store=%s url=%s error=%s",
                        self.description,
                        self.url,
                        exc,
                    )
                self.available = False
            raise StoreUnavailable(
                f"The MongoDB {self.description} at {self.url} could not {action}: "
                f"{_reason(exc)}. "
                "Check that MongoDB is running and reachable; the call is safe to retry."
            ) from exc
        if not self.available:
            log.info("store.available store=%s url=%s", self.description, self.url)
        self.available = True

    async def append_new(
        self,
        records: Sequence[_RecordT],
        key: Callable[[_RecordT], str],
        document: Callable[[_RecordT, str], _Document],
        what: str,
    ) -> AppendResult:
        """Store the ``records`` whose ``key`` is new, in one round trip; see
        :meth:`insert_new`. Of repeated keys the first record is the one kept.

        ``document`` makes a record's document from the record and its arrival ``seq``.
        """
        if not records:
            await anyio.lowlevel.checkpoint()
            return AppendResult(stored=0, duplicates=0)
        # Repeats inside the batch are dropped here, so the first one is kept whatever
        # order the server applies an unordered insert in.
        documents: dict[str, _Document] = {}
        for record in records:
            if key(record) not in documents:
                documents[key(record)] = document(record, self.clock.next())
        stored = await self.insert_new(list(documents.values()), what)
        return AppendResult(stored=stored, duplicates=len(records) - stored)

    async def insert_new(self, documents: list[_Document], what: str) -> int:
        """Insert ``documents`` (distinct ids) in one round trip; returns how many were new.

        Documents whose unique key is already stored are skipped. (``insert_many`` adds
        an ``_id`` to each document.)
        """
        with self.failures(f"store {what} (a batch of {len(documents)})"):
            try:
                await self.collection.insert_many(documents, ordered=False)
            except pymongo.errors.BulkWriteError as exc:
                return self._inserted_despite(exc)
        return len(documents)

    def _inserted_despite(self, exc: pymongo.errors.BulkWriteError) -> int:
        details: Mapping[str, Any] = exc.details
        write_errors: list[Mapping[str, Any]] = details.get("writeErrors") or []
        concern_errors: list[Mapping[str, Any]] = details.get("writeConcernErrors") or []
        others = [error for error in write_errors if error.get("code") != _DUPLICATE_KEY]
        if others or concern_errors:
            first = (others or concern_errors)[0]
            raise StoreUnavailable(
                f"The MongoDB {self.description} at {self.url} refused a write: "
                f"{first.get('errmsg', first)!r} ({len(others)} write errors, "
                f"{len(concern_errors)} write concern errors). The other new documents "
                "were stored; the call is safe to retry."
            ) from exc
        return int(details.get("nInserted", 0))

    async def seed_clock(self) -> None:
        """Start the arrival clock after the highest ``seq`` stored (one query)."""
        with self.failures("read the last arrival", opening=True):
            last = await self.collection.find_one(
                {}, {"_id": 0, "seq": 1}, sort=[("seq", DESCENDING)]
            )
        if last is not None:
            self.clock.seed(last.get("seq"))


class _MongoStore:
    """What both stores have: their :class:`_Collection`, availability and repr."""

    def __init__(self, collection: _Collection) -> None:
        self._store = collection

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} url={self._store.url!r} "
            f"collection={self._store.collection.full_name!r} available={self._store.available}>"
        )

    def is_available(self) -> bool:
        """``False`` after a call could not reach MongoDB, until a call succeeds again."""
        return self._store.available


# -- events -------------------------------------------------------------------------------


def _event_document(event: Envelope, seq: str) -> _Document:
    """The envelope's own fields, plus what the queries need."""
    document: _Document = event.to_json()
    document["jobId"] = event.job_id
    document["jobType"] = event.job_type
    # Lifecycle position, so a timeline sorts by (time, order) in the server.
    document["eventOrder"] = event.event_type.order
    document["seq"] = seq
    return document


class MongoEventStore(_MongoStore):
    """An :class:`~actors.stores.EventStore` in a MongoDB collection: the audit trail.

    Opened and closed by :func:`open_mongo_event_store`. Documents are the envelope's
    fields (``payload`` and ``producer`` as sub-documents) plus ``jobId``, ``jobType``,
    ``eventOrder`` and ``seq`` (arrival order, see :mod:`actors.stores.mongo`).

    Error handling:
        Every call raises :class:`StoreUnavailable` when MongoDB cannot be reached within
        the server selection timeout, and :meth:`is_available` is false (one WARNING line
        per loss) until a call succeeds again; the client reconnects by itself.
    """

    def __init__(self, collection: _Collection) -> None:
        super().__init__(collection)
        self._events = collection.collection

    async def append(self, events: Sequence[Envelope]) -> AppendResult:
        """Store the events whose ``eventId`` is new, in one round trip.

        Returns:
            How many were stored, and how many were skipped as already stored (including
            repeats inside ``events``; the first occurrence is the one kept).

        Raises:
            StoreUnavailable: MongoDB cannot be reached or refused a write. Events stored
                before the failure stay stored; appending the batch again is safe.
        """
        return await self._store.append_new(
            events, lambda event: event.event_id, _event_document, "events"
        )

    async def events_for_job(self, job_id: str) -> list[Envelope]:
        """A job's events by time, then lifecycle order, then arrival.

        Raises:
            StoreUnavailable: MongoDB cannot be reached.
        """
        cursor = self._events.find({"jobId": job_id}, {"_id": 0}).sort(
            [("occurredAt", ASCENDING), ("eventOrder", ASCENDING), ("seq", ASCENDING)]
        )
        with self._store.failures(f"read the events of job {job_id!r}"):
            documents = await cursor.to_list()
        return [Envelope.from_json(document) for document in documents]

    async def recent_events(self, *, limit: int, job_id: str | None = None) -> list[Envelope]:
        """Events newest first (by time, then arrival), optionally of one job.

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: MongoDB cannot be reached.
        """
        _validate_limit(limit)
        if limit == 0:  # MongoDB reads limit(0) as "no limit"
            await anyio.lowlevel.checkpoint()
            return []
        query = {} if job_id is None else {"jobId": job_id}
        cursor = (
            self._events.find(query, {"_id": 0})
            .sort([("occurredAt", DESCENDING), ("seq", DESCENDING)])
            .limit(limit)
        )
        with self._store.failures("list recent events"):
            documents = await cursor.to_list()
        return [Envelope.from_json(document) for document in documents]

    async def search_events(self, query: EventQuery) -> EventPage:
        """One page of the events matching ``query``, newest first (time, then arrival).

        Served by the ``(occurredAt, seq)`` index, ``(eventType, occurredAt, seq)`` for
        types, ``(jobId, occurredAt)`` for one job.

        Raises:
            StoreUnavailable: MongoDB cannot be reached.
        """
        conditions: list[_Document] = []
        if query.job_id is not None:
            conditions.append({"jobId": query.job_id})
        if query.types:
            conditions.append({"eventType": {"$in": sorted(t.value for t in query.types)}})
        if query.since is not None:
            conditions.append({"occurredAt": {"$gte": query.since}})
        if query.until is not None:
            conditions.append({"occurredAt": {"$lt": query.until}})
        if query.after is not None:
            at, seq = query.after.occurred_at, query.after.position
            conditions.append(
                {"$or": [{"occurredAt": {"$lt": at}}, {"occurredAt": at, "seq": {"$lt": seq}}]}
            )
        filter_: _Document = {"$and": conditions} if conditions else {}
        cursor = (
            self._events.find(filter_, {"_id": 0})
            .sort([("occurredAt", DESCENDING), ("seq", DESCENDING)])
            .limit(query.limit + 1)
        )
        with self._store.failures("search events"):
            documents = await cursor.to_list()
        following = None
        if len(documents) > query.limit:
            last = documents[query.limit - 1]
            following = EventCursor(str(last["occurredAt"]), str(last["seq"]))
        items = [Envelope.from_json(document) for document in documents[: query.limit]]
        return EventPage(items, following)

    async def iter_events(self, event_types: frozenset[EventType]) -> AsyncIterator[Envelope]:
        """Every stored event of ``event_types`` in arrival order, read page by page.

        Each page is its own query (no server cursor stays open while the consumer
        works). Events appended while iterating are included when their ``seq`` is past
        the page being read.

        Raises:
            StoreUnavailable: MongoDB cannot be reached.
        """
        types = sorted(event_type.value for event_type in event_types)
        after: str | None = None
        while types:
            query: _Document = {"eventType": {"$in": types}}
            if after is not None:
                query["seq"] = {"$gt": after}
            cursor = (
                self._events.find(query, {"_id": 0}).sort("seq", ASCENDING).limit(_ITER_PAGE_SIZE)
            )
            with self._store.failures("read events"):
                documents = await cursor.to_list()
            # Yield outside the error translation: the consumer's code runs between items.
            for document in documents:
                yield Envelope.from_json(document)
            if len(documents) < _ITER_PAGE_SIZE:
                return
            after = _text(documents[-1], "seq")

    async def count_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        """How many events the jobs have; see :class:`~actors.stores.EventStore`.

        Raises:
            StoreUnavailable: MongoDB cannot be reached.
        """
        if not job_ids:
            await anyio.lowlevel.checkpoint()
            return 0
        with self._store.failures("count the events of jobs"):
            return await self._events.count_documents({"jobId": {"$in": list(job_ids)}})

    async def remove_events_of_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete every event of the jobs in one round trip (index ``jobId``).

        Raises:
            StoreUnavailable: MongoDB cannot be reached; some may have been removed
                (removing them again is safe).
        """
        if not job_ids:
            await anyio.lowlevel.checkpoint()
            return 0
        with self._store.failures("remove the events of pruned jobs"):
            result = await self._events.delete_many({"jobId": {"$in": list(job_ids)}})
        return result.deleted_count


@asynccontextmanager
async def open_mongo_event_store(
    url: str, *, database: str = DEFAULT_MONGO_DATABASE
) -> AsyncIterator[MongoEventStore]:
    """Open the event store in collection ``job_events`` of ``database`` at ``url``.

    Creates the indexes (:data:`EVENT_INDEXES`) when they are missing.

    Resource handling:
        The store owns its own client, closed when the context exits.

    Raises:
        ConfigError: ``url`` or ``database`` is not valid.
        StoreUnavailable: MongoDB cannot be reached or refused the indexes.
    """
    async with _open_collection(
        url, database, EVENTS_COLLECTION, EVENT_INDEXES, "event store"
    ) as collection:
        yield MongoEventStore(collection)


# -- dead letters -------------------------------------------------------------------------


def _dead_letter_document(record: DeadLetter, seq: str) -> _Document:
    return {
        "deadLetterId": record.dead_letter_id,
        "queue": record.queue,
        "reason": record.reason,
        "errors": [issue.to_json() for issue in record.errors],
        # bytes are stored as BSON binary (subtype 0) and read back as bytes.
        "body": record.body,
        "occurredAt": record.occurred_at,
        "service": record.service,
        "version": record.version,
        "messageId": record.message_id,
        "correlationId": record.correlation_id,
        "seq": seq,
    }


def _dead_letter(document: Mapping[str, object]) -> DeadLetter:
    body = document.get("body")
    if not isinstance(body, bytes):
        raise TypeError(f"Expected binary in field 'body', got {type(body).__name__}.")
    errors = document.get("errors") or []
    if not isinstance(errors, list):
        raise TypeError(f"Expected an array in field 'errors', got {type(errors).__name__}.")
    return DeadLetter(
        dead_letter_id=_text(document, "deadLetterId"),
        queue=_text(document, "queue"),
        reason=_text(document, "reason"),
        errors=[ValidationIssue(_text(issue, "path"), _text(issue, "message")) for issue in errors],
        body=body,
        occurred_at=_text(document, "occurredAt"),
        service=_text(document, "service"),
        version=_text(document, "version"),
        message_id=_optional_text(document, "messageId"),
        correlation_id=_optional_text(document, "correlationId"),
    )


class MongoDeadLetterStore(_MongoStore):
    """A :class:`~actors.stores.DeadLetterStore` in a MongoDB collection.

    Opened and closed by :func:`open_mongo_dead_letter_store`. The original body is kept
    as BSON binary, byte for byte.

    Error handling:
        Every call raises :class:`StoreUnavailable` when MongoDB cannot be reached within
        the server selection timeout, and :meth:`is_available` is false (one WARNING line
        per loss) until a call succeeds again; the client reconnects by itself.
    """

    def __init__(self, collection: _Collection) -> None:
        super().__init__(collection)
        self._dead_letters = collection.collection

    async def add(self, records: Sequence[DeadLetter]) -> AppendResult:
        """Store the records whose ``dead_letter_id`` is new, in one round trip.

        Raises:
            StoreUnavailable: MongoDB cannot be reached or refused a write; adding the
                records again is safe.
        """
        return await self._store.append_new(
            records, lambda record: record.dead_letter_id, _dead_letter_document, "dead letters"
        )

    async def recent(self, *, limit: int) -> list[DeadLetter]:
        """Dead letters newest first (by ``occurred_at``, then arrival).

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: MongoDB cannot be reached.
        """
        _validate_limit(limit)
        if limit == 0:  # MongoDB reads limit(0) as "no limit"
            await anyio.lowlevel.checkpoint()
            return []
        cursor = (
            self._dead_letters.find({}, {"_id": 0})
            .sort([("occurredAt", DESCENDING), ("seq", DESCENDING)])
            .limit(limit)
        )
        with self._store.failures("list recent dead letters"):
            documents = await cursor.to_list()
        return [_dead_letter(document) for document in documents]

    async def get(self, dead_letter_id: str) -> DeadLetter | None:
        """One dead letter, or ``None``.

        Raises:
            StoreUnavailable: MongoDB cannot be reached.
        """
        with self._store.failures(f"read dead letter {dead_letter_id!r}"):
            document = await self._dead_letters.find_one(
                {"deadLetterId": dead_letter_id}, {"_id": 0}
            )
        return None if document is None else _dead_letter(document)

    async def remove(self, dead_letter_ids: Sequence[str]) -> int:
        """Delete dead letters in one round trip.

        Returns:
            How many of them existed.

        Raises:
            StoreUnavailable: MongoDB cannot be reached; some may have been removed
                (removing them again is safe).
        """
        if not dead_letter_ids:
            await anyio.lowlevel.checkpoint()
            return 0
        ids = list(dict.fromkeys(dead_letter_ids))
        with self._store.failures("remove dead letters"):
            result = await self._dead_letters.delete_many({"deadLetterId": {"$in": ids}})
        return result.deleted_count

    async def count(self) -> int:
        """How many dead letters are kept.

        Raises:
            StoreUnavailable: MongoDB cannot be reached.
        """
        with self._store.failures("count dead letters"):
            return await self._dead_letters.count_documents({})

    async def count_older(self, *, before: str) -> int:
        """How many dead letters are older than ``before`` (retention dry run).

        Raises:
            StoreUnavailable: MongoDB cannot be reached.
        """
        with self._store.failures("count old dead letters"):
            return await self._dead_letters.count_documents({"occurredAt": {"$lt": before}})

    async def remove_older(self, *, before: str, limit: int) -> int:
        """Delete up to ``limit`` of the oldest dead letters older than ``before``.

        Two round trips: the ids of the batch (index ``occurredAt, seq``), then their
        deletion.

        Raises:
            ValueError: ``limit`` is negative.
            StoreUnavailable: MongoDB cannot be reached; some may have been removed.
        """
        _validate_limit(limit)
        with self._store.failures("remove old dead letters"):
            cursor = (
                self._dead_letters.find({"occurredAt": {"$lt": before}}, {"_id": 1})
                .sort([("occurredAt", ASCENDING), ("seq", ASCENDING)])
                .limit(limit)
            )
            ids = [document["_id"] for document in await cursor.to_list()]
            if not ids:
                return 0
            result = await self._dead_letters.delete_many({"_id": {"$in": ids}})
        return result.deleted_count


@asynccontextmanager
async def open_mongo_dead_letter_store(
    url: str, *, database: str = DEFAULT_MONGO_DATABASE
) -> AsyncIterator[MongoDeadLetterStore]:
    """Open the dead-letter store in collection ``dead_letters`` of ``database`` at ``url``.

    Creates the indexes (:data:`DEAD_LETTER_INDEXES`) when they are missing.

    Resource handling:
        The store owns its own client, closed when the context exits.

    Raises:
        ConfigError: ``url`` or ``database`` is not valid.
        StoreUnavailable: MongoDB cannot be reached or refused the indexes.
    """
    async with _open_collection(
        url, database, DEAD_LETTERS_COLLECTION, DEAD_LETTER_INDEXES, "dead-letter store"
    ) as collection:
        yield MongoDeadLetterStore(collection)


async def ping_mongo(url: str, *, server_selection_timeout_ms: int) -> None:
    """Check that a MongoDB server at ``url`` answers, waiting at most about
    ``server_selection_timeout_ms`` for one (a command's quick check before it opens the
    stores, which wait longer: :data:`_SERVER_SELECTION_TIMEOUT_MS`).

    Resource handling:
        Opens and closes a client of its own.

    Raises:
        ConfigError: ``url`` is not a valid MongoDB URL.
        StoreUnavailable: no server answered in time; the sentence names the URL
            (password hidden), what failed and what to check.
    """
    try:
        client: pymongo.AsyncMongoClient[_Document] = pymongo.AsyncMongoClient(
            url, serverSelectionTimeoutMS=server_selection_timeout_ms
        )
    except pymongo.errors.ConfigurationError as exc:
        raise ConfigError(f"Cannot use the MongoDB URL {redact(url)}: {exc}. Fix it.") from exc
    try:
        await client.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        raise StoreUnavailable(
            f"Cannot reach MongoDB at {redact(url)}: {_reason(exc)} (no answer within "
            f"{server_selection_timeout_ms / 1000:g} s). Check that MongoDB is running and "
            "reachable."
        ) from exc
    finally:
        with anyio.move_on_after(_CLOSE_TIMEOUT_S, shield=True):
            await client.close()


# -- plumbing -----------------------------------------------------------------------------


def _new_client(url: str) -> pymongo.AsyncMongoClient[_Document]:
    """A client for ``url``, with our server selection timeout unless the URL sets one."""
    named = {name.lower() for name, _ in parse_qsl(urlsplit(url).query)}
    if "serverselectiontimeoutms" in named:
        return pymongo.AsyncMongoClient(url)
    # A keyword option would override the URL's, hence only when the URL is silent.
    return pymongo.AsyncMongoClient(url, serverSelectionTimeoutMS=_SERVER_SELECTION_TIMEOUT_MS)


@asynccontextmanager
async def _open_collection(
    url: str,
    database: str,
    name: str,
    indexes: Sequence[IndexModel],
    description: str,
) -> AsyncIterator[_Collection]:
    """A new client's collection ``database.name`` with ``indexes``; the client is closed after."""
    try:
        client = _new_client(url)
        collection = client[database][name]
    except (pymongo.errors.ConfigurationError, pymongo.errors.InvalidName) as exc:
        raise ConfigError(
            f"Cannot use the MongoDB {description} at {redact(url)}, database "
            f"{database!r}: {exc}. Fix the URL (MONGO_URL) or the database name."
        ) from exc
    try:
        store = _Collection(collection, url, description)
        # Same keys and options as existing indexes: nothing to do, whatever their names.
        with store.failures(f"create the indexes of {collection.full_name!r}", opening=True):
            await collection.create_indexes(list(indexes))
        await store.seed_clock()
        log.info("store.opened store=%s url=%s collection=%s", name, store.url, database)
        yield store
    finally:
        with anyio.move_on_after(_CLOSE_TIMEOUT_S, shield=True):
            await client.close()
