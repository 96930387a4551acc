"""The read model service: what happened, to whom, and when.

:mod:`~quart_app.read_model.app` is its Quart app (``/stats``, ``/jobs``, ``/events``,
``/dead-letters``, ``/alerts``, the live ``/stream`` and the web dashboard),
:mod:`~quart_app.read_model.live` the live-update fan-out behind ``/stream``,
:mod:`~quart_app.read_model.alerts` and :mod:`~quart_app.read_model.alert_rules` the
alerts it shows (from Alertmanager, or evaluated here), and
:mod:`~quart_app.read_model.service` its supervisor tree.
"""

from __future__ import annotations

from quart_app.read_model.service import ReadModelService

__all__ = ["ReadModelService"]
