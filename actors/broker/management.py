"""RabbitMQ's management HTTP API: the queue figures AMQP cannot give.

A passive declare tells a queue's ready messages and consumers, nothing more. The
management plugin (``rabbitmq_management``, port 15672 by default) also knows the
messages delivered and not acknowledged yet, and RabbitMQ's own publish and deliver
rates. One ``GET /api/queues/{vhost}?columns=...`` answers for every queue of the
virtual host.

Its figures are RabbitMQ's statistics as of their last collection
(``collect_statistics_interval``, 5 s by default), so they may lag a passive declare by
that much; a queue declared since has no figures yet (its entry names it and nothing
else, :attr:`QueueFigures.complete` is false).

Resource handling: each :meth:`RabbitMqManagement.queues` call opens its own HTTP
connection and closes it before returning, even when cancelled (``GET /queues`` asks
about once a second at most); the object holds nothing to close.

Error handling: anything short of a good answer (no connection, an error status such as
401 or 404, a body that is not the listing) raises ``BrokerUnavailable`` naming the URL
without its password. Nothing is retried here; timeouts are the caller's (a cancel
scope).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import anyio
import httpx

from actors.config.urls import redact
from actors.errors import BrokerUnavailable

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["QUEUE_COLUMNS", "QueueFigures", "RabbitMqManagement"]

QUEUE_COLUMNS = (
    "name",
    "messages_ready",
    "messages_unacknowledged",
    "consumers",
    "message_stats.publish",
    "message_stats.publish_details.rate",
    "message_stats.deliver_get",
    "message_stats.deliver_get_details.rate",
)
"""What the listing is asked for (``columns=``): the figures below and nothing else, so
the answer stays small on a broker with many queues."""

_DEFAULT_CREDENTIALS = ("guest", "guest")
"""RabbitMQ's default user, as the AMQP client assumes when the URL names none."""

_CLOSE_S = 2.0
"""Bound on closing the HTTP connection (shielded, so a cancelled call still closes it)."""


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One queue of the management API's listing; ``None``: it does not say (yet)."""

    name: str
    """As on RabbitMQ: with the namespace prefix, if any."""
    ready: int | None
    """Messages waiting for a consumer (``messages_ready``)."""
    unacked: int | None
    """Delivered, not acknowledged yet (``messages_unacknowledged``)."""
    consumers: int | None
    publish_per_s: float | None
    """Messages published to it a second (``message_stats.publish_details.rate``); 0.0
    before its first message; ``None`` when RabbitMQ keeps no rates
    (``management.rates_mode = none``)."""
    deliver_per_s: float | None
    """Messages delivered from it a second, acknowledged or not, ``basic.get`` included
    (``message_stats.deliver_get_details.rate``); as ``publish_per_s`` otherwise."""

    @property
    def complete(self) -> bool:
        """Whether RabbitMQ has counted this queue yet (ready, unacked and consumers)."""
        return None not in (self.ready, self.unacked, self.consumers)

    @classmethod
    def from_json(cls, entry: Mapping[str, object]) -> QueueFigures:
        """Read one entry of the listing.

        Raises:
            ValueError: it has no name.
        """
        name = entry.get("name")
        if not isinstance(name, str):
            raise ValueError(f"a queue entry without a name: {str(entry)[:200]}")
        stats = entry.get("message_stats")
        stats = stats if isinstance(stats, dict) else {}
        counted = _count(entry.get("messages_ready")) is not None
        return cls(
            name=name,
            ready=_count(entry.get("messages_ready")),
            unacked=_count(entry.get("messages_unacknowledged")),
            consumers=_count(entry.get("consumers")),
            publish_per_s=_rate(stats, "publish", counted=counted),
            deliver_per_s=_rate(stats, "deliver_get", counted=counted),
        )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rate(stats: Mapping[str, object], key: str, *, counted: bool) -> float | None:
    """A rate of ``message_stats``: ``0.0`` where nothing happened yet, ``None`` unknown.

    RabbitMQ leaves out both the count (``publish``) and its ``publish_details`` until a
    first message; with rates turned off it gives the count without the details.
    """
    details = stats.get(f"{key}_details")
    if isinstance(details, dict):
        rate = details.get("rate")
        if isinstance(rate, int | float) and not isinstance(rate, bool):
            return round(max(0.0, float(rate)), 3)
        return None
    if key in stats or not counted:
        return None
    return 0.0


class RabbitMqManagement:
    """A client of RabbitMQ's management API: the queue listing of one virtual host.

    ============================================  ==========================================
    ``url``                                       asks
    ============================================  ==========================================
    ``http://guest:guest@127.0.0.1:15672/``       ``http://127.0.0.1:15672/api/queues/%2F``
    ``https://u:p@proxy/rabbit/`` (vhost ``ci``)  ``https://proxy/rabbit/api/queues/ci``
    ============================================  ==========================================

    The credentials in ``url`` are sent as HTTP basic auth (RabbitMQ's ``guest`` when it
    names none); no proxy from the environment is used, as for AMQP; ``https`` is
    verified against the system's certificate authorities.
    """

    def __init__(self, url: str, vhost: str = "/") -> None:
        """``url``: where the API answers (its ``/api/`` is appended to its path);
        ``vhost``: the virtual host whose queues are listed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"RabbitMQ's management API URL {redact(url)!r} is not an http(s) URL."
            )
        self._auth = (
            (unquote(parts.username or ""), unquote(parts.password or ""))
            if parts.username is not None
            else _DEFAULT_CREDENTIALS
        )
        netloc = parts.netloc.rpartition("@")[2]
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._listing = f"{base}/api/queues/{quote(vhost, safe='')}"
        self._url = redact(url)
        self.vhost = vhost
        self._tls = ssl.create_default_context()
        """Built once: building one takes milliseconds of CPU, too long for each call."""

    def __repr__(self) -> str:
        return f"<RabbitMqManagement url={self._url} vhost={self.vhost!r}>"

    @property
    def url(self) -> str:
        """The API's URL, password hidden (for logs and errors)."""
        return self._url

    async def queues(self) -> list[QueueFigures]:
        """Every queue of the virtual host, as RabbitMQ's statistics last counted them.

        Raises:
            BrokerUnavailable: no answer, an error status (401: wrong credentials; 404:
                no such virtual host, or no API at that URL), or not a queue listing.

        Cancellation: the HTTP connection is closed (within a bounded shield) and
        nothing else is left behind.
        """
        # One client per call: no connection to keep or close between calls (the TLS
        # context, the costly part, is shared).
        client = httpx.AsyncClient(auth=self._auth, trust_env=False, verify=self._tls)
        try:
            response = await client.get(self._listing, params={"columns": ",".join(QUEUE_COLUMNS)})
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ's management API at {self._url} did not answer: {exc!r}."
            ) from exc
        finally:
            with anyio.move_on_after(_CLOSE_S, shield=True):
                await client.aclose()
        if response.status_code != httpx.codes.OK:
            raise BrokerUnavailable(
                f"RabbitMQ's management API at {self._url} answered "
                f"{response.status_code} {response.reason_phrase} to the queue listing of "
                f"virtual host {self.vhost!r}: {response.text[:200]!r}."
            )
        try:
            listing = response.json()
            if not isinstance(listing, list):
                raise ValueError(f"not a list but {type(listing).__name__}")
            figures = []
            for entry in listing:
                if not isinstance(entry, dict):
                    raise ValueError(f"an entry is not an object: {str(entry)[:200]}")
                figures.append(QueueFigures.from_json(entry))
        except ValueError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ's management API at {self._url} answered something other than "
                f"a queue listing: {exc}."
            ) from exc
        return figures
