"""The phases that drive a running observatory over HTTP: ``single``, ``batch``, ``latency``.

:class:`HttpBench` holds the load generator's clients and a ``/stats`` poller for one
system under test; each phase is one of its methods, registered in
:mod:`launcher.bench.registry`. Every job is :func:`~launcher.bench.phase.job_submission`.
"""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import httpx

from actors.config.urls import redact
from actors.domain.clock import parse_timestamp
from launcher._api_auth import auth_headers
from launcher.bench.phase import (
    PhaseFailed,
    PhaseSkipped,
    job_submission,
    progress_lines,
    record_rate,
)
from launcher.bench.report import nearest_rank

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from anyio.streams.memory import MemoryObjectReceiveStream

    from launcher.bench.options import BenchOptions
    from launcher.bench.report import BenchReport, PhaseOutcome

__all__ = ["HttpBench", "Tally", "client_count", "retry_after_s"]

_BATCHES_IN_FLIGHT = 4
_CONNECTIONS_PER_CLIENT = 8
"""Connections per ``httpx.AsyncClient`` of the load generator (see :class:`HttpBench`)."""
_JOB_READ_TIMEOUT_S = 60.0
_MAX_WAITS_PER_REQUEST = 30
"""429 answers one request waits out before the phase counts it as refused."""
_DEADLINE_MARGIN_S = 2.0
"""Work that keeps partial results stops this long before its phase's deadline."""
_LATENCY_SHARE = 0.5
"""The latency phase submits at this share of the sustained end-to-end rate measured
earlier in the same run."""
_LATENCY_WINDOW_S = 10.0
_STATS_PERIOD_S = 0.2


def retry_after_s(response: httpx.Response) -> float | None:
    """The seconds a 429's ``Retry-After`` asks for (``None``: absent or not a number).

    Only the delta-seconds form: the gateway never sends an HTTP date.
    """
    header = response.headers.get("Retry-After", "")
    try:
        seconds = float(header)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def client_count(concurrency: int) -> int:
    """How many ``httpx.AsyncClient`` carry ``concurrency`` connections (see :class:`HttpBench`)."""
    return math.ceil(concurrency / _CONNECTIONS_PER_CLIENT)


class _StatsPoller:
    """Watches ``completedJobs + failedJobs`` of the read model's ``/stats``.

    It polls every 0.2 s: the system is another process and offers nothing to wait on.
    """

    def __init__(self, client: httpx.AsyncClient, read_model: str) -> None:
        self._client = client
        self._url = f"{read_model}/stats"
        self.counted: int | None = None
        self.last_error: str | None = None
        self._target: int | None = None
        self._reached = anyio.Event()
        self._reached_at = 0.0

    async def fetch(self) -> int:
        """Terminal jobs counted now.

        Raises:
            PhaseFailed: the read model answered something else than its stats.
            httpx.HTTPError: it could not be reached.
        """
        response = await self._client.get(self._url)
        if response.status_code != 200:
            raise PhaseFailed(
                f"GET {self._url} answered {response.status_code}: {response.text[:200]}"
            )
        stats = response.json()
        return int(stats["completedJobs"]) + int(stats["failedJobs"])

    async def run(self) -> None:
        """Poll until cancelled; errors are kept in :attr:`last_error`, not raised."""
        while True:
            try:
                counted = await self.fetch()
            except (httpx.HTTPError, PhaseFailed, KeyError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            else:
                self.counted = counted
                if self._target is not None and counted >= self._target:
                    self._reached_at = anyio.current_time()
                    self._reached.set()
            await anyio.sleep(_STATS_PERIOD_S)

    async def wait_counted(self, target: int) -> float:
        """Wait until at least ``target`` terminal jobs are counted; returns when (clock time)."""
        self._reached = anyio.Event()  # a fresh one: the last wait set the previous one
        self._target = target
        try:
            if self.counted is not None and self.counted >= target:
                return anyio.current_time()
            await self._reached.wait()
            return self._reached_at
        finally:
            self._target = None


@dataclass(slots=True)
class Tally:
    """Submissions of one phase."""

    accepted: int = 0
    refused: int = 0
    first_refusal: str = ""
    job_ids: list[str] = field(default_factory=list)

    def refuse(self, count: int, why: str) -> None:
        self.refused += count
        self.first_refusal = self.first_refusal or why

    def check(self, total: int) -> None:
        """Raise when anything was refused (after the figures are recorded)."""
        if self.refused:
            raise PhaseFailed(
                f"{self.refused} of {total} jobs were not accepted; the first refusal: "
                f"{self.first_refusal}"
            )


class HttpBench:
    """The phases that talk to the system under test over HTTP.

    The C connections are spread over several ``httpx.AsyncClient`` of
    :data:`_CONNECTIONS_PER_CLIENT` each, and each worker keeps to one client: httpcore's
    pool checks every one of its connections on every request (a ``poll()`` each), so a
    single client of 64 connections spends most of the load generator's CPU on that
    scan and caps the measured rate well below what the system can take.
    """

    def __init__(
        self, options: BenchOptions, report: BenchReport, gateway: str, read_model: str
    ) -> None:
        self.options = options
        self.report = report
        self.gateway = gateway.rstrip("/")
        self.read_model = read_model.rstrip("/")
        concurrency = options.concurrency
        shards = client_count(concurrency)
        # Worker w uses client w % shards: client j serves len(range(j, C, shards)) workers.
        self.clients = [
            httpx.AsyncClient(
                headers=auth_headers(),
                http1=True,
                timeout=httpx.Timeout(30.0),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for size in (len(range(j, concurrency, shards)) for j in range(shards))
        ]
        # Its own connection, so polling never waits behind the submissions.
        self._stats_client = httpx.AsyncClient(
            headers=auth_headers(),
            timeout=httpx.Timeout(10.0),
            limits=httpx.Limits(max_connections=2),
        )
        self.stats = _StatsPoller(self._stats_client, self.read_model)
        self.expected = 0
        """Terminal jobs /stats should count once everything accepted so far is done."""

    def client_for(self, worker: int) -> httpx.AsyncClient:
        """The client worker number ``worker`` (0 to C-1) uses."""
        return self.clients[worker % len(self.clients)]

    async def aclose(self) -> None:
        """Close every client."""
        for client in (*self.clients, self._stats_client):
            await client.aclose()

    async def check_reachable(self) -> None:
        """Read the baseline count; fail clearly when the system does not answer."""
        try:
            self.expected = await self.stats.fetch()
            await self.clients[0].get(f"{self.gateway}/healthz")
        except httpx.HTTPError as exc:
            raise PhaseFailed(
                f"The system under test is not reachable (gateway {redact(self.gateway)}, "
                f"read model {redact(self.read_model)}): {type(exc).__name__}: {exc}"
            ) from exc

    @asynccontextmanager
    async def _watching(
        self, outcome: PhaseOutcome, describe: Callable[[], str]
    ) -> AsyncIterator[None]:
        """Poll /stats and print progress while the block runs."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.stats.run)
            tg.start_soon(progress_lines, outcome, describe)
            try:
                yield
            finally:
                outcome.progress = describe()
                tg.cancel_scope.cancel()

    def _describe(self, tally: Tally, total: int) -> Callable[[], str]:
        """Progress of a phase: what was submitted, and how much of it /stats counted."""
        base = self.expected

        def describe() -> str:
            counted = self.stats.counted
            shown = "?" if counted is None else str(max(0, counted - base))
            text = (
                f"submitted {tally.accepted + tally.refused}/{total}, "
                f"counted {shown} of {tally.accepted} accepted"
            )
            if self.stats.last_error:
                text += f" (last /stats error: {self.stats.last_error})"
            return text

        return describe

    async def _post(self, client: httpx.AsyncClient, path: str, body: object) -> httpx.Response:
        """POST ``body``; a 429 is waited out (its ``Retry-After``) and sent again.

        At most :data:`_MAX_WAITS_PER_REQUEST` waits per request. Every wait is counted in the report (:attr:`BenchReport.rate_limit_waits` and
        :attr:`BenchReport.rate_limit_wait_s`): a system the bench did not start may
        limit its clients, and its figures then include those waits.
        """
        url = f"{self.gateway}{path}"
        for _ in range(_MAX_WAITS_PER_REQUEST + 1):
            try:
                response = await client.post(url, json=body)
            except httpx.TransportError as exc:
                raise PhaseFailed(
                    f"POST {redact(url)} failed: {type(exc).__name__}: {exc or 'no detail'}"
                ) from exc
            if response.status_code != 429:
                return response
            wait_s = retry_after_s(response)
            if wait_s is None:
                return response
            self.report.rate_limit_waits += 1
            self.report.rate_limit_wait_s += wait_s
            await anyio.sleep(wait_s)
        # Still refused: e.g. a batch larger than the limit's burst, which waiting never
        # lets through; the phase counts it as refused, with the gateway's message.
        return response

    async def _submit_one(self, client: httpx.AsyncClient, index: int, tally: Tally) -> None:
        response = await self._post(client, "/jobs", job_submission(index))
        if response.status_code == 202:
            tally.accepted += 1
            tally.job_ids.append(str(response.json()["jobId"]))
        else:
            tally.refuse(1, f"{response.status_code} {response.text[:200]}")

    async def _wait_counted(self, tally: Tally, started: float) -> float:
        if not tally.accepted:
            raise PhaseFailed(f"No job was accepted; the first refusal: {tally.first_refusal}")
        self.expected += tally.accepted
        return await self.stats.wait_counted(self.expected) - started

    async def submit_singles(self, n: int, tally: Tally) -> None:
        """Submit ``n`` jobs, one ``POST /jobs`` each, C in flight: the load generator of
        the ``single`` and ``http_ceiling`` phases."""
        indices = iter(range(n))

        async def submit(client: httpx.AsyncClient) -> None:
            for index in indices:
                await self._submit_one(client, index, tally)

        async with anyio.create_task_group() as tg:
            for worker in range(self.options.concurrency):
                tg.start_soon(submit, self.client_for(worker))

    async def single(self, outcome: PhaseOutcome) -> None:
        """N jobs, one ``POST /jobs`` each, C in flight."""
        n = self.options.jobs
        tally = Tally()
        async with self._watching(outcome, self._describe(tally, n)):
            started = anyio.current_time()
            await self.submit_singles(n, tally)
            record_rate(
                outcome, "submit_rate_single", tally.accepted, anyio.current_time() - started
            )
            e2e_s = await self._wait_counted(tally, started)
        record_rate(outcome, "e2e_rate_single", tally.accepted, e2e_s)
        tally.check(n)

    async def batch(self, outcome: PhaseOutcome) -> None:
        """N jobs via ``POST /jobs/batch`` in batches of B, a few batches in flight."""
        n, size = self.options.jobs, self.options.batch_size
        tally = Tally()
        starts = iter(range(0, n, size))

        async def submit(client: httpx.AsyncClient) -> None:
            for start in starts:
                jobs = [job_submission(i) for i in range(start, min(n, start + size))]
                response = await self._post(client, "/jobs/batch", jobs)
                answer = response.json() if response.status_code in (202, 400) else None
                if not isinstance(answer, dict) or "accepted" not in answer:
                    tally.refuse(len(jobs), f"{response.status_code} {response.text[:200]}")
                    continue
                tally.accepted += int(answer["accepted"])
                if answer["rejected"]:
                    tally.refuse(int(answer["rejected"]), f"a batch answered {answer}"[:300])

        async with self._watching(outcome, self._describe(tally, n)):
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for worker in range(min(_BATCHES_IN_FLIGHT, self.options.concurrency)):
                    tg.start_soon(submit, self.client_for(worker))
            record_rate(
                outcome, "submit_rate_batch", tally.accepted, anyio.current_time() - started
            )
            e2e_s = await self._wait_counted(tally, started)
        record_rate(outcome, "e2e_rate_batch", tally.accepted, e2e_s)
        tally.check(n)

    async def latency(self, outcome: PhaseOutcome) -> None:
        """Single submissions paced at 50 % of the sustained end-to-end rate for ~10 s,
        then each job's submit→COMPLETED latency (p50, p95, p99, max)."""
        figures = self.report.figures()
        # The phase submits one job per request, so it paces at 50 % of the lower of the
        # two sustained end-to-end rates measured earlier in this run: above what single
        # submissions carry it would measure a growing queue, not the latency of a system
        # at half its load.
        measured_by = {
            key: value for key in ("e2e_rate_single", "e2e_rate_batch") if (value := figures[key])
        }
        if not measured_by:
            raise PhaseSkipped(
                "it paces at 50 % of the lower of e2e_rate_single and e2e_rate_batch, and "
                "neither was measured; run the single or batch phase too"
            )
        basis = min(measured_by, key=lambda key: measured_by[key])
        measured = measured_by[basis]
        rate = _LATENCY_SHARE * measured
        count = max(1, min(self.options.jobs, round(rate * _LATENCY_WINDOW_S)))
        outcome.add_note(
            f"Paced {count} jobs at {rate:,.0f} jobs/s ({_LATENCY_SHARE:.0%} of {basis} "
            f"{measured:,.0f} jobs/s, measured earlier in this run)."
        )
        tally = Tally()

        async def submit(
            client: httpx.AsyncClient, scheduled: MemoryObjectReceiveStream[int]
        ) -> None:
            async with scheduled:
                async for index in scheduled:
                    await self._submit_one(client, index, tally)

        async with self._watching(outcome, self._describe(tally, count)):
            schedule, scheduled = anyio.create_memory_object_stream[int](0)
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for worker in range(self.options.concurrency):
                    tg.start_soon(submit, self.client_for(worker), scheduled.clone())
                scheduled.close()
                async with schedule:
                    for index in range(count):
                        # Open loop on a schedule. With all C workers busy the send waits,
                        # so an overloaded system slows the pace instead of piling up
                        # requests; the window still ends the phase on time.
                        await anyio.sleep_until(started + index / rate)
                        if anyio.current_time() - started >= _LATENCY_WINDOW_S:
                            break
                        await schedule.send(index)
            record_rate(outcome, "latency_rate", tally.accepted, anyio.current_time() - started)
            achieved = outcome.values["latency_rate"]
            if achieved < 0.9 * rate:
                outcome.add_note(
                    f"Submissions fell behind the pace ({achieved:,.0f} of {rate:,.0f} jobs/s "
                    f"with {self.options.concurrency} in flight; {tally.accepted + tally.refused}"
                    f" of {count} sent in the {_LATENCY_WINDOW_S:g} s window): one POST /jobs "
                    "per job cannot carry that rate, so these latencies are at its saturation."
                )
            await self._wait_counted(tally, started)
        latencies, unread = await self._latencies(tally.job_ids, outcome)
        if not latencies:
            raise PhaseFailed(
                f"No submitted job could be read as COMPLETED with both timestamps. {unread}"
            )
        span = outcome.durations_s["latency_rate"]
        for key, percent in (("latency_p50_s", 50), ("latency_p95_s", 95), ("latency_p99_s", 99)):
            outcome.values[key] = nearest_rank(latencies, percent)
            outcome.durations_s[key] = span
        outcome.values["latency_max_s"] = max(latencies)
        outcome.durations_s["latency_max_s"] = span
        if unread:
            raise PhaseFailed(f"The latencies cover only {len(latencies)} jobs: {unread}")
        tally.check(count)

    async def _latencies(
        self, job_ids: list[str], outcome: PhaseOutcome
    ) -> tuple[list[float], str]:
        """updatedAt - createdAt of every COMPLETED job, and why any could not be read.

        Pages through ``/jobs/recent?status=COMPLETED`` (newest first, where the phase's
        jobs are) rather than reading each ``/jobs/{id}`` with its events: a few requests
        instead of one per job. A COMPLETED job's ``updatedAt`` is its terminal
        transition, i.e. its ``finishedAt``.
        """
        wanted = set(job_ids)
        latencies: list[float] = []
        started = anyio.current_time()
        pages = 0
        failure = ""
        async with httpx.AsyncClient(timeout=_JOB_READ_TIMEOUT_S, headers=auth_headers()) as client:
            with anyio.move_on_at(outcome.deadline_at - _DEADLINE_MARGIN_S) as scope:
                offset = 0
                while wanted:
                    url = f"{self.read_model}/jobs/recent"
                    params = {"status": "COMPLETED", "limit": "500", "offset": str(offset)}
                    try:
                        response = await client.get(url, params=params)
                        response.raise_for_status()
                    except httpx.HTTPError as exc:
                        failure = f"GET {redact(url)} failed: {type(exc).__name__} {exc}."
                        break
                    page = response.json()
                    pages += 1
                    if not page:
                        break
                    for job in page:
                        if job["id"] in wanted:
                            wanted.discard(job["id"])
                            finished = parse_timestamp(str(job["updatedAt"]))
                            created = parse_timestamp(str(job["createdAt"]))
                            latencies.append((finished - created).total_seconds())
                    offset += len(page)
        elapsed_s = anyio.current_time() - started
        outcome.add_note(
            f"Read {len(latencies)} COMPLETED jobs in {pages} pages of /jobs/recent in "
            f"{elapsed_s:.1f} s."
        )
        unread: list[str] = []
        if failure:
            unread.append(failure)
        if wanted:
            when = " when the phase deadline came" if scope.cancelled_caught else ""
            unread.append(f"{len(wanted)} jobs were not found as COMPLETED{when}.")
        return latencies, " ".join(unread)
