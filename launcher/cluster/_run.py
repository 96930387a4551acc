"""Running external commands: one bounded call at a time, or a detached background process."""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from launcher.cluster._errors import LauncherError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "INSTALL_URLS",
    "CompletedCommand",
    "ProcessRunner",
    "Runner",
    "not_installed",
    "require_installed",
]

INSTALL_URLS = {
    "docker": "https://docs.docker.com/get-docker/",
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
}


@dataclass(frozen=True, slots=True)
class CompletedCommand:
    """A command that ran to completion."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs external commands; tests substitute their own."""

    async def run(
        self, argv: list[str], *, timeout_s: float, hint: str = ..., check: bool = True
    ) -> CompletedCommand:
        """Run ``argv`` to completion within ``timeout_s``.

        With ``check`` a non-zero exit raises :class:`LauncherError` carrying ``hint``;
        a timeout or a missing executable always raises it.
        """
        ...


def not_installed(argv: list[str]) -> LauncherError:
    """The error for a tool that is not on PATH."""
    tool = argv[0]
    where = INSTALL_URLS.get(tool, "its project's site")
    return LauncherError(
        argv,
        exit_code=None,
        reason=f"could not run because {tool} is not installed (not found on PATH)",
        hint=f"{tool} is not installed; install it from {where}",
    )


def require_installed(tool: str) -> None:
    """Raise :class:`LauncherError` unless ``tool`` is an executable on PATH."""
    if shutil.which(tool) is None:
        raise not_installed([tool])


class ProcessRunner:
    """The real runner: ``anyio.run_process`` inside ``anyio.fail_after``."""

    async def run(
        self,
        argv: list[str],
        *,
        timeout_s: float,
        hint: str = "Read the tool's message above and try again.",
        check: bool = True,
    ) -> CompletedCommand:
        try:
            with anyio.fail_after(timeout_s):
                result = await anyio.run_process(argv, check=False)
        except FileNotFoundError:
            raise not_installed(argv) from None
        except TimeoutError:
            raise LauncherError(
                argv,
                exit_code=None,
                reason=f"did not finish within {timeout_s:g} s and was stopped",
                hint=hint,
            ) from None
        completed = CompletedCommand(
            argv=list(argv),
            exit_code=result.returncode,
            stdout=result.stdout.decode(errors="replace"),
            stderr=result.stderr.decode(errors="replace"),
        )
        if check and completed.exit_code != 0:
            raise LauncherError(
                argv, exit_code=completed.exit_code, stderr=completed.stderr, hint=hint
            )
        return completed


def spawn_detached(argv: list[str], log_path: Path) -> int:
    """Start ``argv`` in its own session with stdout and stderr to ``log_path``; its PID.

    The process outlives this one (a port-forward must stay up after ``cluster up`` exits),
    so it is started with ``posix_spawnp`` rather than a ``Popen`` or an anyio process,
    whose owners would stop or warn about it when they go away.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.posix_spawnp(
            argv[0],
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(log_path), flags, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
    except FileNotFoundError:
        if shutil.which(argv[0]) is None:
            raise not_installed(argv) from None
        raise


def exit_code_if_exited(pid: int) -> int | None:
    """The exit code of our child ``pid`` if it has exited (reaping it), else ``None``."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done == pid else None


def describe(argv: list[str]) -> str:
    """``argv`` as a shell line, for messages."""
    return shlex.join(argv)
