"""How a service is configured: settings and their defaults (:mod:`~actors.config.settings`),
server URLs and their redaction in logs (:mod:`~actors.config.urls`), and API tokens
with their roles (:mod:`~actors.config.tokens`)."""
