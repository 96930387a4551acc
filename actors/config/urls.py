"""Server URLs: defaults, environment variables, and redaction for logs and errors."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_MONGO_URL",
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_RABBITMQ_URL",
    "DEFAULT_REDIS_URL",
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
