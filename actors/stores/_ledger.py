"""Rules shared by every store's ledger of submissions and idempotency keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.domain.submissions import IDEMPOTENCY_STALE_S, later

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["check_unique", "forgotten_claims_before"]


def forgotten_claims_before(finished_before: str) -> str:
    """The time before which an unconfirmed claim of a pruned job goes with it (retention).

    When retention removes a job (``JobStore.remove_jobs``), its claim in ``submissions``
    goes in the same transaction, so the ledger stays as bounded as the jobs: a confirmed
    claim always, an unconfirmed one (a gateway stopped between its publish and its
    confirm) only once it is older than the cutoff by
    :data:`~actors.domain.submissions.IDEMPOTENCY_STALE_S`. No submission runs that long,
    so a claim still being published (a pruned id submitted again right now) is never
    taken from under its gateway, even with a cutoff of now (``--retain-days 0``).
    """
    return later(finished_before, -IDEMPOTENCY_STALE_S)


def check_unique(ids: Sequence[str], what: str) -> None:
    """Refuse a call that names one id twice (one claim per id and call).

    Raises:
        ValueError: an id appears twice.
    """
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValueError(f"The {what} {repeated!r} appears twice in one call; claim it once.")
