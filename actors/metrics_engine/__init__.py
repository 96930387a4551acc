"""The metrics engine service: it counts what happened and keeps the audit trail.

:mod:`~actors.metrics_engine.service` builds its supervisor tree: one pipeline counts
lifecycle events into the live counters and appends them to the event store, another
keeps dead letters.
"""

from __future__ import annotations

from actors.metrics_engine.service import MetricsEngineService

__all__ = ["MetricsEngineService"]
