"""Checks shared by every store's ledger of submissions and idempotency keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["check_unique"]


def check_unique(ids: Sequence[str], what: str) -> None:
    """Refuse a call that names one id twice (one claim per id and call).

    Raises:
        ValueError: an id appears twice.
    """
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValueError(f"The {what} {repeated!r} appears twice in one call; claim it once.")
