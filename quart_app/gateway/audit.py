"""Bulk actions in the audit trail: each one a ``jobs.bulk-action`` event.

A bulk action (``POST /jobs/cancel``, ``POST /jobs/retry``, ``POST /dead-letters/requeue``
by filter) acts on many jobs at once; each job's own events tell what happened to it,
and this event tells that the action happened: who asked (the token's role and
fingerprint), the filter as understood, and the counts answered. The gateway publishes
it to ``jobs.completed`` like the processor's lifecycle events, so the metrics engine
validates it (``bulk-action.json``) and appends it to the event store, where
``GET /events?type=jobs.bulk-action`` finds it. It moves no counter.

The action has happened by the time the event is published: when the broker does not
confirm it, the answer still reports the action (``auditEventId`` is null) and the
gateway logs ``jobs.bulk_action_unrecorded`` at WARNING.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quart import g

from actors.broker.names import JOBS_COMPLETED
from actors.domain.clock import utc_now
from actors.domain.events import Envelope, envelopes_to_message

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from actors.broker import OutgoingMessage
    from actors.domain.events import Producer

__all__ = ["BulkAudit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BulkAudit:
    """Records the bulk actions of one gateway in the audit trail."""

    producer: Producer
    publish: Callable[..., Awaitable[str | None]]
    """The gateway's publish: ``(messages, *, jobs, queue)`` → the failure or ``None``."""

    async def record(
        self,
        action: str,
        *,
        by: Mapping[str, str],
        filter_: Mapping[str, object],
        matched: int,
        acted_on: int,
        more: bool,
    ) -> str | None:
        """Publish the ``jobs.bulk-action`` event of ``action``; its id once the broker
        confirmed it, ``None`` (logged) when it did not."""
        document: dict[str, object] = {
            "id": str(uuid.uuid4()),
            "action": action,
            "by": dict(by),
            "filter": dict(filter_),
            "matched": matched,
            "actedOn": acted_on,
            "skipped": matched - acted_on,
            "more": more,
        }
        correlation_id = str(getattr(g, "correlation_id", "") or document["id"])
        envelope = Envelope.bulk_action(
            document, producer=self.producer, correlation_id=correlation_id, at=utc_now()
        )
        message: OutgoingMessage = envelopes_to_message([envelope])
        failure = await self.publish([message], jobs=False, queue=JOBS_COMPLETED)
        if failure is not None:
            log.warning(
                "jobs.bulk_action_unrecorded action=%s reason=%s matched=%d acted_on=%d",
                *(action, failure, matched, acted_on),
            )
            return None
        return envelope.event_id
