"""The bare HTTP app of the ``http_ceiling`` phase, run as a child process.

``python -m launcher.bench.ceiling_app`` serves one route, ``POST /jobs``, on a free port
of 127.0.0.1 with the gateway's own Hypercorn setup (:class:`quart_app._server.HttpServer`,
one worker, uvloop), prints its URL on stdout and serves until SIGTERM. The route parses
the JSON body and answers 202 with a new job id: no validation, no broker, no store, so
the rate the bench's load generator gets from it is the ceiling of one job per request.
"""

from __future__ import annotations

import signal
import sys
import uuid

import anyio
from quart import Quart, request

from quart_app._server import HttpServer

__all__ = ["ceiling_app", "main"]


def ceiling_app() -> Quart:
    """A Quart app answering every ``POST /jobs`` with 202 and a new job id."""
    app = Quart("observatory-bench-ceiling")

    @app.post("/jobs")
    async def submit() -> tuple[dict[str, str], int]:
        await request.get_json(force=True)
        return {"jobId": str(uuid.uuid4()), "status": "PENDING"}, 202

    return app


async def _serve() -> None:
    server = HttpServer(ceiling_app(), "127.0.0.1", 0, name="http-ceiling")
    async with anyio.create_task_group() as tg:
        await tg.start(server.run)
        sys.stdout.write(f"http://127.0.0.1:{server.port}\n")
        sys.stdout.flush()
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                server.request_stop()
                break


def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    anyio.run(_serve, backend_options={"use_uvloop": True})


if __name__ == "__main__":
    main()
