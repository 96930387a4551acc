"""What the store tests that take a server away share: a port nothing listens on, and a
TCP proxy in front of a real server that can be stopped and started again (a restart).

Imported as ``tests.integration.tcp_proxy``.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

if TYPE_CHECKING:
    from anyio.abc import SocketStream, TaskStatus

__all__ = ["TcpProxy", "closed_port"]


def closed_port() -> int:
    """A local port nothing listens on (just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TcpProxy:
    """A TCP proxy on a local port in front of the server at ``target_url``.

    Start it with ``await tg.start(proxy.run)``; :meth:`stop` takes the server "away"
    (listener and relayed connections closed), and ``run`` again brings it back on the
    same :attr:`port`. Subclasses say how a client reaches the server through the proxy.

    Args:
        target_url: the real server's URL.
        default_port: the server's port when the URL names none.
    """

    def __init__(self, target_url: str, *, default_port: int) -> None:
        self.target_url = target_url
        """The real server's URL."""
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or default_port)
        self.port = closed_port()
        """The local port the proxy listens on."""
        self._scope = anyio.CancelScope()
        self._stopped = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen (on the same port every time) and relay until :meth:`stop`."""
        self._scope, self._stopped = anyio.CancelScope(), anyio.Event()
        try:
            with self._scope:
                listener = await anyio.create_tcp_listener(
                    local_host="127.0.0.1", local_port=self.port
                )
                async with listener:  # serve() leaves closing the listening socket to us
                    task_status.started()
                    await listener.serve(self._relay)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Close the listener and every relayed connection, and wait until they are."""
        self._scope.cancel()
        await self._stopped.wait()

    async def _relay(self, client: SocketStream) -> None:
        async with client, await anyio.connect_tcp(*self._target) as server:
            async with anyio.create_task_group() as tg:

                async def pump(source: SocketStream, sink: SocketStream) -> None:
                    try:
                        async for chunk in source:
                            await sink.send(chunk)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(pump, client, server)
                tg.start_soon(pump, server, client)
