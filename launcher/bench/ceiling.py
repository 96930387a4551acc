"""The ``http_ceiling`` phase: the bare HTTP app of :mod:`launcher.bench.ceiling_app` in a
child process, driven by the ``single`` phase's load generator.

It is the ceiling one job per request can reach on this machine through Quart and
Hypercorn with one worker, to set ``submit_rate_single`` against.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import anyio

from actors.domain.clock import utc_now
from launcher.bench.http_phases import HttpBench, Tally
from launcher.bench.phase import TEARDOWN_S, PhaseFailed, progress_lines, record_rate
from launcher.bench.report import BenchReport

if TYPE_CHECKING:
    from pathlib import Path

    from launcher.bench.options import BenchOptions
    from launcher.bench.report import PhaseOutcome

__all__ = ["http_ceiling_phase"]

_START_TIMEOUT_S = 30.0


async def http_ceiling_phase(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
    """Start the bare app, time N single submissions against it, stop it.

    Resource handling: the child's stderr goes to ``work_dir/http-ceiling.log``; it gets
    SIGTERM at the end (killed when it has not exited within the teardown time).
    """
    await anyio.Path(work_dir).mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "http-ceiling.log"
    with log_path.open("ab") as log_file:
        process = await anyio.open_process(
            [sys.executable, "-m", "launcher.bench.ceiling_app"],
            stdin=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        assert process.stdout is not None
        line = b""
        with anyio.move_on_after(_START_TIMEOUT_S):
            async for chunk in process.stdout:
                line += chunk
                if b"\n" in line:
                    break
        url = line.decode().strip()
        if not url.startswith("http://"):
            raise PhaseFailed(
                f"The bare HTTP app did not print its URL within {_START_TIMEOUT_S:g} s; "
                f"see {log_path}."
            )
        # The load generator's own report: the bare app never answers 429, so it only
        # carries what HttpBench needs.
        own = BenchReport(
            mode=options.mode,
            jobs=options.jobs,
            concurrency=options.concurrency,
            batch_size=options.batch_size,
            started_at=utc_now(),
        )
        bench = HttpBench(options, own, url, url)
        tally = Tally()
        n = options.jobs
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(progress_lines, outcome, lambda: f"submitted {tally.accepted}/{n}")
                started = anyio.current_time()
                await bench.submit_singles(n, tally)
                record_rate(
                    outcome, "http_ceiling_rate", tally.accepted, anyio.current_time() - started
                )
                tg.cancel_scope.cancel()
        finally:
            with anyio.move_on_after(TEARDOWN_S, shield=True):
                await bench.aclose()
        tally.check(n)
    finally:
        with anyio.move_on_after(TEARDOWN_S, shield=True):
            process.terminate()
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.aclose()
