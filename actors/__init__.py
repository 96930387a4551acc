"""Task Observatory runtime: the actor kernel, adapters and one supervisor tree per service."""

from __future__ import annotations

from actors._version import VERSION

__all__ = ["VERSION"]
