"""The ``peer_celery`` phase: Celery doing the processor's work per job, on the same
RabbitMQ and PostgreSQL, to set ``processor_alone_rate`` against.

It needs the ``bench`` extra (``pip install -e .[bench]``: Celery and psycopg) and says
"skipped: celery not installed" without it. N ``job.created`` envelopes (the processor
phase's) are queued as Celery tasks with no worker running; then a worker process
(:mod:`launcher.bench.celery_tasks`) drains them. The rate is (N - 1) over the span
between the first and the last row it wrote, so the worker's boot is not counted.

The pool is ``threads`` with 4 threads unless ``OBSERVATORY_BENCH_CELERY_POOL`` says
otherwise (``POOL:CONCURRENCY``, e.g. ``prefork:2`` or ``solo:1``): on this 2-core
machine, threadsx4 drained fastest of threadsx4, preforkx2 and solo (see README,
"Measure it").
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import anyio

from actors.config.urls import redact
from launcher.bench.options import BenchMode
from launcher.bench.phase import (
    TEARDOWN_S,
    PhaseFailed,
    PhaseSkipped,
    progress_lines,
)
from launcher.bench.processor import created_messages
from launcher.observatory_process import drop_postgres_schema

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg
    from aio_pika.abc import AbstractConnection

    from launcher.bench.options import BenchOptions
    from launcher.bench.report import PhaseOutcome

__all__ = ["POOL_ENV", "peer_celery_phase"]

POOL_ENV = "OBSERVATORY_BENCH_CELERY_POOL"
_DEFAULT_POOL = "threads:4"
_TASK = "observatory_bench.process_job"
_FILL_CHUNK = 1000
_POLL_S = 0.2


def _pool() -> tuple[str, int]:
    """The worker's pool and concurrency, from :data:`POOL_ENV` or the default.

    Raises:
        PhaseFailed: the variable is not ``POOL:CONCURRENCY``.
    """
    text = os.environ.get(POOL_ENV) or _DEFAULT_POOL
    pool, _, count = text.partition(":")
    if pool not in ("threads", "prefork", "solo", "eventlet", "gevent") or not count.isdigit():
        raise PhaseFailed(
            f"{POOL_ENV}={text!r} is not POOL:CONCURRENCY with a Celery pool, e.g. threads:4."
        )
    return pool, max(1, int(count))


def _fill(broker_url: str, queue: str, bodies: list[str]) -> None:
    """Queue one task per envelope body (blocking; run in a worker thread)."""
    from celery import Celery

    sender = Celery("observatory_bench_sender", broker=broker_url)
    sender.conf.update(broker_heartbeat=0, broker_transport_options={"confirm_publish": True})
    with sender.producer_or_acquire() as producer:
        for body in bodies:
            sender.send_task(_TASK, args=(body,), queue=queue, producer=producer)
    sender.close()


async def peer_celery_phase(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
    """Queue N tasks, start a Celery worker, time how fast it drains them.

    Resource handling: the queues and the PostgreSQL schema are removed at the end and
    the worker is stopped (SIGTERM, then killed after the teardown time), also on failure.
    """
    try:
        import celery  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PhaseSkipped(
            f"celery not installed ({exc}); pip install -e .[bench] adds Celery and psycopg"
        ) from exc
    import aio_pika
    import asyncpg
    from aio_pika.exceptions import CONNECTION_EXCEPTIONS

    pool, concurrency = _pool()
    n = options.jobs
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    queue, schema = f"{namespace}.celery", namespace.replace("-", "_")
    try:
        with anyio.fail_after(10):
            connection = await aio_pika.connect(
                options.rabbitmq_url,
                client_properties={"connection_name": "observatory-bench peer_celery"},
            )
    except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
        raise PhaseSkipped(
            f"RabbitMQ is not reachable at {redact(options.rabbitmq_url)} ({type(exc).__name__}:"
            f" {exc}); the Celery peer needs it (set --rabbitmq-url or RABBITMQ_URL)"
        ) from exc
    try:
        try:
            with anyio.fail_after(10):
                database = await asyncpg.connect(options.postgres_url)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise PhaseSkipped(
                f"PostgreSQL is not reachable at {redact(options.postgres_url)} "
                f"({type(exc).__name__}: {exc}); the Celery peer needs it (set --postgres-url "
                "or POSTGRES_URL)"
            ) from exc
        try:
            await _drain(options, work_dir, outcome, database, connection, queue, schema, n)
        finally:
            with anyio.move_on_after(TEARDOWN_S, shield=True):
                await database.close()
            await drop_postgres_schema(options.postgres_url, schema)
        if options.mode is BenchMode.EMBEDDED:
            outcome.add_note(
                "processor_vs_celery sets the processor on the in-process broker and SQLite "
                "against Celery on RabbitMQ and PostgreSQL; --mode local compares them on the "
                "same servers."
            )
        outcome.add_note(
            f"Celery {celery_version()}, pool {pool} with concurrency {concurrency}; per job: the envelope "
            "and its job validated (jsonschema-rs), one PostgreSQL upsert, one confirmed "
            "persistent publish, acked late."
        )
    finally:
        with anyio.move_on_after(TEARDOWN_S, shield=True):
            try:
                channel = await connection.channel(publisher_confirms=False)
                for name in (queue, f"{queue}.completed"):
                    await channel.queue_delete(name)
            finally:
                await connection.close()


def celery_version() -> str:
    """The installed Celery's version."""
    from importlib.metadata import version

    return version("celery")


async def _drain(
    options: BenchOptions,
    work_dir: Path,
    outcome: PhaseOutcome,
    database: asyncpg.Connection,
    connection: AbstractConnection,
    queue: str,
    schema: str,
    n: int,
) -> None:
    """Create the table and queues, fill, run the worker until all N rows are written."""
    from launcher.bench import celery_tasks

    pool, concurrency = _pool()
    await database.execute(f'CREATE SCHEMA "{schema}"')
    await database.execute(
        f'CREATE TABLE "{schema}".jobs (id uuid PRIMARY KEY, type text NOT NULL, '
        "status text NOT NULL, document jsonb NOT NULL, updated_at timestamptz NOT NULL)"
    )
    channel = await connection.channel()
    for name in (queue, f"{queue}.completed"):
        await channel.declare_queue(name, durable=True)
    for start in range(0, n, _FILL_CHUNK):
        stop = min(n, start + _FILL_CHUNK)
        bodies = [m.body.decode() for m in created_messages(start, stop, "bench-celery")]
        await anyio.to_thread.run_sync(_fill, options.rabbitmq_url, queue, bodies)
        outcome.progress = f"queued {stop}/{n}"
    env = {
        **os.environ,
        celery_tasks.BROKER_ENV: options.rabbitmq_url,
        celery_tasks.POSTGRES_ENV: options.postgres_url,
        celery_tasks.SCHEMA_ENV: schema,
        celery_tasks.QUEUE_ENV: queue,
    }
    await anyio.Path(work_dir).mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "peer-celery.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "launcher.bench.celery_tasks",
        "worker",
        "-Q",
        queue,
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    written = [0]
    with log_path.open("ab") as log_file:
        worker = await anyio.open_process(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
        )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(progress_lines, outcome, lambda: f"drained {written[0]}/{n}")
            while written[0] < n:
                if worker.returncode is not None:
                    raise PhaseFailed(
                        f"The Celery worker exited ({worker.returncode}) after {written[0]} of "
                        f"{n} jobs; see {log_path}."
                    )
                await anyio.sleep(_POLL_S)
                written[0] = int(await database.fetchval(f'SELECT count(*) FROM "{schema}".jobs'))
            tg.cancel_scope.cancel()
        span_s = float(
            await database.fetchval(
                f'SELECT extract(epoch FROM max(updated_at) - min(updated_at)) FROM "{schema}".jobs'
            )
        )
    finally:
        with anyio.move_on_after(TEARDOWN_S, shield=True):
            worker.terminate()
            await worker.wait()
        if worker.returncode is None:
            worker.kill()
            await worker.aclose()
    outcome.values["peer_celery_rate"] = (n - 1) / span_s if span_s > 0 else float(n)
    outcome.durations_s["peer_celery_rate"] = span_s
