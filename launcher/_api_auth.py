"""The API token our own clients send (gate, bench, soak): ``OBSERVATORY_API_TOKEN``."""

from __future__ import annotations

import os

__all__ = ["TOKEN_ENV", "auth_headers"]

TOKEN_ENV = "OBSERVATORY_API_TOKEN"


def auth_headers(token: str | None = None) -> dict[str, str]:
    """``Authorization: Bearer`` for ``token`` (default: ``$OBSERVATORY_API_TOKEN``), or none."""
    token = token or os.environ.get(TOKEN_ENV) or None
    return {"Authorization": f"Bearer {token}"} if token else {}
