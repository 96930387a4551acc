"""Job, event, dead-letter and counter stores behind small interfaces."""

from __future__ import annotations

from actors.stores._protocols import AppendResult, Counters, DeadLetterStore, EventStore, JobStore

__all__ = ["AppendResult", "Counters", "DeadLetterStore", "EventStore", "JobStore"]
