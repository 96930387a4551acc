"""Dead letters: messages that broke a contract, kept with every reason (``dead-letter.json``)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.errors import ValidationIssue

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["DeadLetter", "dead_letter_id"]

_DEAD_LETTER_NAMESPACE = uuid.UUID("0d3b8f0e-54a4-4c84-9f6e-3f1f6e0c2b7a")


def dead_letter_id(queue: str, message_id: str | None, body: bytes, index: int = 0) -> str:
    """Deterministic id of a dead letter, so a redelivered poison message is kept once.

    Args:
        queue: the queue the message was taken from.
        message_id: the broker message id, when the publisher set one.
        body: the raw message body (hashed when there is no message id).
        index: position of the offending envelope inside a multi-envelope message.
    """
    key = message_id or hashlib.sha256(body).hexdigest()
    return str(uuid.uuid5(_DEAD_LETTER_NAMESPACE, f"{queue}:{key}:{index}"))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message (or one envelope of it) that no consumer may process, and why."""

    dead_letter_id: str
    queue: str
    """Queue it was taken from."""
    reason: str
    """One sentence: what is wrong with it."""
    errors: Sequence[ValidationIssue]
    """Every violation, each with its JSON path."""
    body: bytes
    """The original bytes, exactly as received."""
    occurred_at: str
    """When it was dead-lettered."""
    service: str
    version: str
    message_id: str | None = None
    correlation_id: str | None = None

    def to_json(self) -> dict[str, object]:
        """The ``dead-letter.json`` document; the body as text when it is UTF-8 without NUL.

        A body holding NUL goes as base64 too: the record's own consumer (the archivist)
        refuses text with NUL, as the stores cannot keep it, and would otherwise file the
        record as a foreign message, losing its queue and message id.
        """
        try:
            body_text, encoding = self.body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            body_text, encoding = "", "base64"
        if encoding == "base64" or "\x00" in body_text:
            body_text, encoding = base64.b64encode(self.body).decode("ascii"), "base64"
        return {
            "deadLetterId": self.dead_letter_id,
            "queue": self.queue,
            "reason": self.reason,
            "errors": [issue.to_json() for issue in self.errors],
            "originalBody": body_text,
            "originalBodyEncoding": encoding,
            "occurredAt": self.occurred_at,
            "service": self.service,
            "version": self.version,
            "messageId": self.message_id,
            "correlationId": self.correlation_id,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> DeadLetter:
        """Rebuild a dead letter from a document valid against ``dead-letter.json``."""
        raw = str(doc["originalBody"])
        body = (
            base64.b64decode(raw) if doc.get("originalBodyEncoding") == "base64" else raw.encode()
        )
        errors = doc.get("errors") or []
        assert isinstance(errors, list)
        message_id = doc.get("messageId")
        correlation_id = doc.get("correlationId")
        return cls(
            dead_letter_id=str(doc["deadLetterId"]),
            queue=str(doc["queue"]),
            reason=str(doc["reason"]),
            errors=[ValidationIssue(str(e["path"]), str(e["message"])) for e in errors],
            body=body,
            occurred_at=str(doc["occurredAt"]),
            service=str(doc["service"]),
            version=str(doc["version"]),
            message_id=None if message_id is None else str(message_id),
            correlation_id=None if correlation_id is None else str(correlation_id),
        )
