"""A PostgreSQL schema of a test's own, and a plain connection to look behind a store.

Imported as ``tests.integration.postgres_schema``; the ``schema`` fixture (a fresh name,
dropped afterwards) is in this folder's ``conftest.py``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import asyncpg

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["admin", "drop_schema"]


@asynccontextmanager
async def admin(url: str, schema: str | None = None) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection for looking behind the store's back (``schema`` first on its
    search path when given)."""
    settings = {"search_path": f'"{schema}"'} if schema else {}
    conn = await asyncpg.connect(url, server_settings=settings)
    try:
        yield conn
    finally:
        await conn.close()


async def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (shielded: it runs while a test is torn down)."""
    with anyio.fail_after(10, shield=True):
        async with admin(url) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
