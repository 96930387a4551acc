"""A user's app with a rate-limited type (``tests/e2e/test_rate_limit.py``).

``rated`` may start at most 5 times a second across every processor; ``unrated`` has no
limit. Both answer the wall-clock time their handler started, to compare across processes.
"""

from __future__ import annotations

import time

from observatory import JobContext, handler


@handler("rated", rate_limit=5)
async def rated(job: JobContext) -> object:
    """Answers when it started (Unix time)."""
    return {"startedAt": time.time()}


@handler("unrated")
async def unrated(job: JobContext) -> object:
    """Answers when it started (Unix time)."""
    return {"startedAt": time.time()}
