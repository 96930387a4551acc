"""The alert rules, evaluated in the read model when there is no Prometheus.

``observatory up`` runs without Prometheus, yet a newcomer should see alerts too: this
actor evaluates the job-level rules of ``manifests/prometheus/rules.yml`` from the
read model's own counters, dead-letter store and health tree, with the same thresholds,
windows and texts, and records them in the :class:`~quart_app.read_model.alerts.AlertBook` that
``GET /alerts`` serves (``source: read-model``).

==========================  ==============================================================
rule                        condition (same as the Prometheus rule)
==========================  ==============================================================
JobFailureRateHigh          failed / processed of a job type over 5 min > 5 %, for 5 min
DeadLettersAppearing        new dead letters within 10 min
ActorRestartLoop            more than 3 restarts of one actor within 10 min
==========================  ==============================================================
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from actors.domain.clock import utc_now
from actors.kernel.periodic import Periodic
from quart_app.read_model.alerts import Alert

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.domain.stats import Stats
    from actors.kernel import ActorHealth
    from actors.stores import Counters, DeadLetterStore
    from quart_app.read_model.alerts import AlertBook

__all__ = ["AlertEvaluator", "RuleWindows"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleWindows:
    """The rules' windows, in seconds (the defaults are the Prometheus rules')."""

    failure_window_s: float = 300.0
    failure_for_s: float = 300.0
    failure_ratio: float = 0.05
    dead_letter_window_s: float = 600.0
    restart_window_s: float = 600.0
    max_restarts: int = 3


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    processed: dict[str, int]
    failed: dict[str, int]
    dead_letters: int
    restarts: dict[str, int]


class AlertEvaluator(Periodic):
    """Evaluates the rules every ``interval_s`` and records what fires or resolves."""

    def __init__(
        self,
        book: AlertBook,
        counters: Counters,
        dead_letters: DeadLetterStore,
        health: Callable[[], list[ActorHealth]],
        *,
        interval_s: float = 15.0,
        windows: RuleWindows = RuleWindows(),
        now: Callable[[], float] = anyio.current_time,
        runbooks_url: Callable[[], str] = lambda: "/runbooks",
        name: str = "alert-evaluator",
    ) -> None:
        """``runbooks_url``: where the read model serves ``GET /runbooks`` (each alert's
        ``runbook_url`` is its section there)."""
        super().__init__(name, interval_s=interval_s)
        self._book = book
        self._counters = counters
        self._dead_letters = dead_letters
        self._health = health
        self._windows = windows
        self._now = now
        self._runbooks_url = runbooks_url
        self._samples: deque[_Sample] = deque()
        self._pending_since: dict[str, float] = {}
        self._firing: dict[str, Alert] = {}

    def __repr__(self) -> str:
        return f"<AlertEvaluator firing={sorted(self._firing)}>"

    async def tick(self) -> None:
        """Evaluate the rules once."""
        await self.evaluate()

    async def evaluate(self) -> None:
        """Take a sample and apply every rule to the samples in their windows."""
        stats = await self._counters.snapshot()
        sample = self._sample(stats, await self._dead_letters.count())
        self._samples.append(sample)
        horizon = max(
            self._windows.failure_window_s,
            self._windows.dead_letter_window_s,
            self._windows.restart_window_s,
        )
        while self._samples and self._samples[0].at < sample.at - horizon:
            self._samples.popleft()
        found: dict[str, Alert] = {}
        for alert in (
            *self._failure_rate(sample),
            *self._dead_letters_appearing(sample),
            *self._restart_loops(sample),
        ):
            found[alert.fingerprint] = alert
        for fingerprint, alert in found.items():
            if fingerprint not in self._firing:
                log.warning("alert.firing name=%s labels=%s", alert.name, dict(alert.labels))
                self._firing[fingerprint] = alert
            self._book.record(alert)
        for fingerprint in list(self._firing):
            if fingerprint not in found:
                alert = self._firing.pop(fingerprint)
                log.info("alert.resolved name=%s labels=%s", alert.name, dict(alert.labels))
                self._book.record(
                    Alert(
                        fingerprint=fingerprint,
                        name=alert.name,
                        status="resolved",
                        labels=alert.labels,
                        annotations=alert.annotations,
                        starts_at=alert.starts_at,
                        ends_at=utc_now(),
                        updated_at=utc_now(),
                        source="read-model",
                    )
                )

    def _sample(self, stats: Stats, dead_letters: int) -> _Sample:
        return _Sample(
            at=self._now(),
            processed={t: s.completed + s.failed for t, s in stats.by_type.items()},
            failed={t: s.failed for t, s in stats.by_type.items()},
            dead_letters=dead_letters,
            restarts={entry.path: entry.restarts for entry in self._health()},
        )

    def _oldest_within(self, window_s: float, now: float) -> _Sample:
        for sample in self._samples:
            if sample.at >= now - window_s:
                return sample
        return self._samples[-1]

    def _alert(
        self, name: str, labels: dict[str, str], summary: str, description: str, runbook: str
    ) -> Alert:
        fingerprint = (
            "local:" + name + ":" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        )
        existing = self._firing.get(fingerprint)
        return Alert(
            fingerprint=fingerprint,
            name=name,
            status="firing",
            labels={"alertname": name, **labels},
            annotations={
                "summary": summary,
                "description": description,
                "runbook_url": f"{self._runbooks_url()}#{runbook}",
            },
            starts_at=existing.starts_at if existing else utc_now(),
            updated_at=utc_now(),
            source="read-model",
        )

    def _failure_rate(self, now: _Sample) -> list[Alert]:
        windows = self._windows
        then = self._oldest_within(windows.failure_window_s, now.at)
        alerts = []
        for job_type, processed in now.processed.items():
            processed_delta = processed - then.processed.get(job_type, 0)
            failed_delta = now.failed.get(job_type, 0) - then.failed.get(job_type, 0)
            key = f"JobFailureRateHigh:{job_type}"
            # Guarded like the Prometheus rule: no processed jobs, no ratio.
            if processed_delta <= 0 or failed_delta / processed_delta <= windows.failure_ratio:
                self._pending_since.pop(key, None)
                continue
            since = self._pending_since.setdefault(key, now.at)
            if now.at - since < windows.failure_for_s:
                continue
            ratio = failed_delta / processed_delta
            alerts.append(
                self._alert(
                    "JobFailureRateHigh",
                    {"severity": "warning", "service": "processor", "type": job_type},
                    f"More than 5 % of {job_type} jobs fail",
                    f"{ratio:.0%} of {job_type} jobs failed over the last "
                    f"{windows.failure_window_s / 60:g} minutes.",
                    "jobfailureratehigh",
                )
            )
        return alerts

    def _dead_letters_appearing(self, now: _Sample) -> list[Alert]:
        then = self._oldest_within(self._windows.dead_letter_window_s, now.at)
        new = now.dead_letters - then.dead_letters
        if new <= 0:
            return []
        return [
            self._alert(
                "DeadLettersAppearing",
                {"severity": "warning", "service": "metrics-engine"},
                "Messages are being dead-lettered",
                f"{new} {'message' if new == 1 else 'messages'} broke a contract in the last "
                f"{self._windows.dead_letter_window_s / 60:g} minutes; see GET /dead-letters "
                "on the read model.",
                "deadlettersappearing",
            )
        ]

    def _restart_loops(self, now: _Sample) -> list[Alert]:
        then = self._oldest_within(self._windows.restart_window_s, now.at)
        alerts = []
        for actor, restarts in now.restarts.items():
            delta = restarts - then.restarts.get(actor, 0)
            if delta > self._windows.max_restarts:
                alerts.append(
                    self._alert(
                        "ActorRestartLoop",
                        {"severity": "warning", "service": actor.split("/")[0], "actor": actor},
                        f"Actor {actor} keeps restarting",
                        f"{actor} restarted {delta} times in "
                        f"{self._windows.restart_window_s / 60:g} minutes.",
                        "actorrestartloop",
                    )
                )
        return alerts
