"""``observatory serve``: one service per process, riding out its servers' outages."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from actors.broker.amqp import open_amqp_broker
from actors.broker.names import ALL_QUEUES, JOBS_CREATED, RETRY_DELAYS_S, retry_queue
from actors.config.settings import Settings
from actors.stores.postgres import MIGRATIONS
from launcher.serve import ServiceProcess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
async def namespace(rabbitmq_url: str) -> AsyncIterator[str]:
    """A namespace of the test's own; its queues are deleted afterwards."""
    name = f"serve-{uuid.uuid4().hex[:10]}"
    yield name
    settings = Settings(namespace=name)
    with anyio.fail_after(20, shield=True):
        async with open_amqp_broker(rabbitmq_url, namespace=settings.queue_namespace) as broker:
            for queue in (*(retry_queue(d) for d in RETRY_DELAYS_S), *ALL_QUEUES):
                await broker.delete_queue(queue)


async def _status(client: httpx.AsyncClient, url: str) -> int:
    try:
        return (await client.get(url)).status_code
    except httpx.HTTPError:
        return 0


async def _wait_for_status(client: httpx.AsyncClient, url: str, status: int) -> None:
    # Over HTTP there is no event to wait on; poll with a deadline.
    with anyio.fail_after(30):
        while await _status(client, url) != status:  # noqa: ASYNC110
            await anyio.sleep(0.1)


async def test_gateway_goes_unready_while_rabbitmq_is_away_and_recovers_without_restart(
    rabbitmq_url: str,
    mongo_url: str,
    namespace: str,
    close_connection_named: Callable[[str], Awaitable[None]],
) -> None:
    # A reachable MongoDB (the dead letters' server): pymongo leaves a socket to the
    # garbage collector when the client closes mid-connect to a server that is away,
    # and its ResourceWarning would fail whichever test runs then.
    settings = Settings(
        rabbitmq_url=rabbitmq_url, mongo_url=mongo_url, namespace=namespace, gateway_port=0
    )
    service = ServiceProcess("gateway", settings)
    async with anyio.create_task_group() as tg, httpx.AsyncClient(timeout=5) as client:
        await tg.start(service.run)
        base = f"http://127.0.0.1:{service.http.port}"
        await _wait_for_status(client, f"{base}/healthz", 200)
        first = await client.post(f"{base}/jobs", json={"type": "echo"})
        assert first.status_code == 202

        await close_connection_named(f"gateway-{settings.instance_id}")
        await _wait_for_status(client, f"{base}/healthz", 503)
        await _wait_for_status(client, f"{base}/healthz", 200)
        second = await client.post(f"{base}/jobs", json={"type": "echo"})
        assert second.status_code == 202
        restarts = {
            a["path"]: a["restarts"] for a in (await client.get(f"{base}/healthz")).json()["actors"]
        }
        service.request_stop()

    assert restarts["gateway/publisher"] == 0
    async with open_amqp_broker(rabbitmq_url, namespace=settings.queue_namespace) as broker:
        assert await broker.queue_depth(JOBS_CREATED) == 2


async def test_a_service_whose_server_is_away_retries_and_says_so(
    free_tcp_port: int,
    namespace: str,
    rabbitmq_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="actors.kernel.connection")
    dead = free_tcp_port
    settings = Settings(
        rabbitmq_url=rabbitmq_url,
        postgres_url=f"postgresql://observatory:s3cret@127.0.0.1:{dead}/test",
        namespace=namespace,
        processor_port=0,
    )
    service = ServiceProcess("processor", settings)
    async with anyio.create_task_group() as tg, httpx.AsyncClient(timeout=5) as client:
        # Not tg.start(): the tree reports started only once its servers answer.
        tg.start_soon(service.run)
        with anyio.fail_after(10):
            while service.http.port == 0:  # noqa: ASYNC110 - the port is set when bound
                await anyio.sleep(0.01)
        base = f"http://127.0.0.1:{service.http.port}"
        assert (await client.get(f"{base}/readyz")).status_code == 200
        with anyio.fail_after(20):
            while len(_waiting_for_postgres(caplog)) < 2:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        health = await client.get(f"{base}/healthz")
        service.request_stop()

    assert health.status_code == 503
    assert "processor/postgres" in health.json()["unhealthy"]
    lines = _waiting_for_postgres(caplog)
    # One line per retry, numbered; the URL with its password hidden (issue 16).
    for attempt, line in enumerate(lines, start=1):
        assert line.startswith(
            f"waiting for PostgreSQL at postgresql://observatory:***@127.0.0.1:{dead}/test "
            f"(attempt {attempt}, next in "
        ), line
    assert not any("s3cret" in line for line in lines)


def _waiting_for_postgres(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "dependency", "") == "postgres"]


def test_observatory_migrate_applies_the_migrations_once(postgres_url: str) -> None:
    import os
    import subprocess
    import sys

    import asyncpg

    namespace = f"migrate_{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "POSTGRES_URL": postgres_url}
    command = [sys.executable, "-m", "launcher.cli", "migrate", "--namespace", namespace]
    try:
        first = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        again = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    finally:

        async def drop() -> None:
            connection = await asyncpg.connect(postgres_url)
            try:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE')
            finally:
                await connection.close()

        anyio.run(drop)
    assert first.returncode == 0, first.stderr
    versions = ", ".join(str(migration.version) for migration in MIGRATIONS)
    assert first.stdout.startswith(f"Applied migrations {versions} to schema '{namespace}'")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"Schema '{namespace}' is up to date; nothing to apply."
