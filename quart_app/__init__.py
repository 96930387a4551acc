"""The HTTP services, each with its Quart app and its supervisor tree.

``gateway/`` (jobs in), ``read_model/`` (what happened, the live stream, alerts and the
web dashboard in ``web/``), ``ops`` (the health and metrics face of the processor and
the metrics engine); ``_server`` runs an app on Hypercorn as an actor, ``auth`` checks
tokens, ``openapi`` builds the API documents and ``_common`` holds what every app
installs.
"""
