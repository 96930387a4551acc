"""Shared pytest configuration and the real servers integration tests run against.

Outside CI a missing server skips its tests with a message naming the URL; with
``CI=true`` it fails them, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest

from actors.config.urls import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_RABBITMQ_URL,
    DEFAULT_REDIS_URL,
    redact,
    url_from_env,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio (our libraries need it)."""
    return "asyncio"


def service_unavailable(name: str, url: str, why: str) -> None:
    """Skip (locally) or fail (in CI) because ``name`` at ``url`` cannot be used."""
    message = f"{name} is not reachable at {redact(url)}: {why}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: integration tests never skip)", pytrace=False)
    pytest.skip(message)


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _exchange(
    url: str, default_port: int, greeting: bytes, check: Callable[[bytes], bool]
) -> str | None:
    """Send ``greeting`` and read the first bytes back; ``None`` when the reply is right."""
    host, port = _host_port(url, default_port)
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(greeting)
            sock.settimeout(3)
            reply = sock.recv(64)
    except OSError as exc:
        return str(exc)
    return None if check(reply) else f"unexpected reply {reply[:16]!r}"


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """RabbitMQ (``RABBITMQ_URL``), probed with the AMQP 0-9-1 protocol header."""
    url = url_from_env("RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    # The server answers the protocol header with a Connection.Start method frame (type 1).
    why = _exchange(url, 5672, b"AMQP\x00\x00\x09\x01", lambda reply: reply[:1] == b"\x01")
    if why:
        service_unavailable("RabbitMQ", url, why)
    return url


@pytest.fixture(scope="session")
def rabbitmq_management_url(rabbitmq_url: str) -> str:
    """RabbitMQ's management API (``OBSERVATORY_RABBITMQ_MANAGEMENT_URL``, else the AMQP
    URL's host on port 15672 with its credentials), probed with ``GET /api/overview``.

    The plugin ships with RabbitMQ but is off until ``rabbitmq-plugins enable
    rabbitmq_management`` (``.ci/run`` does it).
    """
    import httpx

    from actors.config.urls import rabbitmq_management_url

    url = rabbitmq_management_url(
        rabbitmq_url, os.environ.get("OBSERVATORY_RABBITMQ_MANAGEMENT_URL") or None
    )
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path.rstrip('/')}"
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    try:
        response = httpx.get(f"{base}/api/overview", auth=auth, timeout=3.0, trust_env=False)
    except httpx.HTTPError as exc:
        service_unavailable("RabbitMQ's management API", url, repr(exc))
    else:
        if response.status_code != 200 or "management_version" not in response.text:
            service_unavailable(
                "RabbitMQ's management API",
                url,
                f"GET /api/overview answered {response.status_code} {response.text[:100]!r}",
            )
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """PostgreSQL (``POSTGRES_URL``), probed with an SSLRequest (answered ``S`` or ``N``)."""
    url = url_from_env("POSTGRES_URL", DEFAULT_POSTGRES_URL)
    ssl_request = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
    why = _exchange(url, 5432, ssl_request, lambda reply: reply[:1] in (b"S", b"N"))
    if why:
        service_unavailable("PostgreSQL", url, why)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis (``REDIS_URL``), probed with PING."""
    url = url_from_env("REDIS_URL", DEFAULT_REDIS_URL)
    why = _exchange(url, 6379, b"PING\r\n", lambda reply: reply.startswith(b"+PONG"))
    if why:
        service_unavailable("Redis", url, why)
    return url


_LISTENING = re.compile(r"Listening on [\d.]+:(\d+)")


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB wire-protocol server: ``MONGO_URL`` when set, else nx-27017 started here."""
    if url := os.environ.get("MONGO_URL"):
        yield url
        return
    folder = tmp_path_factory.mktemp("nx-27017")
    log_file, pid_file = folder / "server.log", folder / "server.pid"
    executable = Path(sys.executable).with_name("nx-27017")
    if not executable.exists():
        service_unavailable(
            "MongoDB stand-in", "mongodb://127.0.0.1", f"{executable} is not installed"
        )
    process = subprocess.Popen(
        [
            str(executable),
            "--data-dir",
            "memory",
            "--host",
            "127.0.0.1",
            "-p",
            "0",
            "--log-file",
            str(log_file),
            "--pid-file",
            str(pid_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _wait_for_listening(process, log_file)
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_listening(process: subprocess.Popen[bytes], log_file: Path) -> int:
    # The server reports its chosen port only in its log; nothing else to wait on.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            service_unavailable(
                "MongoDB stand-in",
                "mongodb://127.0.0.1",
                f"nx-27017 exited with {process.returncode}",
            )
        if log_file.exists() and (match := _LISTENING.search(log_file.read_text())):
            return int(match[1])
        time.sleep(0.05)
    process.kill()
    service_unavailable(
        "MongoDB stand-in", "mongodb://127.0.0.1", "nx-27017 did not listen within 20 s"
    )
    raise AssertionError("unreachable")
