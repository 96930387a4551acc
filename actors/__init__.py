"""Task Observatory runtime: the actor kernel, the domain, the adapters and the services
that run without HTTP (processor, metrics engine).

==================  ==========================================================
subpackage          what lives there
==================  ==========================================================
``kernel``          actors, supervisors, service trees, connections to servers
``domain``          jobs, events, attempts, handlers, counting rules, dead letters
``config``          settings, server URLs, API tokens
``observability``   structured logs and Prometheus metrics
``broker``          the message broker behind one interface: in-process and RabbitMQ
``stores``          job, event, dead-letter and counter stores: SQLite, PostgreSQL,
                    Redis, MongoDB and in-memory
``pipeline``        plumbing between broker and actors: ingress, admission,
                    publisher, settlement
``processor``       the processor service's tree
``metrics_engine``  the metrics engine service's tree
==================  ==========================================================

Layers (enforced by import-linter, ``[tool.importlinter]`` in ``pyproject.toml``):
``contracts`` ← ``actors`` ← ``quart_app`` ← ``launcher``; this package imports nothing
above it.
"""

from __future__ import annotations

from actors._version import VERSION

__all__ = ["VERSION"]
