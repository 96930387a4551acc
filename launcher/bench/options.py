"""What a bench run measures and against what: :class:`BenchOptions`, :class:`BenchMode`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.config.urls import DEFAULT_POSTGRES_URL, DEFAULT_RABBITMQ_URL, DEFAULT_REDIS_URL

if TYPE_CHECKING:
    from pathlib import Path

    from launcher.bench.report import Phase

__all__ = ["MAX_BATCH_SIZE", "BenchMode", "BenchOptions"]

MAX_BATCH_SIZE = 1000
"""Most jobs the gateway takes in one ``POST /jobs/batch`` (its default limit)."""


class BenchMode(enum.StrEnum):
    """What the HTTP phases run against."""

    EMBEDDED = "embedded"
    """``observatory up`` started by the bench in a temporary directory."""
    LOCAL = "local"
    """``observatory up --infra local`` started by the bench on its own namespace."""
    EXTERNAL = "external"
    """A running system named by ``--gateway-url`` and ``--read-model-url``."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What to measure and against what; see ``observatory bench --help``."""

    mode: BenchMode = BenchMode.EMBEDDED
    gateway_url: str | None = None
    """With ``read_model_url``: the running system of :attr:`BenchMode.EXTERNAL`."""
    read_model_url: str | None = None
    processors: int = 1
    """Processor processes of :attr:`BenchMode.LOCAL` (``up --processors``)."""
    jobs: int = 20_000
    concurrency: int = 64
    batch_size: int = MAX_BATCH_SIZE
    skip: frozenset[Phase] = frozenset()
    rabbitmq_url: str = DEFAULT_RABBITMQ_URL
    """RabbitMQ of the in-process phases (and of ``--mode local``)."""
    postgres_url: str = DEFAULT_POSTGRES_URL
    """PostgreSQL of the processor phase (and of ``--mode local``)."""
    redis_url: str = DEFAULT_REDIS_URL
    """Redis of ``--mode local``."""
    mongo_url: str | None = None
    """MongoDB of ``--mode local``; ``None`` starts the nx-27017 stand-in."""
    work_dir: Path | None = None
    """Where the embedded system and the in-process stores live; ``None``: a temp dir."""

    @property
    def phase_deadline_s(self) -> float:
        """How long any one phase may take: ``max(60, jobs / 100)`` seconds."""
        return max(60.0, self.jobs / 100)
