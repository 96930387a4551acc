"""The OpenAPI documents the gateway and the read model serve, without running them.

The fuzz modules list their operations when pytest collects them, before any app runs:
these build each service (its routes are not called, so neither its broker nor its
stores are used) and return the document its app serves at ``/openapi.json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from actors.broker.memory import MemoryBroker
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.stores.memory import MemoryCounters
from quart_app.gateway.service import GatewayService
from quart_app.openapi import openapi_document
from quart_app.read_model.service import ReadModelService

if TYPE_CHECKING:
    from actors.config.settings import Settings
    from actors.stores import DeadLetterStore, EventStore, JobStore


class _Unused:
    """A store nothing may call: building an app never reads its stores."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"Building the app called the store's {name!r}.")


def gateway_document(settings: Settings) -> dict[str, object]:
    """The gateway's document with ``settings``."""
    service = GatewayService(MemoryBroker(), settings, handlers=DEFAULT_REGISTRY)
    return openapi_document(service.http.app)


def read_model_document(settings: Settings) -> dict[str, object]:
    """The read model's document with ``settings``."""
    service = ReadModelService(
        cast("JobStore", _Unused()),
        cast("EventStore", _Unused()),
        cast("DeadLetterStore", _Unused()),
        MemoryCounters(),
        settings,
        handlers=DEFAULT_REGISTRY,
    )
    return openapi_document(service.http.app)
