"""``observatory cluster up|down|status``: the observatory on a local kind cluster.

One module per external tool (:mod:`.docker`, :mod:`.kind`, :mod:`.kubectl`), every call
through an injectable :class:`~launcher.cluster._run.Runner`; :mod:`._steps` runs the nine
steps of ``up`` and reports each one to an observer.
"""

from __future__ import annotations

from launcher.cluster._errors import LauncherError
from launcher.cluster._run import CompletedCommand, ProcessRunner, Runner
from launcher.cluster._steps import (
    STEPS,
    ClusterOptions,
    StepEvent,
    cluster_down,
    cluster_status,
    cluster_up,
)

__all__ = [
    "STEPS",
    "ClusterOptions",
    "CompletedCommand",
    "LauncherError",
    "ProcessRunner",
    "Runner",
    "StepEvent",
    "cluster_down",
    "cluster_status",
    "cluster_up",
]
