"""A read-model Quart app with only the common hooks, for testing one route at a time."""

from __future__ import annotations

from quart import Quart

from actors.observability.prometheus import create_registry
from quart_app._common import install_common

__all__ = ["bare_read_model_app"]


def bare_read_model_app(app: Quart | None = None) -> Quart:
    """A Quart app as the read model's (its common hooks, always healthy and ready), with
    no route of its own yet: a test installs the one it tests. ``app``: install the hooks
    into this one (a test that registered hooks of its own first)."""
    app = Quart("test") if app is None else app
    install_common(
        app,
        service="read-model",
        version="1.0.0",
        registry=create_registry(),
        health=list,
        ready=lambda: True,
    )
    return app
