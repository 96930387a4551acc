"""How the TUI runs: where to look, what it may change, and its clocks (tests set them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from actors.config.settings import Settings
from launcher.cluster import ProcessRunner
from launcher.cluster._state import default_state_path
from launcher.tui.client import read_model_url_from_env
from launcher.tui.tailing_runner import TailingRunner

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from launcher.cluster import Runner

__all__ = ["TuiOptions"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _default_gateway_port() -> int:
    return Settings().gateway_port


@dataclass(slots=True)
class TuiOptions:
    """Everything the TUI needs from outside; every field has a working default.

    ========================  =============================================================
    ``read_model_url``        where the dashboard reads (``$READ_MODEL_URL``)
    ``read_only``             write keys refused and not offered: N, T, U/E/X, L/E/F, P/R
    ``poll_interval_s``       seconds between polls without a live stream (2-5 s)
    ``spinner_tick_s``        splash animation period; ``None`` holds the first frame
    ``runner``                how ``kubectl`` is run to detect the cluster
    ``launch_runner``         makes the runner of ``cluster up``'s steps (output to screen)
    ``clock``                 monotonic seconds (elapsed times, throughput estimates)
    ``now``                   the wall clock, UTC (how far off a schedule's next run is)
    ========================  =============================================================
    """

    read_model_url: str = field(default_factory=read_model_url_from_env)
    gateway_url: str | None = None
    read_only: bool = False
    poll_interval_s: float = 3.0
    spinner_tick_s: float | None = 0.1
    runner: Runner = field(default_factory=ProcessRunner)
    launch_runner: Callable[[Callable[[str], None]], Runner] = TailingRunner
    """Makes the runner of L's steps from a callback that takes each line of output."""
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=_utc_now)
    state_path: Path = field(default_factory=default_state_path)
    data_dir: Path = field(default_factory=lambda: Settings().data_dir)
    """Where ``E`` keeps the embedded observatory's stores."""
    embedded_gateway_port: int = field(default_factory=_default_gateway_port)

    @property
    def embedded_read_model_port(self) -> int:
        """The port of :attr:`read_model_url`, so E starts the read model where we look."""
        parts = urlsplit(self.read_model_url)
        return parts.port or (443 if parts.scheme == "https" else 80)
