"""A :class:`~launcher.cluster.Runner` that hands every output line to the screen as it comes.

``cluster up`` takes its runner as a parameter; the TUI passes this one so the setup
screen can show the last lines of the running command (``docker build`` talks a lot).
It fails exactly as :class:`~launcher.cluster.ProcessRunner` does.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import anyio
from anyio.streams.text import TextReceiveStream

from launcher.cluster import CompletedCommand, LauncherError
from launcher.cluster._run import describe, not_installed

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import ByteReceiveStream

__all__ = ["TailingRunner"]


class TailingRunner:
    """Runs commands like ``ProcessRunner``, calling ``on_line`` with each line they print.

    Args:
        on_line: called with ``$ <command>`` first, then every stdout and stderr line.
    """

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line

    async def run(
        self,
        argv: list[str],
        *,
        timeout_s: float,
        hint: str = "Read the tool's message above and try again.",
        check: bool = True,
    ) -> CompletedCommand:
        """Run ``argv`` within ``timeout_s``; its output, or :class:`LauncherError`.

        Cancellation:
            The process is killed (anyio closes it) if the call is cancelled or times out.
        """
        self._on_line(f"$ {describe(argv)}")
        stdout: list[str] = []
        stderr: list[str] = []
        try:
            with anyio.fail_after(timeout_s):
                async with await anyio.open_process(argv, stdin=subprocess.DEVNULL) as process:
                    assert process.stdout is not None
                    assert process.stderr is not None
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._read, process.stdout, stdout)
                        tg.start_soon(self._read, process.stderr, stderr)
                    exit_code = await process.wait()
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
            argv=list(argv), exit_code=exit_code, stdout="".join(stdout), stderr="".join(stderr)
        )
        if check and exit_code != 0:
            raise LauncherError(argv, exit_code=exit_code, stderr=completed.stderr, hint=hint)
        return completed

    async def _read(self, stream: ByteReceiveStream, into: list[str]) -> None:
        pending = ""
        async for chunk in TextReceiveStream(stream, errors="replace"):
            into.append(chunk)
            pending += chunk
            *lines, pending = pending.split("\n")
            for line in lines:
                self._on_line(line)
        if pending:
            self._on_line(pending)
