"""Job, event, dead-letter and counter stores behind small interfaces."""

from __future__ import annotations

from actors.stores._protocols import (
    AppendResult,
    Counters,
    DeadLetterStore,
    EventStore,
    JobStore,
    ScheduleStore,
)
from actors.stores.memory import MemoryCounters, MemoryJobStore, rebuild_counters
from actors.stores.mongo import (
    MongoDeadLetterStore,
    MongoEventStore,
    open_mongo_dead_letter_store,
    open_mongo_event_store,
)
from actors.stores.postgres import PostgresJobStore, migrate_postgres, open_postgres_job_store
from actors.stores.redis import RedisCounters, open_redis_counters
from actors.stores.sqlite import (
    DEAD_LETTERS_DATABASE,
    EVENTS_DATABASE,
    JOBS_DATABASE,
    SQLiteDeadLetterStore,
    SQLiteEventStore,
    SQLiteJobStore,
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)

__all__ = [
    "DEAD_LETTERS_DATABASE",
    "EVENTS_DATABASE",
    "JOBS_DATABASE",
    "AppendResult",
    "Counters",
    "DeadLetterStore",
    "EventStore",
    "JobStore",
    "MemoryCounters",
    "MemoryJobStore",
    "MongoDeadLetterStore",
    "MongoEventStore",
    "PostgresJobStore",
    "RedisCounters",
    "SQLiteDeadLetterStore",
    "SQLiteEventStore",
    "SQLiteJobStore",
    "ScheduleStore",
    "migrate_postgres",
    "open_mongo_dead_letter_store",
    "open_mongo_event_store",
    "open_postgres_job_store",
    "open_redis_counters",
    "open_sqlite_dead_letter_store",
    "open_sqlite_event_store",
    "open_sqlite_job_store",
    "rebuild_counters",
]
