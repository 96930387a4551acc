"""Server URLs: defaults, environment variables, and redaction for logs and errors."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_MONGO_URL",
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_RABBITMQ_URL",
    "DEFAULT_REDIS_URL",
    "rabbitmq_management_url",
    "rabbitmq_vhost",
    "redact",
    "url_from_env",
]

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017/observatory"


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe for logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_from_env(variable: str, default: str) -> str:
    """The URL in environment variable ``variable``, or ``default`` when unset or empty."""
    return os.environ.get(variable) or default


_MANAGEMENT_PORTS = {"amqp": ("http", 15672), "amqps": ("https", 15671)}
"""The management plugin's listener for each AMQP scheme (RabbitMQ's defaults)."""


def rabbitmq_management_url(amqp_url: str, configured: str | None = None) -> str:
    """Where RabbitMQ's management API answers, with the credentials to use there.

    =====================================  ============================================
    ``configured``                         result (``amqp_url`` = ``amqp://u:p@rabbit/``)
    =====================================  ============================================
    ``None`` or empty                      ``http://u:p@rabbit:15672/`` (``amqps``:
                                           ``https``, port 15671)
    ``http://rabbit:15672/``               ``http://u:p@rabbit:15672/`` (the AMQP
                                           URL's credentials)
    ``http://admin:s3@mgmt:8080/rabbit/``  as given: its own credentials, and the API
                                           under ``/rabbit/api/``
    =====================================  ============================================

    The virtual host is never part of this URL: it is the AMQP URL's
    (:func:`rabbitmq_vhost`).
    """
    amqp = urlsplit(amqp_url)
    userinfo = amqp.netloc.rpartition("@")[0] if "@" in amqp.netloc else ""
    if configured:
        parts = urlsplit(configured)
        if "@" in parts.netloc or not userinfo:
            return configured
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
    scheme, port = _MANAGEMENT_PORTS.get(amqp.scheme, ("http", 15672))
    host = amqp.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((scheme, netloc, "/", "", ""))


def rabbitmq_vhost(amqp_url: str) -> str:
    """The virtual host an AMQP URL names: its path without the leading ``/``, decoded
    (``amqp://rabbit/`` and ``amqp://rabbit`` name the default, ``/``; ``/%2F`` is ``/``
    too; ``/staging`` is ``staging``)."""
    return unquote(urlsplit(amqp_url).path[1:]) or "/"
