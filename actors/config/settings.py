"""Settings of the services, with the architecture's defaults.

===========================  =========  =================================================
field                        default    what for
===========================  =========  =================================================
``host``                     127.0.0.1  address every HTTP face binds
``gateway_port``             3000       gateway (POST /jobs)
``read_model_port``          8080       read model and web dashboard
``data_dir``                 .observatory  embedded stores and the broker's spill file
``prefetch``                 256        deliveries a consumer holds at once (= its batch)
``job_timeout_s``            30         a handler running longer fails the job
``publish_timeout_s``        10         gateway answers 503 when the broker takes longer
``max_body_bytes``           65536      gateway answers 413 above this (one job)
``max_batch_jobs``           1000       most jobs in one ``POST /jobs/batch``
``max_attempts``             3          attempts of a job whose type and metadata say none
``retry_backoff_s``          1          wait after a first failed attempt (then x5, at most 30 s)
``threads``                  10         worker threads for plain ``def`` handlers, per processor
``shutdown_grace_s``         10         on a graceful stop, how long running handlers may finish
``simulate_unknown_types``   False      complete jobs of unknown types after a simulated delay
``retain_days``              30         terminal jobs, their events and dead letters kept
``prune_interval_s``         3600       how often the pruner looks for what to delete
``heartbeat_s``              5          each processor's and metrics engine's heartbeat (``GET /workers``)
``rabbitmq_management_url``  derived    RabbitMQ's management API (``GET /queues``): the AMQP
                                        URL's host, port 15672, its credentials; or ``off``
===========================  =========  =================================================
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from actors._version import VERSION
from actors.config.tokens import load_tokens
from actors.config.urls import (
    DEFAULT_MONGO_URL,
    DEFAULT_POSTGRES_URL,
    DEFAULT_RABBITMQ_URL,
    DEFAULT_REDIS_URL,
    rabbitmq_management_url,
    url_from_env,
)
from actors.domain.attempts import Backoff
from actors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Settings"]


_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration shared by the service trees; see the module docstring for defaults."""

    host: str = "127.0.0.1"
    gateway_port: int = 3000
    read_model_port: int = 8080
    processor_port: int = 8001
    """Processor's /healthz, /readyz and /metrics (``observatory serve processor``)."""
    metrics_engine_port: int = 8002
    """Metrics engine's /healthz, /readyz and /metrics."""
    rabbitmq_url: str = DEFAULT_RABBITMQ_URL
    postgres_url: str = DEFAULT_POSTGRES_URL
    redis_url: str = DEFAULT_REDIS_URL
    mongo_url: str = DEFAULT_MONGO_URL
    rabbitmq_management_url: str | None = None
    """RabbitMQ's management API, which ``GET /queues`` asks for unacked messages and
    rates (``OBSERVATORY_RABBITMQ_MANAGEMENT_URL``, ``--rabbitmq-management-url``).
    ``None``: derived from ``rabbitmq_url`` (same host, port 15672, same credentials);
    a URL without credentials gets ``rabbitmq_url``'s; ``off``: never asked (passive
    declares only). See :attr:`management_url`."""
    namespace: str = ""
    """Isolates one observatory from others on the same servers: prefixes queue names and
    Redis keys, and names the PostgreSQL schema and MongoDB database. Empty: the defaults."""
    data_dir: Path = field(default_factory=lambda: Path(".observatory"))
    prefetch: int = 256
    job_timeout_s: float = 30.0
    publish_timeout_s: float = 10.0
    max_body_bytes: int = 64 * 1024
    max_batch_body_bytes: int = 8 * 1024 * 1024
    """Body limit of ``POST /jobs/batch``."""
    max_job_type_labels: int = 50
    """Distinct job types beyond the registered ones that get their own metric label;
    the rest are counted as ``other``, so clients cannot blow up the series."""
    max_batch_jobs: int = 1000
    """Most jobs one ``POST /jobs/batch`` may carry."""
    shutdown_s: float = 10.0
    """How long each service may take to drain on a graceful stop before it is cancelled."""
    shutdown_grace_s: float = 10.0
    """On a graceful stop, how long the processor lets running handlers finish (it takes
    no new jobs meanwhile); those still running then are interrupted: cancelled, their
    attempt given back (not counted against ``maxAttempts``) and their job returned to
    the queue, to run again after the restart (``--shutdown-grace``)."""
    max_attempts: int = 3
    """Attempts of a job whose type and metadata set none (see :mod:`actors.domain.attempts`)."""
    retry_backoff_s: float = 1.0
    """Wait after a job's first failed attempt; each further wait is
    ``retry_backoff_factor`` times longer, up to ``retry_backoff_max_s``."""
    retry_backoff_factor: float = 5.0
    retry_backoff_max_s: float = 30.0
    default_job_duration_s: float = 0.05
    """Simulated duration of a job whose type has no handler (with ``simulate_unknown_types``)."""
    simulate_unknown_types: bool = False
    """Complete a job whose type no handler serves after ``default_job_duration_s``
    (``--demo``, ``--simulate-unknown-types``); otherwise it fails with
    ``no handler for type 'X'`` and the gateway refuses it when it knows the handlers."""
    threads: int = 10
    """Most plain-``def`` handlers one processor runs at once (each in a worker thread)."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the APIs from another origin (CORS). Empty: pages
    served from this machine (``http://127.0.0.1``, ``localhost``, ``[::1]``, any port)
    and, on the read model, ``null`` (the launcher page opened from disk)."""
    api_tokens: Mapping[str, str] = field(default_factory=dict)
    """Bearer tokens (token → role: viewer, submitter, alertmanager); empty: no
    authentication (allowed on loopback addresses only, unless ``insecure``)."""
    insecure: bool = False
    """Serve on a non-loopback address without tokens (``--insecure``)."""
    rate_limit_per_s: float = 2000.0
    """Jobs a second one client (token, else address) may submit; 0 turns the limit off."""
    rate_limit_burst: float = 4000.0
    """Jobs a client may submit at once before the rate applies (a full batch is 1,000)."""
    max_json_depth: int = 32
    """Deepest nesting of arrays and objects accepted in a request body."""
    max_stream_clients: int = 100
    """Most clients the read model's live stream serves at once; more get 503."""
    live_interval_s: float = 1.0
    """How often the read model looks for changes to push to stream clients."""
    retain_days: float = 30.0
    """Retention: terminal jobs that finished longer ago (with their events) and dead
    letters that old are pruned (:mod:`actors.retention`); 0 prunes every terminal job."""
    prune_interval_s: float = 3600.0
    """How often the pruner runs a retention pass."""
    public_gateway_url: str | None = None
    """Gateway URL the dashboard should use; derived from host and port when unset."""
    trace_url: str | None = None
    """A trace viewer's URL with ``{traceId}`` in it (``OBSERVATORY_TRACE_URL``, e.g.
    Jaeger's ``http://localhost:16686/trace/{traceId}``): the dashboard's job drawer
    links a job's trace there."""
    heartbeat_s: float = 5.0
    """How often each processor and metrics engine writes its heartbeat
    (``OBSERVATORY_HEARTBEAT_S``); the read model calls a worker gone after three
    intervals without one."""
    workers_keep_s: float = 3600.0
    """How long ``GET /workers`` keeps listing a worker that is gone."""
    version: str = VERSION
    instance_id: str = field(default_factory=_instance_id)

    def with_changes(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings with the server URLs from ``RABBITMQ_URL``, ``POSTGRES_URL``,
        ``REDIS_URL``, ``MONGO_URL``, the namespace from ``OBSERVATORY_NAMESPACE``, the
        gateway's public URL (what the dashboard submits to) from ``OBSERVATORY_GATEWAY_URL``,
        the retry policy from ``OBSERVATORY_MAX_ATTEMPTS`` and
        ``OBSERVATORY_RETRY_BACKOFF_S`` when set, RabbitMQ's management API from
        ``OBSERVATORY_RABBITMQ_MANAGEMENT_URL``, the API tokens (``OBSERVATORY_API_TOKENS``
        or the file ``OBSERVATORY_API_TOKENS_FILE``), the CORS origins
        (``OBSERVATORY_CORS_ORIGINS``, comma-separated) and the submission rate limit
        (``OBSERVATORY_RATE_LIMIT`` jobs a second per client, 0 for none, and
        ``OBSERVATORY_RATE_BURST``), the worker threads (``OBSERVATORY_THREADS``), the
        processor's stop grace (``OBSERVATORY_SHUTDOWN_GRACE_S``), the heartbeat interval
        (``OBSERVATORY_HEARTBEAT_S``), ``OBSERVATORY_SIMULATE_UNKNOWN_TYPES`` (``1``, ``true``
        or ``yes``) and the retention (``OBSERVATORY_RETAIN_DAYS``,
        ``OBSERVATORY_PRUNE_INTERVAL_S``).

        Raises:
            ConfigError: a numeric variable is not a number, or a token entry is malformed.
        """
        retry: dict[str, object] = {}
        for variable, name, kind in (
            ("OBSERVATORY_MAX_ATTEMPTS", "max_attempts", int),
            ("OBSERVATORY_RETRY_BACKOFF_S", "retry_backoff_s", float),
            ("OBSERVATORY_RATE_LIMIT", "rate_limit_per_s", float),
            ("OBSERVATORY_RATE_BURST", "rate_limit_burst", float),
            ("OBSERVATORY_THREADS", "threads", int),
            ("OBSERVATORY_SHUTDOWN_GRACE_S", "shutdown_grace_s", float),
            ("OBSERVATORY_RETAIN_DAYS", "retain_days", float),
            ("OBSERVATORY_PRUNE_INTERVAL_S", "prune_interval_s", float),
            ("OBSERVATORY_HEARTBEAT_S", "heartbeat_s", float),
        ):
            raw = os.environ.get(variable, "").strip()
            if raw:
                try:
                    retry[name] = kind(raw)
                except ValueError:
                    raise ConfigError(
                        f"{variable}={raw!r} is not a valid {kind.__name__}."
                    ) from None
        settings = cls(
            rabbitmq_url=url_from_env("RABBITMQ_URL", DEFAULT_RABBITMQ_URL),
            postgres_url=url_from_env("POSTGRES_URL", DEFAULT_POSTGRES_URL),
            redis_url=url_from_env("REDIS_URL", DEFAULT_REDIS_URL),
            mongo_url=url_from_env("MONGO_URL", DEFAULT_MONGO_URL),
            rabbitmq_management_url=os.environ.get(
                "OBSERVATORY_RABBITMQ_MANAGEMENT_URL", ""
            ).strip()
            or None,
            namespace=url_from_env("OBSERVATORY_NAMESPACE", ""),
            public_gateway_url=url_from_env("OBSERVATORY_GATEWAY_URL", "") or None,
            trace_url=os.environ.get("OBSERVATORY_TRACE_URL", "").strip() or None,
            api_tokens={token: role.value for token, role in load_tokens().items()},
            cors_origins=tuple(
                origin.strip()
                for origin in os.environ.get("OBSERVATORY_CORS_ORIGINS", "").split(",")
                if origin.strip()
            ),
        )
        simulate = os.environ.get("OBSERVATORY_SIMULATE_UNKNOWN_TYPES", "").strip().lower()
        if simulate:
            if simulate not in _BOOLEANS:
                raise ConfigError(
                    f"OBSERVATORY_SIMULATE_UNKNOWN_TYPES={simulate!r} is not one of "
                    f"{', '.join(sorted(_BOOLEANS))}."
                )
            retry["simulate_unknown_types"] = _BOOLEANS[simulate]
        if retry:
            settings = settings.with_changes(**retry)
        if settings.heartbeat_s <= 0:
            raise ConfigError(
                f"OBSERVATORY_HEARTBEAT_S must be positive, not {settings.heartbeat_s}."
            )
        if settings.threads < 1:
            raise ConfigError(f"OBSERVATORY_THREADS must be at least 1, not {settings.threads}.")
        if settings.shutdown_grace_s < 0:
            raise ConfigError(
                "OBSERVATORY_SHUTDOWN_GRACE_S must be 0 or more seconds, "
                f"not {settings.shutdown_grace_s:g}."
            )
        if settings.retain_days < 0:
            raise ConfigError(
                f"OBSERVATORY_RETAIN_DAYS must not be negative, not {settings.retain_days}."
            )
        if settings.prune_interval_s <= 0:
            raise ConfigError(
                "OBSERVATORY_PRUNE_INTERVAL_S must be more than 0, not "
                f"{settings.prune_interval_s}."
            )
        return settings.with_changes(**overrides) if overrides else settings

    @property
    def backoff(self) -> Backoff:
        """The retry backoff these settings describe."""
        return Backoff(self.retry_backoff_s, self.retry_backoff_factor, self.retry_backoff_max_s)

    @property
    def postgres_schema(self) -> str:
        """The PostgreSQL schema of this namespace."""
        return self.namespace.replace("-", "_").strip("_.:") or "public"

    @property
    def management_url(self) -> str | None:
        """Where ``GET /queues`` asks RabbitMQ's management API, credentials included
        (:func:`~actors.config.urls.rabbitmq_management_url`); ``None`` when ``off``."""
        configured = self.rabbitmq_management_url
        if configured is not None and configured.strip().lower() == "off":
            return None
        return rabbitmq_management_url(self.rabbitmq_url, configured)

    @property
    def mongo_database(self) -> str:
        """The MongoDB database of this namespace."""
        return self.namespace.strip("_.:-") or "observatory"

    @property
    def queue_namespace(self) -> str:
        """Prefix of this namespace's queue names."""
        return f"{self.namespace.strip('.')}." if self.namespace else ""

    @property
    def redis_prefix(self) -> str:
        """Prefix of this namespace's Redis keys."""
        return f"observatory:{self.namespace.strip(':')}:" if self.namespace else "observatory:"

    @property
    def gateway_url(self) -> str:
        """Where clients reach the gateway."""
        if self.public_gateway_url:
            return self.public_gateway_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.gateway_port}"
