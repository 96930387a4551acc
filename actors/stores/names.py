"""Names the stores share with other processes: MongoDB collections, Redis keys and fields.

Every service process (and any operator poking at the servers) must agree on these, so
they live here and nowhere else. Renaming one is a data migration: the old name keeps
the data already written.

Redis layout, with ``<prefix>`` the counters' key prefix (``observatory:`` by default)::

    <prefix>stats               hash: totalJobs, completedJobs, failedJobs, lastEventTime,
                                      type:<jobType>:total|completed|failed
    <prefix>counted:<eventId>   string "1" with a TTL: the event was counted already
    <prefix>workers             hash: worker id -> its latest heartbeat, JSON
    <prefix>rate:<jobType>      hash: tokens, at (microseconds, Redis's clock): the type's
                                      token bucket (rate_limit), expires once full
"""

from __future__ import annotations

__all__ = [
    "COMPLETED_JOBS_FIELD",
    "COUNTED_KEY",
    "DEAD_LETTERS_COLLECTION",
    "DEFAULT_MONGO_DATABASE",
    "DEFAULT_REDIS_PREFIX",
    "EPOCH_KEY",
    "EVENTS_COLLECTION",
    "FAILED_JOBS_FIELD",
    "LAST_EVENT_TIME_FIELD",
    "RATE_BUCKET_KEY",
    "REBUILD_LOCK_KEY",
    "STATS_KEY",
    "TOTAL_JOBS_FIELD",
    "TYPE_FIELD",
    "TYPE_FIELD_COUNTERS",
    "WORKERS_KEY",
]

# -- MongoDB ------------------------------------------------------------------------------

DEFAULT_MONGO_DATABASE = "observatory"
"""Database holding the collections below, unless the caller names another."""
EVENTS_COLLECTION = "job_events"
"""The audit trail: one document per lifecycle event, unique on ``eventId``."""
DEAD_LETTERS_COLLECTION = "dead_letters"
"""Dead letters kept for inspection and requeue, unique on ``deadLetterId``."""

# -- Redis --------------------------------------------------------------------------------

DEFAULT_REDIS_PREFIX = "observatory:"
"""Prefix of every key the counters write. Tests and side-by-side deployments sharing one
Redis use their own. On Redis Cluster give it a hash tag (``{observatory}:``): the counting
script touches the stats hash and the dedupe keys together, and a script's keys must all
live in one slot."""
STATS_KEY = "stats"
"""``<prefix>stats``: one hash with every counter, so a snapshot is one ``HGETALL`` and
never sees half of a batch."""
COUNTED_KEY = "counted:{event_id}"
"""``<prefix>counted:<eventId>``: set (``NX``, with a TTL) when an event is counted, so a
redelivered event is counted once."""

EPOCH_KEY = "epoch"
"""``<prefix>epoch``: set once the counters are known to be whole (initialized empty or
rebuilt from the event store). Redis without persistence loses it on a restart, with the
counters: counting then stops (``CountersLost``) until they are rebuilt."""
REBUILD_LOCK_KEY = "rebuild-lock"
"""``<prefix>rebuild-lock``: held (``NX``, with a TTL) by the one process rebuilding."""

TOTAL_JOBS_FIELD = "totalJobs"
"""Field of the stats hash: jobs validated (``job.validated`` events counted)."""
COMPLETED_JOBS_FIELD = "completedJobs"
"""Field of the stats hash: ``job.completed`` events counted."""
FAILED_JOBS_FIELD = "failedJobs"
"""Field of the stats hash: ``job.failed`` events counted."""
LAST_EVENT_TIME_FIELD = "lastEventTime"
"""Field of the stats hash: the latest ``occurredAt`` seen. Compared as a string, which is
time order for our fixed-width RFC 3339 timestamps (:func:`actors.domain.clock.format_timestamp`)."""
TYPE_FIELD = "type:{job_type}:{counter}"
"""Field of the stats hash holding one job type's counter; ``counter`` is one of
:data:`TYPE_FIELD_COUNTERS`. The job type comes first and may itself contain ``:``; the
counter is always the part after the last ``:``."""
TYPE_FIELD_COUNTERS = ("total", "completed", "failed")
"""The per-type counters, named as in ``/stats``'s ``byType`` entries."""

RATE_BUCKET_KEY = "rate:"
"""``<prefix>rate:<jobType>``: the token bucket of a type with a ``rate_limit``, a hash
``{tokens, at}`` shared by every processor (:mod:`actors.stores.rate_buckets`); it expires
once it would be full again, so idle types leave nothing behind."""
WORKERS_KEY = "workers"
"""``<prefix>workers``: one hash, field = worker id, value = ``{"seenAt", "beat"}`` as JSON:
the latest heartbeat of every processor and metrics engine seen lately
(:mod:`actors.stores.workers`)."""
