"""Bearer tokens and roles for both HTTP faces, and the per-client rate limit.

Tokens come from ``OBSERVATORY_API_TOKENS`` (or the file named by
``OBSERVATORY_API_TOKENS_FILE``, e.g. a mounted Secret): entries separated by commas or
new lines, each ``role:token``; blank lines and lines starting with ``#`` are ignored.
Roles:

- ``viewer`` may read (every ``GET``, the live stream included);
- ``submitter`` may read, submit jobs, cancel and retry them, and requeue, discard or
  probe dead letters;
- ``alertmanager`` may only deliver alerts (``POST /webhooks/alertmanager``).

Without tokens every request is allowed (``observatory up`` on a loopback address says so
when it starts, and refuses a non-loopback address unless told ``--insecure``). Health,
readiness, metrics, the API documents and the dashboard's static files stay open: they
carry no job data. A token is compared with every configured token in constant time and
is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import quart_cors
from quart import Quart, Response, g, request

from actors.config.tokens import Role
from actors.errors import ConfigError
from quart_app._common import json_error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "OPEN_PATHS",
    "OPEN_PREFIXES",
    "TokenBook",
    "TokenBucket",
    "allowed",
    "client_key",
    "origin_allowed",
    "retry_after",
    "secure",
]

OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/health",
        "/docs",
        "/openapi.json",
        "/",
        "/launcher.html",
        "/runbooks",
    }
)
"""Paths anyone may request: probes, metrics, API documents, the dashboard shell."""
OPEN_PREFIXES = ("/static/", "/docs/")
"""Path prefixes anyone may request: the dashboard's and the API page's static files."""


@dataclass(frozen=True, slots=True)
class TokenBook:
    """The configured tokens; empty means authentication is off."""

    tokens: Mapping[str, Role]

    @classmethod
    def of(cls, tokens: Mapping[str, str]) -> TokenBook:
        """The book of ``tokens`` (token → role name, as in :class:`Settings`)."""
        return cls({token: Role(role) for token, role in tokens.items()})

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def role_of(self, presented: str) -> Role | None:
        """The role of ``presented``, comparing it with every token in constant time."""
        found: Role | None = None
        candidate = presented.encode()
        for token, role in self.tokens.items():
            if hmac.compare_digest(candidate, token.encode()):
                found = role
        return found


def allowed(role: Role, method: str, path: str) -> bool:
    """Whether ``role`` may ``method`` ``path`` (``path`` is the route, not the raw URL)."""
    if role is Role.ALERTMANAGER:
        return method == "POST" and path == "/webhooks/alertmanager"
    if method in ("GET", "HEAD", "OPTIONS"):
        return True
    if path == "/webhooks/alertmanager":
        return False  # only Alertmanager's token delivers alerts
    return role is Role.SUBMITTER


class TokenBucket:
    """Per-client token buckets: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1.")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str, cost: float = 1.0) -> float:
        """Spend ``cost`` from ``client``'s bucket: 0 when allowed, else seconds to wait.

        A cost above the burst can never be paid at once: ``math.inf`` (send less at a
        time).
        """
        if cost > self.burst:
            return math.inf
        now = self._clock()
        level, then = self._buckets.get(client, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.rate)
        if cost <= level:
            self._remember(client, (level - cost, now))
            return 0.0
        self._remember(client, (level, now))
        return max((cost - level) / self.rate, 1.0 / self.rate)

    def _remember(self, client: str, state: tuple[float, float]) -> None:
        if client not in self._buckets and len(self._buckets) >= self._max_clients:
            # Forget full buckets first: they hold no debt.
            now = self._clock()
            for key, (level, then) in list(self._buckets.items()):
                if level + (now - then) * self.rate >= self.burst:
                    del self._buckets[key]
            if len(self._buckets) >= self._max_clients:
                self._buckets.pop(next(iter(self._buckets)))
        self._buckets[client] = state


def client_key(token: str | None, address: str | None) -> str:
    """Who a request comes from, for the rate limit: its token (hashed: tokens are never
    kept in the clear beyond the configuration) or else its address."""
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"address:{address or 'unknown'}"


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


LOOPBACK_ORIGIN = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$")
"""Pages served from this machine, on any port: the default CORS allow-list."""


def origin_allowed(origin: str, allowed_origins: Sequence[str], *, allow_null: bool) -> bool:
    """Whether a browser page at ``origin`` may call the API (CORS)."""
    if origin == "null":
        return allow_null
    if allowed_origins:
        return origin in allowed_origins
    return LOOPBACK_ORIGIN.match(origin) is not None


def secure(
    app: Quart,
    *,
    tokens: Mapping[str, str],
    cors_origins: Sequence[str],
    allow_null_origin: bool,
) -> Quart:
    """Authenticate and authorize every request of ``app``, and answer CORS for it.

    Call it last, after every route is added. ``cors_origins`` empty: pages from this
    machine only (and ``null``, the file:// launcher page, when ``allow_null_origin``).

    Raises:
        ConfigError: ``*`` is asked for together with tokens (a page from anywhere could
            then use a token the browser holds).
    """
    book = TokenBook.of(tokens)
    if "*" in cors_origins and book.enabled:
        raise ConfigError(
            "OBSERVATORY_CORS_ORIGINS=* cannot go with API tokens; list the dashboard's "
            "origins instead."
        )
    explicit = [o for o in cors_origins if o != "*"]

    @app.before_request
    async def _authenticate() -> tuple[Response, int] | None:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS":
            if (
                origin
                and "*" not in cors_origins
                and not origin_allowed(origin, explicit, allow_null=allow_null_origin)
            ):
                return json_error(403, f"Origin {origin!r} is not allowed to call this API.")
            return None  # the CORS layer answers the preflight
        path = request.path
        if not book.enabled or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return None
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            response, status = json_error(
                401, "This API needs a token: send 'Authorization: Bearer <token>'."
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="observatory"'
            return response, status
        role = book.role_of(presented.strip())
        if role is None:
            response, status = json_error(401, "The token is not valid.")
            response.headers["WWW-Authenticate"] = (
                'Bearer realm="observatory", error="invalid_token"'
            )
            return response, status
        route = request.url_rule.rule if request.url_rule is not None else path
        if not allowed(role, request.method, route):
            return json_error(403, f"A {role.value} token may not {request.method} {route}.")
        g.token = presented.strip()
        g.role = role.value
        return None

    if "*" in cors_origins:
        allow: object = "*"
    elif explicit:
        allow = [*explicit, *(["null"] if allow_null_origin else [])]
    else:
        allow = [LOOPBACK_ORIGIN, *(["null"] if allow_null_origin else [])]
    return quart_cors.cors(
        app,
        allow_origin=allow,  # type: ignore[arg-type]
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "X-Correlation-Id"],
        expose_headers=["X-Correlation-Id", "Retry-After", "X-Next-Cursor"],
        allow_credentials=False,
        max_age=600,
    )
