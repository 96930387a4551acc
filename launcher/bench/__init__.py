"""``observatory bench``: how fast the observatory moves jobs, phase by phase.

A package now; the next commit splits :mod:`.http_phases` (still the whole former
``launcher/bench.py``) by concept.
"""

from __future__ import annotations

from launcher.bench.http_phases import (
    BENCH_EPILOG,
    FIGURES,
    BenchMode,
    BenchOptions,
    BenchReport,
    Figure,
    Phase,
    PhaseOutcome,
    PhaseStatus,
    add_bench_arguments,
    bench_main,
    bench_options,
    nearest_rank,
    run_bench,
)

__all__ = [
    "BENCH_EPILOG",
    "FIGURES",
    "BenchMode",
    "BenchOptions",
    "BenchReport",
    "Figure",
    "Phase",
    "PhaseOutcome",
    "PhaseStatus",
    "add_bench_arguments",
    "bench_main",
    "bench_options",
    "nearest_rank",
    "run_bench",
]
