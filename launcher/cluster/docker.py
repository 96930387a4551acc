"""The ``docker`` calls of the cluster launcher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._version import VERSION

if TYPE_CHECKING:
    from launcher.cluster._run import CompletedCommand, Runner

__all__ = ["IMAGE", "build_image", "info"]

IMAGE = f"task-observatory:{VERSION}"

INFO_HINT = (
    "Start the Docker engine (Docker Desktop, or `sudo systemctl start docker`) and check "
    "that `docker info` works for your user (on Linux: membership of the docker group)."
)
BUILD_HINT = (
    "Fix the build error above (run `docker build -t {image} .` to see all of it), or pass "
    "--skip-build to use an image built earlier."
)


async def info(runner: Runner) -> CompletedCommand:
    """``docker info``: is the engine reachable?"""
    return await runner.run(["docker", "info"], timeout_s=30.0, hint=INFO_HINT)


async def build_image(runner: Runner, *, timeout_s: float = 1800.0) -> CompletedCommand:
    """``docker build -t task-observatory:<VERSION> .`` from the project root (the cwd)."""
    return await runner.run(
        ["docker", "build", "-t", IMAGE, "."],
        timeout_s=timeout_s,
        hint=BUILD_HINT.format(image=IMAGE),
    )
