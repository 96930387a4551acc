"""Names on the broker, shared by every service and the cluster manifests."""

from __future__ import annotations

__all__ = ["ALL_QUEUES", "JOBS_COMPLETED", "JOBS_CREATED", "JOBS_DEAD_LETTER"]

JOBS_CREATED = "jobs.created"
"""Gateway → processor: one ``job.created`` envelope per message."""
JOBS_COMPLETED = "jobs.completed"
"""Processor → metrics engine: lifecycle envelopes, a JSON array per message."""
JOBS_DEAD_LETTER = "jobs.dead-letter"
"""Anything that broke a contract, as ``dead-letter.json`` records; also the DLX target of
the two queues above, so a message rejected by a consumer is never dropped."""

ALL_QUEUES = (JOBS_CREATED, JOBS_COMPLETED, JOBS_DEAD_LETTER)
