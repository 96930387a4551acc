"""A read-model Quart app with only the common hooks, for testing one route at a time."""

from __future__ import annotations

from quart import Quart

from actors.observability.prometheus import create_registry
from quart_app._common import install_common

__all__ = ["bare_read_model_app"]


def bare_read_model_app() -> Quart:
    """A Quart app as the read model's (its common hooks, always healthy and ready), with
    no route of its own yet: a test installs the one it tests."""
    app = Quart("test")
    install_common(
        app,
        service="read-model",
        version="1.0.0",
        registry=create_registry(),
        health=list,
        ready=lambda: True,
    )
    return app
