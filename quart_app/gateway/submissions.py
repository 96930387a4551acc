"""What ``POST /jobs`` and ``POST /jobs/batch`` keep in the job store's ledger.

**Resubmitted job ids.** Before publishing, the gateway claims each job id through the
:class:`~actors.pipeline.ledger.Ledger` actor (one store call per batch of requests; a
second one, the ``confirmer``, marks the published claims confirmed):

======================  ==============================================================
claim                   answer
======================  ==============================================================
new                     publish; 202 ``{jobId, eventId}``; the claim is confirmed
same job, confirmed     202 with the *original* ``eventId``; nothing is published
same job, unconfirmed   publish the original envelope again (same ``eventId``: every
                        consumer skips it if it got there); 202 as the first time
other type/payload/     409 naming the id and the fields; nothing is published
metadata
======================  ==============================================================

A publish the broker does not confirm (503) releases its claim, so the client can submit
the id again, with any payload.

**Idempotency-Key** (the IETF httpapi draft): a request carrying the header claims the
key (scoped to the client's token) with a fingerprint of its route and JSON body. The
answer it gets is kept for 24 h and replayed, status and body, to a retry with the same
body (with ``Idempotent-Replayed: true``); the same key with another body answers 422,
and while the first request is still being answered, 409. Answers 5xx and 429 are not
kept: the claim is released and a retry runs again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio
from quart import Response, g, request

from actors.domain.clock import format_timestamp, wall_clock
from actors.domain.submissions import (
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENCY_TTL_S,
    ClaimOutcome,
    Fingerprint,
    IdempotencyAnswer,
    IdempotencyClaim,
    KeyOutcome,
    Submission,
    SubmissionClaim,
    later,
    request_fingerprint,
)
from actors.errors import ValidationIssue
from actors.pipeline.ledger import ClaimKeys, ClaimSubmissions, SettleKeys, SettleSubmissions
from quart_app._common import json_error
from quart_app.openapi import error_response, header_param

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from actors.domain.clock import Clock
    from actors.domain.events import Envelope
    from actors.pipeline.ledger import Ledger, LedgerCall

__all__ = [
    "IDEMPOTENCY_HEADER",
    "IDEMPOTENCY_PARAMETER",
    "REPLAYED_HEADER",
    "Desk",
    "LedgerUnavailable",
    "conflict",
    "idempotency_key",
    "idempotency_responses",
    "republished",
    "submission_of",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on an answer replayed for an ``Idempotency-Key``."""

IDEMPOTENCY_PARAMETER = {
    **header_param(
        IDEMPOTENCY_HEADER,
        {"type": "string", "minLength": 1, "maxLength": 257, "pattern": "^[!-~]+$"},
    ),
    "description": (
        "Makes the request idempotent (IETF httpapi Idempotency-Key draft): 1 to 255 "
        "printable ASCII characters without spaces, quoted as the draft's structured-field "
        'string (`"abc"`) or bare (`abc`, the same key), unique per request of this client '
        "(its token). The answer is kept for 24 h: a retry with the same key and the same "
        "body gets it again, status and body, with `Idempotent-Replayed: true`; the same "
        "key with another body answers 422; while the first request is being answered, 409. "
        "5xx and 429 answers are not kept, so a retry runs again. Stored in the job store: "
        "every gateway answers alike."
    ),
}


def idempotency_responses() -> dict[int, dict[str, object]]:
    """The answers an ``Idempotency-Key`` adds to a route's OpenAPI responses."""
    return {
        409: error_response(
            "A job id submitted before with another type, payload or metadata (named in "
            "`details`; nothing was published), or a request with the same "
            "`Idempotency-Key` still being answered."
        ),
        422: error_response("The `Idempotency-Key` was used before with another body."),
    }


_SF_STRING = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')
"""A structured-field string (RFC 8941), as the draft spells the header's value."""


def idempotency_key(raw: str) -> str | None:
    """The key of an ``Idempotency-Key`` value: a structured-field string (``"abc"``, as
    the draft spells it) or the bare key (``abc``), the same key either way; ``None``
    when it is not 1 to 255 printable ASCII characters without spaces."""
    if (quoted := _SF_STRING.fullmatch(raw)) is not None:
        raw = re.sub(r'\\(["\\])', r"\1", quoted[1])
    return raw if IDEMPOTENCY_KEY_PATTERN.fullmatch(raw) else None


class LedgerUnavailable(Exception):
    """The ledger could not answer in time: the request is answered 503."""


def submission_of(envelope: Envelope) -> Submission:
    """The ledger's view of a ``job.created`` envelope."""
    return Submission(
        envelope.job_id,
        Fingerprint.of(envelope.payload).encode(),
        envelope.event_id,
        envelope.occurred_at,
    )


def conflict(claim: SubmissionClaim) -> tuple[str, list[ValidationIssue]]:
    """The 409 of a conflicting resubmission: its message and one detail per field."""
    job_id = claim.submission.job_id
    fields = " and ".join(claim.differences)
    return (
        f"Job {job_id} was submitted before with another {fields}; nothing was published. "
        "Resubmit it as it was first submitted, or submit the new job under a new id.",
        [
            ValidationIssue(
                f"/{name}", f"Differs from the {name} job {job_id} was first submitted with."
            )
            for name in claim.differences
        ],
    )


def _claimed(claim: SubmissionClaim) -> Submission:
    """The submission as the ledger holds it: under the claim's event id."""
    return replace(claim.submission, event_id=claim.event_id)


def republished(envelope: Envelope, claim: SubmissionClaim) -> Envelope:
    """The envelope to publish for ``claim``: under the claim's event id."""
    if claim.event_id == envelope.event_id:
        return envelope
    return replace(envelope, event_id=claim.event_id)


class Desk:
    """The routes' side of the ledger: claims, confirms and releases, each bounded."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        timeout_s: float,
        confirmer: Ledger | None = None,
        clock: Clock = wall_clock,
    ) -> None:
        """``confirmer``: the ledger actor that writes confirms (by default ``ledger``); one
        of its own writes them beside the claims rather than between them. ``clock``: the
        time an ``Idempotency-Key`` is claimed at, its answer kept from (tests pass their
        own)."""
        self._ledger = ledger
        self._confirmer = confirmer if confirmer is not None else ledger
        self._timeout_s = timeout_s
        self._clock = clock

    async def _ask(self, call: LedgerCall) -> None:
        with anyio.move_on_after(self._timeout_s) as scope:
            try:
                await self._ledger.send(call)
            except anyio.ClosedResourceError:
                raise LedgerUnavailable("the gateway is shutting down") from None
            await call.done.wait()
        if scope.cancelled_caught:
            raise LedgerUnavailable(f"the job store did not answer within {self._timeout_s:g} s")
        if call.error is not None:
            raise LedgerUnavailable(str(call.error))

    async def claim(
        self, envelopes: Sequence[Envelope], *, minted: Sequence[bool] | None = None
    ) -> list[SubmissionClaim]:
        """Claim the job ids of ``envelopes`` (one answer each, in order).

        ``minted``: for each envelope, whether the gateway made its job id up (the
        submission had none). Such an id cannot have been submitted before, so it is not
        asked of the ledger: it is new, and its :meth:`confirm` (not waited on) writes
        its row, so that a later submission under that id is answered as any other.
        This spares a single submission without an id a round trip to the job store.

        Raises:
            LedgerUnavailable: the job store did not answer.
        """
        flags = [False] * len(envelopes) if minted is None else list(minted)
        asked = [
            submission_of(e) for e, made_up in zip(envelopes, flags, strict=True) if not made_up
        ]
        answers: list[SubmissionClaim] = []
        if asked:
            call = ClaimSubmissions(submissions=asked)
            await self._ask(call)
            answers = call.claims
        claims: list[SubmissionClaim] = []
        ledger_answers = iter(answers)
        for envelope, made_up in zip(envelopes, flags, strict=True):
            if made_up:
                submission = submission_of(envelope)
                claims.append(
                    SubmissionClaim(submission, ClaimOutcome.NEW, submission.event_id, minted=True)
                )
            else:
                claims.append(next(ledger_answers))
        return claims

    async def confirm(self, claims: Sequence[SubmissionClaim]) -> None:
        """Mark the claims published (not waited on: an unconfirmed claim is only pending)."""
        if not claims:
            return
        call = SettleSubmissions(confirmed=[_claimed(c) for c in claims])
        with anyio.move_on_after(self._timeout_s):
            try:
                await self._confirmer.send(call)
            except anyio.ClosedResourceError:
                log.warning("ledger.confirm_dropped jobs=%d", len(claims))

    async def release(self, claims: Sequence[SubmissionClaim]) -> None:
        """Release the new claims whose publish failed, so their ids can be submitted again."""
        # A minted id's claim was never written (its confirm writes it): nothing to release.
        new = [_claimed(c) for c in claims if c.outcome is ClaimOutcome.NEW and not c.minted]
        if not new:
            return
        try:
            await self._ask(SettleSubmissions(released=new))
        except LedgerUnavailable as exc:
            # Left unconfirmed: the same job is accepted again (pending), another refused.
            log.warning("ledger.release_failed jobs=%d reason=%s", len(new), exc)

    async def idempotent(
        self,
        route: str,
        document: object,
        answer: Callable[[], Awaitable[tuple[Response, int]]],
    ) -> tuple[Response, int]:
        """Answer with ``answer()``, through the request's ``Idempotency-Key`` if it has one."""
        raw = request.headers.get(IDEMPOTENCY_HEADER)
        if raw is None:
            return await answer()
        key = idempotency_key(raw)
        if key is None:
            return json_error(
                400,
                f"The {IDEMPOTENCY_HEADER} header must be 1 to 255 printable ASCII characters "
                "without spaces.",
                [ValidationIssue(f"/headers/{IDEMPOTENCY_HEADER}", "Not a valid key.")],
            )
        now = format_timestamp(self._clock())
        token: str | None = getattr(g, "token", None)
        scope = "token:" + hashlib.sha256(token.encode()).hexdigest()[:16] if token else "-"
        claim = IdempotencyClaim(
            f"{scope} {key}",
            request_fingerprint(route, document),
            now,
            later(now, IDEMPOTENCY_TTL_S),
        )
        call = ClaimKeys(claims=[claim], now=now)
        try:
            await self._ask(call)
        except LedgerUnavailable as exc:
            return json_error(503, f"The {IDEMPOTENCY_HEADER} could not be checked ({exc}).")
        [(outcome, record)] = call.outcomes
        if outcome is KeyOutcome.MISMATCH:
            return json_error(
                422,
                f"The {IDEMPOTENCY_HEADER} {key!r} was used before with another body; send a "
                "new key for a new request.",
            )
        if outcome is KeyOutcome.IN_PROGRESS:
            response, status = json_error(
                409,
                f"A request with the {IDEMPOTENCY_HEADER} {key!r} is still being answered; "
                "retry shortly.",
            )
            response.headers["Retry-After"] = "1"
            return response, status
        if outcome is KeyOutcome.REPLAY:
            assert record is not None
            assert record.status is not None
            replay = Response(record.body or "", status=record.status, mimetype="application/json")
            replay.headers[REPLAYED_HEADER] = "true"
            return replay, record.status
        response, status = await answer()
        kept = status < 500 and status != 429
        body = await response.get_data(as_text=True) if kept else None
        settle = SettleKeys(
            answers=[
                IdempotencyAnswer(claim.key, claim.fingerprint, status if kept else None, body)
            ]
        )
        try:
            await self._ask(settle)
        except LedgerUnavailable as exc:
            # The claim stays unanswered: a retry gets 409 until it is stale, never a wrong answer.
            log.warning("idempotency.answer_not_kept reason=%s", exc)
        return response, status
