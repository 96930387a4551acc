"""Demo load: a steady mix of sample jobs, some failing, so a new user sees a living system.

It submits over HTTP to the gateway, exactly as any client would. It picks each job's id
itself and remembers the recent ones in :class:`DemoJobIds`, so that
:class:`QuietDemoJobs` can lower the per-job log lines of its own jobs to DEBUG: at 2 jobs
per second they would otherwise bury the start banner and the lines that matter (yours).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING

import anyio
import httpx

from actors.kernel import ActorHealth, ActorState

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

__all__ = ["DEMO_MIX", "DemoJobIds", "DemoLoad", "QuietDemoJobs"]

log = logging.getLogger(__name__)

DEMO_MIX: tuple[tuple[float, str], ...] = (
    (0.40, "echo"),
    (0.15, "sleep"),
    (0.15, "compute"),
    (0.10, "fail"),
    (0.20, "report"),
)
"""(weight, job type) of the demo's jobs; ``report`` has no handler (default handler)."""


def _payload(job_type: str, rng: random.Random) -> dict[str, object]:
    if job_type == "sleep":
        return {"seconds": round(rng.uniform(0.2, 2.0), 2)}
    if job_type == "compute":
        return {"rounds": rng.choice([1_000, 10_000, 50_000])}
    if job_type == "fail":
        return {"message": "Demo job failing on purpose."}
    return {"n": rng.randint(1, 1000), "source": "demo"}


class DemoJobIds:
    """The ids of the demo's most recent jobs (bounded: the oldest are forgotten).

    Args:
        max_ids: how many to remember; at 2 jobs/s the default covers hours, far more
            than a demo job lives (its retries end within a minute).
    """

    def __init__(self, max_ids: int = 20_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._max_ids = max_ids

    def add(self, job_id: str) -> None:
        """Remember ``job_id`` (forgetting the oldest past ``max_ids``)."""
        self._ids[job_id] = None
        while len(self._ids) > self._max_ids:
            self._ids.popitem(last=False)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class QuietDemoJobs(logging.Filter):
    """A handler filter: records about a demo job (``jobId`` in ``ids``) become DEBUG.

    INFO and WARNING lines of demo jobs (accepted, completed, retrying, failed on purpose)
    are lowered to DEBUG and shown only when the root logger is at DEBUG; ERROR and above
    stay as they are (a demo job hitting a bug is still a bug). Install it after the
    filter that stamps ``jobId`` (:class:`~actors.observability.logs.ContextFilter`).
    """

    def __init__(self, ids: DemoJobIds) -> None:
        super().__init__()
        self._ids = ids

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or getattr(record, "jobId", "-") not in self._ids:
            return True
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


class DemoLoad:
    """Submits ``rate_per_s`` demo jobs per second to the gateway until stopped."""

    def __init__(
        self,
        gateway_url: Callable[[], str],
        *,
        rate_per_s: float = 2.0,
        seed: int | None = None,
        token: str | None = None,
        ids: DemoJobIds | None = None,
    ) -> None:
        """``ids``: where the ids of the submitted jobs are remembered (see
        :class:`QuietDemoJobs`)."""
        self.name = "demo"
        self.ids = ids if ids is not None else DemoJobIds()
        self._gateway_url = gateway_url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._interval_s = 1.0 / max(rate_per_s, 0.01)
        self._rng = random.Random(seed)
        self._stop = anyio.Event()
        self._state = ActorState.STOPPED
        self.submitted = 0
        self.refused = 0

    def _pick(self) -> str:
        roll = self._rng.random()
        for weight, job_type in DEMO_MIX:
            roll -= weight
            if roll <= 0:
                return job_type
        return DEMO_MIX[-1][1]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Submit jobs at a steady rate; a refused or failed request is logged and skipped."""
        self._stop = anyio.Event()
        async with httpx.AsyncClient(
            base_url=self._gateway_url(), timeout=10.0, headers=self._headers
        ) as client:
            self._state = ActorState.RUNNING
            task_status.started()
            try:
                while not self._stop.is_set():
                    job_type = self._pick()
                    job_id = str(uuid.uuid4())  # not from the seeded rng: ids never repeat
                    self.ids.add(job_id)  # before the gateway logs its first line about it
                    body = {
                        "id": job_id,
                        "type": job_type,
                        "payload": _payload(job_type, self._rng),
                    }
                    try:
                        response = await client.post("/jobs", json=body)
                    except httpx.HTTPError as exc:
                        self.refused += 1
                        log.warning("demo.submit_failed error=%s", exc)
                    else:
                        if response.status_code == 202:
                            self.submitted += 1
                        else:
                            self.refused += 1
                            log.warning("demo.submit_refused status=%d", response.status_code)
                    with anyio.move_on_after(self._interval_s):
                        await self._stop.wait()
            finally:
                self._state = ActorState.STOPPED

    def request_stop(self) -> None:
        """Stop submitting."""
        self._stop.set()

    def health(self) -> list[ActorHealth]:
        """One entry for the load generator."""
        return [ActorHealth(path=self.name, state=self._state, restarts=0)]
