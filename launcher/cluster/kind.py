"""The ``kind`` calls of the cluster launcher."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launcher.cluster._run import CompletedCommand, Runner

__all__ = [
    "CLUSTER_CONFIG",
    "CLUSTER_NAME",
    "cluster_exists",
    "create_cluster",
    "delete_cluster",
    "load_image",
]

CLUSTER_NAME = "task-observatory"
CLUSTER_CONFIG = "manifests/overlays/kind/kind-cluster.yaml"


async def cluster_exists(runner: Runner) -> bool:
    """Whether ``kind get clusters`` lists ours."""
    result = await runner.run(
        ["kind", "get", "clusters"],
        timeout_s=60.0,
        hint="Check that kind works: `kind get clusters` should list clusters or print none.",
    )
    return CLUSTER_NAME in result.stdout.split()


async def create_cluster(runner: Runner) -> CompletedCommand:
    """``kind create cluster`` with the project's kind config."""
    return await runner.run(
        ["kind", "create", "cluster", "--name", CLUSTER_NAME, "--config", CLUSTER_CONFIG],
        timeout_s=600.0,
        hint=(
            f"Read kind's message; if a half-created cluster is left over, remove it with "
            f"`observatory cluster down` (or `kind delete cluster --name {CLUSTER_NAME}`) and "
            f"run `observatory cluster up` again."
        ),
    )


async def load_image(runner: Runner, image: str) -> CompletedCommand:
    """``kind load docker-image`` so the nodes have ``image`` without a registry."""
    return await runner.run(
        ["kind", "load", "docker-image", image, "--name", CLUSTER_NAME],
        timeout_s=600.0,
        hint=(
            f"Check that the image exists (`docker image inspect {image}`); with --skip-build "
            f"it must have been built before, so run without --skip-build."
        ),
    )


async def delete_cluster(runner: Runner) -> CompletedCommand:
    """``kind delete cluster`` (succeeds when there is none)."""
    return await runner.run(
        ["kind", "delete", "cluster", "--name", CLUSTER_NAME],
        timeout_s=300.0,
        hint="Check that Docker is running (`docker info`); kind needs it to remove the nodes.",
    )
