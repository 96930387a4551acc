"""Demo load: a steady mix of sample jobs, some failing, so a new user sees a living system.

It submits over HTTP to the gateway, exactly as any client would.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

import anyio
import httpx

from actors.kernel import ActorHealth, ActorState

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

__all__ = ["DEMO_MIX", "DemoLoad"]

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


class DemoLoad:
    """Submits ``rate_per_s`` demo jobs per second to the gateway until stopped."""

    def __init__(
        self,
        gateway_url: Callable[[], str],
        *,
        rate_per_s: float = 2.0,
        seed: int | None = None,
        token: str | None = None,
    ) -> None:
        self.name = "demo"
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
                    body = {"type": job_type, "payload": _payload(job_type, self._rng)}
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
