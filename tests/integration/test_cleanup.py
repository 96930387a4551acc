"""What the launcher and the bench remove after themselves: a MongoDB database
(``drop_mongo_database``, used by ``drop_namespace`` and the bench's ``event_store`` phase)."""

from __future__ import annotations

import logging
import uuid

import anyio
import pymongo
import pytest

from launcher.observatory_process import drop_mongo_database
from tests.integration.tcp_proxy import closed_port

pytestmark = pytest.mark.integration


async def test_drop_mongo_database_removes_it_and_leaves_the_others(mongo_url: str) -> None:
    doomed, kept = f"cleanup-{uuid.uuid4().hex[:8]}", f"cleanup-{uuid.uuid4().hex[:8]}"
    client: pymongo.AsyncMongoClient[dict[str, object]] = pymongo.AsyncMongoClient(mongo_url)
    try:
        for name in (doomed, kept):
            await client[name]["things"].insert_one({"n": 1})
        assert {doomed, kept} <= set(await client.list_database_names())

        await drop_mongo_database(mongo_url, doomed)

        names = set(await client.list_database_names())
        assert doomed not in names
        assert kept in names
    finally:
        await client.drop_database(kept)
        await client.close()


async def test_an_unreachable_mongodb_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=500"
    with caplog.at_level(logging.WARNING), anyio.fail_after(30):
        await drop_mongo_database(url, "nothing-here")
    assert any(
        "cleanup.failed database=nothing-here" in record.getMessage() for record in caplog.records
    )
