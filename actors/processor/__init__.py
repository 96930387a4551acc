"""The processor service: it runs jobs and records every step of their lifecycle.

:mod:`~actors.processor.service` builds its supervisor tree (ingress → validator →
executor → persister → publisher); :mod:`~actors.processor.messages` holds the messages
its actors pass and the lifecycle events it emits about each job.
"""

from __future__ import annotations

from actors.processor.service import ProcessorService

__all__ = ["ProcessorService"]
