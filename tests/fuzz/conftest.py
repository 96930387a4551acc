"""The fuzz suite's shared parts: hypothesis profiles and the processor pipeline.

``CI=true`` loads the ``ci`` profile: derandomized (the same examples on every run, so
CI is stable) and without the example database. Elsewhere the ``fuzz`` profile explores
new examples each run and remembers failing ones in ``.hypothesis/``.

The pipeline is the processor test's (``tests/unit/actors/processor/test_processor.py``), copied
rather than imported: the processor and the metrics engine over the in-memory broker,
SQLite stores and :class:`~actors.stores.memory.MemoryCounters`. Hypothesis cannot drive
an async test, so the pipeline runs in a blocking portal (one event loop in a thread) for
the whole test, and each example is driven synchronously through it.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings

from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY, HandlerRegistry, JobContext
from tests.pipeline import Pipeline, open_pipeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Examples share one running pipeline (or server) per test on purpose, and a slow example
# is a slow pipeline, not a slow strategy.
_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile("fuzz", deadline=None, suppress_health_check=_SUPPRESSED)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=_SUPPRESSED, derandomize=True, database=None
)
settings.load_profile("ci" if IN_CI else "fuzz")

GOOD_TYPE = "fuzz-good"
"""The type of the good jobs sent next to the bad messages (counted per type)."""


@asynccontextmanager
async def fuzz_pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    """Run the processor and the metrics engine, with a handler for the good jobs."""
    settings = Settings(data_dir=tmp_path, prefetch=32, shutdown_s=5.0, retry_backoff_s=0.01)
    handlers: HandlerRegistry = DEFAULT_REGISTRY.copy()
    handlers.default_duration_s = 0.0

    async def good(job: JobContext) -> object:
        return {"ok": True}

    handlers.register(GOOD_TYPE, good)
    async with open_pipeline(tmp_path, settings, handlers) as pipeline:
        yield pipeline


@dataclass
class DrivenPipeline:
    """A running pipeline and the portal into its event loop."""

    portal: BlockingPortal
    pipeline: Pipeline
    sent: Counter[str] = field(default_factory=Counter)
    """What the test's examples sent so far, by kind (the pipeline outlives an example)."""


@pytest.fixture
def driven_pipeline(tmp_path: Path) -> Iterator[DrivenPipeline]:
    """A pipeline running in its own event loop for the whole test (all examples)."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(fuzz_pipeline(tmp_path)) as pipeline,
    ):
        yield DrivenPipeline(portal, pipeline)
