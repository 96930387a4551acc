"""API tokens and their roles, as configured (the HTTP faces enforce them: quart_app.auth).

Tokens come from ``OBSERVATORY_API_TOKENS`` (or the file named by
``OBSERVATORY_API_TOKENS_FILE``, e.g. a mounted Secret): entries separated by commas or
new lines, each ``role:token``; blank entries and those starting with ``#`` are ignored.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING

from actors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MIN_TOKEN_LENGTH",
    "TOKENS_ENV",
    "TOKENS_FILE_ENV",
    "Role",
    "is_loopback",
    "load_tokens",
    "parse_tokens",
]

TOKENS_ENV = "OBSERVATORY_API_TOKENS"
TOKENS_FILE_ENV = "OBSERVATORY_API_TOKENS_FILE"
MIN_TOKEN_LENGTH = 16


class Role(enum.StrEnum):
    """What a token may do."""

    VIEWER = "viewer"
    SUBMITTER = "submitter"
    ALERTMANAGER = "alertmanager"


def parse_tokens(text: str, *, source: str) -> dict[str, Role]:
    """The tokens in ``text`` (``role:token`` entries), by token.

    Raises:
        ConfigError: an entry has no role, an unknown role, or a token shorter than
            :data:`MIN_TOKEN_LENGTH` characters (the message never shows the token).
    """
    tokens: dict[str, Role] = {}
    entries = [part.strip() for line in text.splitlines() for part in line.split(",")]
    for number, entry in enumerate(entries, start=1):
        if not entry or entry.startswith("#"):
            continue
        role_name, separator, token = entry.partition(":")
        if not separator or not token.strip():
            raise ConfigError(
                f"{source}: entry {number} is not 'role:token' (roles: "
                f"{', '.join(r.value for r in Role)})."
            )
        try:
            role = Role(role_name.strip().lower())
        except ValueError:
            raise ConfigError(
                f"{source}: entry {number} names the unknown role {role_name.strip()!r}; "
                f"use one of {', '.join(r.value for r in Role)}."
            ) from None
        token = token.strip()
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"{source}: the {role.value} token of entry {number} is shorter than "
                f"{MIN_TOKEN_LENGTH} characters; use a long random one "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        tokens[token] = role
    return tokens


def load_tokens(env: Mapping[str, str] | None = None) -> dict[str, Role]:
    """Tokens from ``OBSERVATORY_API_TOKENS`` and the file ``OBSERVATORY_API_TOKENS_FILE``.

    Raises:
        ConfigError: the file cannot be read, or an entry is malformed.
    """
    env = os.environ if env is None else env
    tokens = parse_tokens(env.get(TOKENS_ENV, ""), source=TOKENS_ENV)
    if path := env.get(TOKENS_FILE_ENV):
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(
                f"{TOKENS_FILE_ENV}={path}: cannot read it ({exc.strerror})."
            ) from exc
        tokens.update(parse_tokens(text, source=path))
    return tokens


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
