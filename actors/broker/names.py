"""Names on the broker, shared by every service and the cluster manifests."""

from __future__ import annotations

__all__ = [
    "ALL_QUEUES",
    "JOBS_COMPLETED",
    "JOBS_CREATED",
    "JOBS_CREATED_MAX_PRIORITY",
    "JOBS_DEAD_LETTER",
    "RETRY_DELAYS_S",
    "retry_bucket",
    "retry_queue",
]

JOBS_CREATED = "jobs.created"
"""Gateway → processor: one ``job.created`` envelope per message."""
JOBS_COMPLETED = "jobs.completed"
"""Processor → metrics engine: lifecycle envelopes, a JSON array per message."""
JOBS_DEAD_LETTER = "jobs.dead-letter"
"""Anything that broke a contract, as ``dead-letter.json`` records; also the DLX target of
the two queues above, so a message rejected by a consumer is never dropped."""

JOBS_CREATED_MAX_PRIORITY = 9
"""``jobs.created`` is a priority queue (``x-max-priority``): message priorities 0 to 9,
the higher delivered first. RabbitMQ keeps one sub-queue per level, so each level costs
some memory and CPU per message; ten levels (Celery's, too) are a common choice. A
message without a priority counts as 0, so every ``job.created`` carries its job's."""

ALL_QUEUES = (JOBS_CREATED, JOBS_COMPLETED, JOBS_DEAD_LETTER)

RETRY_DELAYS_S = (1, 5, 30)
"""Delays of the retry path, one queue each. A retry queue has no consumer: its messages
wait out the queue's ``x-message-ttl`` and are then dead-lettered back to ``jobs.created``,
so delayed retries need no broker plugin (and survive a restart of every service)."""


def retry_queue(delay_s: int) -> str:
    """Name of the retry queue that holds messages for ``delay_s`` seconds: ``jobs.retry.5s``."""
    return f"jobs.retry.{delay_s}s"


def retry_bucket(delay_s: float) -> int:
    """The retry queue's delay for a wait of ``delay_s``: the shortest that is not shorter.

    A wait longer than every queue's gets the longest queue. The message itself expires
    after exactly ``delay_s`` (its ``expiration``), which RabbitMQ honours at the head of
    the queue; in a queue only holding waits between the previous queue's delay and its
    own, a message behind a longer one waits at most that much longer.
    """
    for bucket in RETRY_DELAYS_S:
        if delay_s <= bucket:
            return bucket
    return RETRY_DELAYS_S[-1]
