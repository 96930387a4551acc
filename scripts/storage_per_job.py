#!/usr/bin/env python3
"""Measure the storage one job takes in each store, before and after retention prunes it.

Usage: .venv/bin/python scripts/storage_per_job.py [JOBS] [--postgres URL] [--mongo URL]

Writes JOBS echo jobs (default 2000; payload {"message": ...}, result the same, as the
built-in echo handler) through the stores' own calls: the gateway's claim of each job id
in the ledger (claimed, then confirmed), the job store's three transitions (VALIDATED,
EXECUTING, COMPLETED) and the event store's four lifecycle events per job, each carrying
the job document, as the processor emits them. Then prints bytes per job: SQLite file
sizes (after a WAL checkpoint), PostgreSQL pg_total_relation_size of 'jobs' and of
'submissions' (the ledger) and MongoDB collStats (storageSize + totalIndexSize) when
given the URLs; then prunes every job (actors.retention.prune_once) and prints the sizes
again (and, for PostgreSQL, the rows left in both tables). The figures of
docs/operations.md come from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path

from actors.domain.clock import utc_now
from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.submissions import Fingerprint, Submission
from actors.retention import prune_once
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)


def _say(text: str) -> None:
    sys.stdout.write(f"{text}\n")


_PRODUCER = Producer(service="processor", instance_id="processor-1", version="0.1.0")
_BATCH = 250


def _job(n: int) -> JobSpec:
    return JobSpec(
        id=str(uuid.uuid4()),
        type="echo",
        created_at=utc_now(),
        correlation_id=str(uuid.uuid4()),
        payload={"message": f"hello {n}"},
        metadata={},
    )


async def _write(jobs: object, events: object, count: int) -> None:
    for start in range(0, count, _BATCH):
        specs = [_job(n) for n in range(start, min(count, start + _BATCH))]
        claims = [
            Submission(
                spec.id,
                Fingerprint.of({"type": spec.type, "payload": spec.payload}).encode(),
                str(uuid.uuid4()),
                utc_now(),
            )
            for spec in specs
        ]
        await jobs.claim_submissions(claims)  # type: ignore[attr-defined]
        await jobs.settle_submissions(claims, [])  # type: ignore[attr-defined]
        moves = []
        for spec in specs:
            moves += [
                JobTransition(job=spec, status=JobStatus.VALIDATED, at=utc_now()),
                JobTransition(job=spec, status=JobStatus.EXECUTING, at=utc_now()),
            ]
        await jobs.apply_transitions(moves)  # type: ignore[attr-defined]
        await jobs.apply_transitions(  # type: ignore[attr-defined]
            [
                JobTransition(
                    job=spec, status=JobStatus.COMPLETED, at=utc_now(), result=dict(spec.payload)
                )
                for spec in specs
            ]
        )
        envelopes = []
        for spec in specs:
            record = await jobs.get_job(spec.id)  # type: ignore[attr-defined]
            for kind in (
                EventType.CREATED,
                EventType.VALIDATED,
                EventType.EXECUTED,
                EventType.COMPLETED,
            ):
                envelopes.append(  # noqa: PERF401
                    Envelope(
                        event_type=kind,
                        event_id=lifecycle_event_id(spec.id, kind, 1),
                        occurred_at=utc_now(),
                        producer=_PRODUCER,
                        correlation_id=spec.correlation_id,
                        idempotency_key=spec.id,
                        payload=record.to_json(),
                    )
                )
        await events.append(envelopes)  # type: ignore[attr-defined]


def _file_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))


async def _sqlite(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {name: root / f"{name}.sqlite3" for name in ("jobs", "events", "dl")}
        async with (
            open_sqlite_job_store(paths["jobs"]) as jobs,
            open_sqlite_event_store(paths["events"]) as events,
            open_sqlite_dead_letter_store(paths["dl"]) as dead_letters,
        ):
            empty = {name: _file_bytes(path) for name, path in paths.items()}
            await _write(jobs, events, count)
            full = {name: _file_bytes(path) for name, path in paths.items()}
            await prune_once(jobs, events, dead_letters, cutoff=utc_now())
            pruned = {name: _file_bytes(path) for name, path in paths.items()}
            with sqlite3.connect(paths["jobs"]) as conn:
                claims_left = conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
        for name in ("jobs", "events"):
            per_job = (full[name] - empty[name]) / count
            _say(
                f"sqlite {name:6} {per_job:8.0f} B/job  (file {full[name]:,} B for {count} jobs; "
                f"after pruning all: {pruned[name]:,} B, free pages reused, no VACUUM)"
            )
        _say(f"sqlite ledger: {claims_left} claims left after pruning all")


async def _postgres(url: str, count: int) -> None:
    import asyncpg

    from actors.stores.postgres import open_postgres_job_store

    schema = f"measure_{uuid.uuid4().hex[:8]}"
    tables = ("jobs", "submissions")
    conn = await asyncpg.connect(url)

    async def sizes() -> dict[str, int]:
        for table in tables:
            await conn.execute(f'VACUUM "{schema}".{table}')
        return {
            table: await conn.fetchval(f"SELECT pg_total_relation_size('\"{schema}\".{table}')")
            for table in tables
        }

    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with (
                open_postgres_job_store(url, schema=schema) as jobs,
                open_sqlite_event_store(Path(tmp) / "events.sqlite3") as events,
                open_sqlite_dead_letter_store(Path(tmp) / "dl.sqlite3") as dead_letters,
            ):
                empty = await sizes()
                await _write(jobs, events, count)
                full = await sizes()
                await prune_once(jobs, events, dead_letters, cutoff=utc_now())
                left = {
                    table: await conn.fetchval(f'SELECT count(*) FROM "{schema}".{table}')
                    for table in tables
                }
        for table in tables:
            _say(
                f"postgres {table:11} {(full[table] - empty[table]) / count:6.0f} B/job  "
                f"(pg_total_relation_size {full[table]:,} B for {count} jobs; "
                f"rows left after pruning all: {left[table]})"
            )
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def _mongo(url: str, count: int) -> None:
    import pymongo

    from actors.stores.memory import MemoryJobStore
    from actors.stores.mongo import open_mongo_event_store

    database = f"measure_{uuid.uuid4().hex[:8]}"
    client: pymongo.AsyncMongoClient[dict[str, object]] = pymongo.AsyncMongoClient(url)
    try:
        async with open_mongo_event_store(url, database=database) as events:
            await _write(MemoryJobStore(), events, count)
        try:
            stats = await client[database].command("collStats", "job_events")
            total = int(stats.get("storageSize", 0)) + int(stats.get("totalIndexSize", 0))
            data = int(stats.get("size", 0))
            _say(
                f"mongo  events {total / count:8.0f} B/job  (collStats storage+indexes; "
                f"documents {data / count:.0f} B/job)"
            )
        except pymongo.errors.PyMongoError as exc:
            _say(f"mongo  events  not measurable here: collStats answered {exc}")
    finally:
        await client.drop_database(database)
        await client.close()


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", type=int, nargs="?", default=2000)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--mongo", default=None)
    args = parser.parse_args()
    await _sqlite(args.jobs)
    if args.postgres:
        await _postgres(args.postgres, args.jobs)
    if args.mongo:
        await _mongo(args.mongo, args.jobs)


if __name__ == "__main__":
    asyncio.run(_main())
