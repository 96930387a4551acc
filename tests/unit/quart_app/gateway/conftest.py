"""Fixtures of the gateway's unit tests: the in-memory broker, a SQLite job store, and a
gateway over both (open, and secured with :data:`~.running.TOKENS`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actors.stores.sqlite import SQLiteJobStore, open_sqlite_job_store
from tests.unit.quart_app.gateway.running import TOKENS, new_broker, running_gateway

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from actors.broker.memory import MemoryBroker
    from quart_app.gateway.service import GatewayService


@pytest.fixture
async def broker() -> MemoryBroker:
    return await new_broker()


@pytest.fixture
async def jobs(tmp_path: Path) -> AsyncIterator[SQLiteJobStore]:
    async with open_sqlite_job_store(tmp_path / "jobs.sqlite3") as store:
        yield store


@pytest.fixture
async def gateway(broker: MemoryBroker, jobs: SQLiteJobStore) -> AsyncIterator[GatewayService]:
    async with running_gateway(broker, jobs) as service:
        yield service


@pytest.fixture
async def secured(broker: MemoryBroker, jobs: SQLiteJobStore) -> AsyncIterator[GatewayService]:
    async with running_gateway(broker, jobs, api_tokens=TOKENS) as service:
        yield service
