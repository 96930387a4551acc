"""The operational HTTP face of services without an API of their own.

The processor (port 8001) and the metrics engine (port 8002) answer ``/healthz``
(readiness: dependencies connected and every actor running), ``/readyz`` (liveness) and
``/metrics`` here, plus ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Quart

from quart_app._common import install_common
from quart_app.openapi import install_docs

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from actors.kernel import ActorHealth

__all__ = ["create_ops_app"]


def create_ops_app(
    service: str,
    version: str,
    *,
    registry: CollectorRegistry,
    health: Callable[[], list[ActorHealth]],
    ready: Callable[[], bool],
    handler_types: Callable[[], list[str]] | None = None,
) -> Quart:
    """Build the operational app of ``service`` (``handler_types``: see ``install_common``)."""
    app = Quart(service)
    install_common(
        app,
        service=service,
        version=version,
        registry=registry,
        health=health,
        ready=ready,
        handler_types=handler_types,
    )
    install_docs(
        app,
        title=f"Task Observatory {service}",
        version=version,
        description=f"Health and metrics of the {service}.",
        secured=False,
        contract_schemas=False,
    )
    return app
