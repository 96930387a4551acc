"""Settings of the services, with the architecture's defaults.

==========================  =========  =================================================
field                       default    what for
==========================  =========  =================================================
``host``                    127.0.0.1  address every HTTP face binds
``gateway_port``            3000       gateway (POST /jobs)
``read_model_port``         8080       read model and web dashboard
``data_dir``                .observatory  embedded stores and the broker's spill file
``prefetch``                256        deliveries a consumer holds at once (= its batch)
``job_timeout_s``           30         a handler running longer fails the job
``publish_timeout_s``       10         gateway answers 503 when the broker takes longer
``max_body_bytes``          65536      gateway answers 413 above this (one job)
``max_batch_jobs``          1000       most jobs in one ``POST /jobs/batch``
==========================  =========  =================================================
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path

from actors._version import VERSION

__all__ = ["Settings"]


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration shared by the service trees; see the module docstring for defaults."""

    host: str = "127.0.0.1"
    gateway_port: int = 3000
    read_model_port: int = 8080
    data_dir: Path = field(default_factory=lambda: Path(".observatory"))
    prefetch: int = 256
    job_timeout_s: float = 30.0
    publish_timeout_s: float = 10.0
    max_body_bytes: int = 64 * 1024
    max_batch_body_bytes: int = 8 * 1024 * 1024
    """Body limit of ``POST /jobs/batch``."""
    max_batch_jobs: int = 1000
    """Most jobs one ``POST /jobs/batch`` may carry."""
    shutdown_s: float = 10.0
    """How long each service may take to drain on a graceful stop before it is cancelled."""
    default_job_duration_s: float = 0.05
    """Simulated duration of a job whose type has no handler."""
    cors_origins: tuple[str, ...] = ("*",)
    """Origins the read model allows; ``*`` for local use."""
    public_gateway_url: str | None = None
    """Gateway URL the dashboard should use; derived from host and port when unset."""
    version: str = VERSION
    instance_id: str = field(default_factory=_instance_id)

    def with_changes(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def gateway_url(self) -> str:
        """Where clients reach the gateway."""
        if self.public_gateway_url:
            return self.public_gateway_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.gateway_port}"
