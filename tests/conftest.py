"""Shared pytest configuration: every async test runs on asyncio (our libraries need it)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio."""
    return "asyncio"
