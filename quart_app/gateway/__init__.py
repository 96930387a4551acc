"""The gateway service: where jobs come in.

:mod:`~quart_app.gateway.app` is its Quart app (``POST /jobs``, ``/jobs/batch``, probes),
:mod:`~quart_app.gateway.cancel` the ``DELETE /jobs/{id}`` route,
:mod:`~quart_app.gateway.retry` the retry of FAILED jobs (``POST /jobs/{id}/retry``,
``POST /jobs/retry``),
:mod:`~quart_app.gateway.requeue` the dead-letter requeue and discard routes, and
:mod:`~quart_app.gateway.service` its supervisor tree (the HTTP face and the publisher
it feeds).
"""

from __future__ import annotations

from quart_app.gateway.service import GatewayService

__all__ = ["GatewayService"]
