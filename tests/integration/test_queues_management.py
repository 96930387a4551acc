"""Issue 17, item 2: ``GET /queues`` from RabbitMQ's management API, against the real one.

With the API answering, every topology queue comes from it (``source`` ``management``)
with its unacked messages and RabbitMQ's own rates. Where it does not answer (a closed
port, wrong credentials, an unknown virtual host, a server that never answers) the
answer comes from passive declares (``amqp``: unacked and those rates null), said once
in the log, the password never; it is asked again after ``retry_s`` and its return is
said once too.

RabbitMQ counts its queues every ``collect_statistics_interval`` (5 s by default), so
these tests wait for its figures with a generous deadline instead of expecting them at
once. In CI (``CI=true``) a management API that does not answer fails them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING
from uuid import uuid4

import anyio
import jsonschema_rs
import pytest
from anyio.abc import SocketAttribute

from actors.broker import OutgoingMessage
from actors.broker.amqp import AmqpBroker, open_amqp_broker
from actors.broker.management import RabbitMqManagement
from actors.broker.names import JOBS_CREATED
from actors.config.urls import rabbitmq_vhost
from quart_app.read_model.queues import (
    QUEUES_SCHEMA,
    TOPOLOGY_QUEUES,
    AmqpQueueInspector,
    ManagementQueueInspector,
    QueueSample,
    QueueSource,
    RateTracker,
    install_queues_route,
)
from tests.integration.tcp_proxy import TcpProxy, closed_port
from tests.unit.quart_app.read_model.bare_app import bare_read_model_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from anyio.abc import SocketStream
    from quart import Quart

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

_STATISTICS_WAIT_S = 45.0
"""How long RabbitMQ's statistics may take to show what happened (a few 5 s rounds)."""

_LOGGER = "quart_app.read_model.queues"


@pytest.fixture
async def broker(rabbitmq_url: str, request: pytest.FixtureRequest) -> AsyncIterator[AmqpBroker]:
    """A broker in a namespace of its own with the topology declared; its queues are
    deleted at teardown."""
    broker = open_amqp_broker(
        rabbitmq_url,
        namespace=f"test-{uuid4().hex[:12]}.",
        connection_name=request.node.nodeid,
        publish_timeout_s=5.0,
    )
    async with contextlib.AsyncExitStack() as stack:
        with anyio.fail_after(10):
            await stack.enter_async_context(broker)
            await broker.declare_topology()
        try:
            yield broker
        finally:
            with anyio.fail_after(10, shield=True):
                for queue in reversed(broker.declared_queues):
                    await broker.delete_queue(queue)


def _inspector(
    broker: AmqpBroker,
    management_url: str,
    vhost: str,
    **options: float | Callable[[], float],
) -> ManagementQueueInspector:
    return ManagementQueueInspector(
        RabbitMqManagement(management_url, vhost),
        AmqpQueueInspector(lambda: broker),
        namespace=broker.namespace,
        **options,  # type: ignore[arg-type]
    )


async def _sample_until(
    inspector: ManagementQueueInspector, what: str, check: Callable[[dict[str, QueueSample]], bool]
) -> dict[str, QueueSample]:
    """Sample until ``check`` holds (RabbitMQ's statistics lag by up to a few seconds)."""
    seen: dict[str, QueueSample] = {}
    try:
        with anyio.fail_after(_STATISTICS_WAIT_S):
            while True:
                seen = {s.name: s for s in await inspector.sample()}
                if check(seen):
                    return seen
                await anyio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(
            f"not seen within {_STATISTICS_WAIT_S} s: {what}; last: {seen}"
        ) from None


def _from_management(samples: dict[str, QueueSample]) -> bool:
    return all(s.source is QueueSource.MANAGEMENT for s in samples.values())


def _warnings(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == _LOGGER and r.getMessage().startswith(event)]


def _app(inspector: ManagementQueueInspector) -> Quart:
    app = bare_read_model_app()
    install_queues_route(app, inspector, tracker=RateTracker())
    return app


async def test_queues_come_from_the_management_api_with_unacked_and_rates(
    broker: AmqpBroker,
    rabbitmq_url: str,
    rabbitmq_management_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER)
    inspector = _inspector(broker, rabbitmq_management_url, rabbitmq_vhost(rabbitmq_url))
    await broker.publish_batch(
        JOBS_CREATED, [OutgoingMessage(body=b"{}", message_id=f"m-{i}") for i in range(5)]
    )
    # Two of the five pushed to a consumer that settles nothing: unacked.
    async with broker.open_consumer(JOBS_CREATED, prefetch=2):

        def counted(samples: dict[str, QueueSample]) -> bool:
            created = samples[JOBS_CREATED]
            return _from_management(samples) and (
                created.ready,
                created.unacked,
                created.consumers,
            ) == (3, 2, 1)

        samples = await _sample_until(inspector, "3 ready, 2 unacked, 1 consumer", counted)
        assert list(samples) == list(TOPOLOGY_QUEUES)
        response = await _app(inspector).test_client().get("/queues")
        body = await response.get_json()

    assert response.status_code == 200
    jsonschema_rs.validator_for(QUEUES_SCHEMA).validate(body)
    assert [entry["name"] for entry in body] == list(TOPOLOGY_QUEUES)
    assert {entry["source"] for entry in body} == {"management"}
    created = next(entry for entry in body if entry["name"] == JOBS_CREATED)
    assert (created["ready"], created["unacked"], created["depth"]) == (3, 2, 5)
    assert created["consumers"] == 1
    # RabbitMQ's own rates, from the first call (their values depend on its sampling).
    assert isinstance(created["publishPerS"], float)
    assert isinstance(created["deliverPerS"], float)
    available = _warnings(caplog, "queues.management_available")
    assert len(available) == 1, "the API's answering is said once, not per call"
    assert available[0].levelno == logging.INFO


async def test_a_closed_management_port_falls_back_to_passive_declares_said_once(
    broker: AmqpBroker, rabbitmq_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER)
    url = f"http://observatory:s3cret-pw@127.0.0.1:{closed_port()}/"
    # retry_s=0: asked (and refused) on every call, yet said only once.
    inspector = _inspector(broker, url, rabbitmq_vhost(rabbitmq_url), retry_s=0.0)
    await broker.publish_batch(JOBS_CREATED, [OutgoingMessage(body=b"{}", message_id="m-1")])
    tracker = RateTracker()

    first = tracker.to_json(await inspector.sample())
    second = tracker.to_json(await inspector.sample())

    for body in (first, second):
        jsonschema_rs.validator_for(QUEUES_SCHEMA).validate(body)
        assert [entry["name"] for entry in body] == list(TOPOLOGY_QUEUES)
        assert {entry["source"] for entry in body} == {"amqp"}
        assert {entry["unacked"] for entry in body} == {None}
        assert {entry["publishPerS"] for entry in body} == {None}
        assert {entry["deliverPerS"] for entry in body} == {None}
    created = next(entry for entry in second if entry["name"] == JOBS_CREATED)
    assert (created["ready"], created["consumers"]) == (1, 0)
    (warning,) = _warnings(caplog, "queues.management_unavailable")
    assert warning.levelno == logging.WARNING
    assert "s3cret-pw" not in caplog.text
    assert f"url=http://observatory:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in warning.getMessage()
    assert "passive declares (source=amqp" in warning.getMessage()


@pytest.mark.parametrize("refusal", ["wrong password", "unknown vhost"])
async def test_a_refusing_management_api_falls_back_to_passive_declares(
    broker: AmqpBroker,
    rabbitmq_url: str,
    rabbitmq_management_url: str,
    caplog: pytest.LogCaptureFixture,
    refusal: str,
) -> None:
    caplog.set_level(logging.WARNING, logger=_LOGGER)
    vhost = rabbitmq_vhost(rabbitmq_url)
    url, status = rabbitmq_management_url, 404
    if refusal == "wrong password":
        scheme, rest = url.split("://", 1)
        url, status = f"{scheme}://observatory-test:wrong@{rest.rpartition('@')[2]}", 401
    else:
        vhost = f"no-such-vhost-{uuid4().hex[:8]}"
    inspector = _inspector(broker, url, vhost)

    samples = await inspector.sample()

    assert {s.source for s in samples} == {QueueSource.AMQP}
    assert {s.unacked for s in samples} == {None}
    (warning,) = _warnings(caplog, "queues.management_unavailable")
    assert f"answered {status} " in warning.getMessage()
    assert ":wrong@" not in caplog.text, "the password is never logged"


async def test_a_silent_management_api_is_given_up_after_the_timeout(
    broker: AmqpBroker, rabbitmq_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=_LOGGER)
    accepted = 0

    async def hold(stream: SocketStream) -> None:
        nonlocal accepted
        accepted += 1
        async with stream:
            await anyio.sleep_forever()

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, hold)
        port = listener.extra(SocketAttribute.local_port)
        inspector = _inspector(
            broker, f"http://127.0.0.1:{port}/", rabbitmq_vhost(rabbitmq_url), timeout_s=0.5
        )

        samples = await inspector.sample()
        again = await inspector.sample()  # within retry_s: not asked again
        tg.cancel_scope.cancel()

    assert {s.source for s in [*samples, *again]} == {QueueSource.AMQP}
    assert accepted == 1
    (warning,) = _warnings(caplog, "queues.management_unavailable")
    assert "error=no answer within 0.5 s" in warning.getMessage()


async def test_the_management_api_is_asked_again_after_retry_s_and_its_return_said_once(
    broker: AmqpBroker,
    rabbitmq_url: str,
    rabbitmq_management_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER)
    proxy = TcpProxy(rabbitmq_management_url, default_port=15672)
    scheme, rest = rabbitmq_management_url.split("://", 1)
    credentials = f"{rest.rpartition('@')[0]}@" if "@" in rest else ""
    now = [0.0]
    inspector = _inspector(
        broker,
        f"{scheme}://{credentials}127.0.0.1:{proxy.port}/",
        rabbitmq_vhost(rabbitmq_url),
        retry_s=30.0,
        clock=lambda: now[0],
    )
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.run)
        await _sample_until(inspector, "every queue from the management API", _from_management)
        await proxy.stop()

        away = await inspector.sample()
        await tg.start(proxy.run)  # back, but not asked before retry_s
        now[0] = 29.0
        waiting = await inspector.sample()
        now[0] = 31.0
        back = await inspector.sample()
        await proxy.stop()

    assert {s.source for s in [*away, *waiting]} == {QueueSource.AMQP}
    assert {s.source for s in back} == {QueueSource.MANAGEMENT}
    assert len(_warnings(caplog, "queues.management_unavailable")) == 1
    assert len(_warnings(caplog, "queues.management_available")) == 2  # first, and back
