"""The Celery app and task of the ``peer_celery`` phase, imported by its worker process.

``python -m celery -A launcher.bench.celery_tasks worker`` runs it; the phase
(:mod:`launcher.bench.peer_celery`) configures it through the environment:
``OBSERVATORY_BENCH_CELERY_BROKER`` (RabbitMQ), ``OBSERVATORY_BENCH_CELERY_POSTGRES``,
``OBSERVATORY_BENCH_CELERY_SCHEMA`` (its own schema there) and
``OBSERVATORY_BENCH_CELERY_QUEUE`` (its queue; completions go to ``QUEUE.completed``).

Per job the task does at least what the observatory's processor does for it: parse the
``job.created`` envelope once, validate it against the contracts (the envelope schema,
then its job against the job schema, with jsonschema-rs as the processor's admission
does), upsert the job's row as COMPLETED in PostgreSQL, and publish a persistent
``job.completed`` message to RabbitMQ with publisher confirms. Tasks are acknowledged
late (after that work), as the processor acks after its store write and publish.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import psycopg
from celery import Celery

from contracts import SchemaName, get_contracts

__all__ = ["BROKER_ENV", "POSTGRES_ENV", "QUEUE_ENV", "SCHEMA_ENV", "app", "process_job"]

BROKER_ENV = "OBSERVATORY_BENCH_CELERY_BROKER"
POSTGRES_ENV = "OBSERVATORY_BENCH_CELERY_POSTGRES"
SCHEMA_ENV = "OBSERVATORY_BENCH_CELERY_SCHEMA"
QUEUE_ENV = "OBSERVATORY_BENCH_CELERY_QUEUE"

_QUEUE = os.environ.get(QUEUE_ENV, "observatory-bench-celery")

app = Celery("observatory_bench_peer", broker=os.environ.get(BROKER_ENV, "amqp://"))
app.conf.update(
    task_ignore_result=True,
    task_default_queue=_QUEUE,
    task_acks_late=True,
    worker_prefetch_multiplier=8,
    broker_heartbeat=0,
    broker_transport_options={"confirm_publish": True},
    worker_hijack_root_logger=False,
)

_local = threading.local()


def _connection() -> psycopg.Connection[Any]:
    """This thread's PostgreSQL connection (autocommit), opened on first use."""
    connection: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    if connection is None:
        connection = psycopg.connect(os.environ[POSTGRES_ENV], autocommit=True)
        _local.connection = connection
    return connection


@app.task(name="observatory_bench.process_job")  # type: ignore[untyped-decorator]
def process_job(body: str) -> None:
    """Validate one ``job.created`` envelope, upsert its job as COMPLETED, publish that.

    Raises:
        contracts.errors.InvalidMessage: the envelope or its job breaks the contracts.
    """
    contracts = get_contracts()
    envelope = json.loads(body)
    contracts.validate(SchemaName.EVENT_ENVELOPE, envelope)
    job = envelope["payload"]
    contracts.validate(SchemaName.JOB, job)
    completed = {**job, "status": "COMPLETED"}
    schema = os.environ[SCHEMA_ENV]
    with _connection().cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{schema}".jobs (id, type, status, document, updated_at) '
            "VALUES (%s, %s, 'COMPLETED', %s, clock_timestamp()) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
            "document = excluded.document, updated_at = excluded.updated_at",
            (job["id"], job["type"], json.dumps(completed)),
        )
    with app.producer_pool.acquire(block=True) as producer:
        producer.publish(
            {"eventType": "job.completed", "jobId": job["id"], "job": completed},
            routing_key=f"{_QUEUE}.completed",
            serializer="json",
            delivery_mode=2,
            retry=True,
        )
