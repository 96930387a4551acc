"""Launcher mode: where is the observatory? The read model, a kind cluster, or nowhere."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.cluster import LauncherError, kubectl
from launcher.cluster.kind import CLUSTER_NAME
from launcher.tui.client import ApiUnavailable
from launcher.tui.models import MalformedDocument

if TYPE_CHECKING:
    from launcher.cluster import Runner
    from launcher.tui.client import ObservatoryClient

__all__ = ["Location", "Whereabouts", "locate_observatory"]


class Whereabouts(enum.Enum):
    """What the TUI found at start."""

    READ_MODEL = "read-model"
    """The read model answers: show the dashboard."""
    CLUSTER = "cluster"
    """The kind cluster runs (context present, nodes Ready) but the read model is silent."""
    NOTHING = "nothing"
    """Neither: offer to launch."""


@dataclass(frozen=True, slots=True)
class Location:
    """What was found, and one sentence about it for the launcher screen."""

    where: Whereabouts
    detail: str


async def locate_observatory(client: ObservatoryClient, runner: Runner) -> Location:
    """Ask the read model's ``/health``, then ``kubectl`` about the kind cluster.

    Never raises for an absent observatory or tool: that is what it reports.
    """
    try:
        version = await client.health()
    except (ApiUnavailable, MalformedDocument) as error:
        silent = f"The read model at {client.read_model_url} does not answer ({error})."
    else:
        return Location(Whereabouts.READ_MODEL, f"read model {version} at {client.read_model_url}")
    try:
        if not await kubectl.context_exists(runner):
            return Location(
                Whereabouts.NOTHING, f"{silent} No kubeconfig context {kubectl.CONTEXT!r}."
            )
        nodes = await kubectl.nodes(runner)
    except LauncherError as error:
        return Location(Whereabouts.NOTHING, f"{silent} {error}")
    not_ready = [f"{name} is {status}" for name, status in nodes if status != "Ready"]
    if not nodes or not_ready:
        why = ", ".join(not_ready) or "it has no nodes"
        return Location(Whereabouts.NOTHING, f"{silent} The kind cluster is not ready: {why}.")
    return Location(
        Whereabouts.CLUSTER,
        f"The kind cluster {CLUSTER_NAME!r} is running ({len(nodes)} node(s) Ready), but the read "
        f"model at {client.read_model_url} does not answer: its port-forwards may have stopped.",
    )
