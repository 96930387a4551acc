"""``observatory bench`` on the command line: its flags, the options they make, and the
entry point the CLI calls, which prints the report (or runs ``--soak`` instead).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from actors.config.urls import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_RABBITMQ_URL,
    DEFAULT_REDIS_URL,
    redact,
    url_from_env,
)
from actors.errors import ConfigError
from launcher._arguments import parse_number
from launcher.bench.options import MAX_BATCH_SIZE, BenchMode, BenchOptions
from launcher.bench.phase import say
from launcher.bench.report import Phase
from launcher.bench.run import run_bench, system_under_test

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from launcher.soak import SoakReport, SoakSample

__all__ = ["BENCH_EPILOG", "add_bench_arguments", "bench_main", "bench_options"]

BENCH_EPILOG = """\
examples:
  observatory bench                                   embedded system, 20,000 jobs per phase
  observatory bench --jobs 2000 --skip relay --json bench.json
  observatory bench --mode local                      one process per service, real servers
  observatory bench --mode local --processors 2       the same with two processor processes
  observatory bench --gateway-url http://127.0.0.1:3000 --read-model-url http://127.0.0.1:8080

figures (jobs/s unless noted): submit_rate_single, e2e_rate_single, submit_rate_batch,
e2e_rate_batch, latency_rate, latency_p50_s/p95_s/p99_s/max_s (seconds, nearest rank),
http_ceiling_rate, processor_single_rate (one envelope per message),
processor_alone_rate (packed as POST /jobs/batch publishes), relay_ceiling_rate
(msgs/s), event_store_rate (jobs whose 4 lifecycle events the event store alone
stores), peer_celery_rate; ratios: processor_vs_relay, processor_single_vs_relay,
processor_vs_celery, e2e_batch_vs_relay, submit_single_vs_http_ceiling,
e2e_batch_vs_event_store.
A system the bench starts has no submission rate limit; a running one's 429 answers are
waited out (Retry-After) and counted. peer_celery needs pip install -e .[bench].
A phase fails after max(60, jobs/100) s; the exit code is 1 when any phase failed.
"""
"""The end of ``observatory bench --help``: examples, and every figure."""


def _count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = parse_number(
            text, lambda t: int(t.replace("_", "").replace(",", "")), "a whole number"
        )
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (must be {bound})")
        return value

    return parse


def _http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text.rstrip("/")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``observatory bench``'s options to ``parser``."""
    parser.add_argument(
        "--mode",
        choices=[BenchMode.EMBEDDED.value, BenchMode.LOCAL.value],
        default=None,
        help="start the system under test here: embedded (observatory up in a temp dir; "
        "the default without URLs) or local (observatory up --infra local on its own "
        "namespace of RABBITMQ_URL, POSTGRES_URL, REDIS_URL, MONGO_URL; nx-27017 when "
        "MONGO_URL is unset)",
    )
    parser.add_argument(
        "--processors",
        type=_count(1, 64),
        default=1,
        metavar="N",
        help="with --mode local: N processor processes on the same queues (up --processors; "
        "default: %(default)s)",
    )
    parser.add_argument(
        "--gateway-url", type=_http_url, metavar="URL", help="gateway of a running system"
    )
    parser.add_argument(
        "--read-model-url",
        type=_http_url,
        metavar="URL",
        help="read model of the same running system (needed with --gateway-url)",
    )
    parser.add_argument(
        "--jobs",
        type=_count(1),
        default=20_000,
        metavar="N",
        help="jobs per phase (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=_count(1, 10_000),
        default=64,
        metavar="C",
        help="HTTP requests in flight (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=_count(1, MAX_BATCH_SIZE),
        default=MAX_BATCH_SIZE,
        metavar="B",
        help=f"jobs per POST /jobs/batch, at most {MAX_BATCH_SIZE} (default: %(default)s)",
    )
    parser.add_argument(
        "--json", dest="json_path", type=Path, metavar="PATH", help="also write the report as JSON"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[phase.value for phase in Phase],
        metavar="PHASE",
        help="leave a phase out (repeatable): " + ", ".join(phase.value for phase in Phase),
    )
    parser.add_argument(
        "--rabbitmq-url",
        default=None,
        metavar="URL",
        help="RabbitMQ of the in-process phases and --mode local (default: $RABBITMQ_URL "
        f"or {redact(DEFAULT_RABBITMQ_URL)})",
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        metavar="URL",
        help="PostgreSQL of the processor phase and --mode local (default: $POSTGRES_URL "
        f"or {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="MINUTES",
        help="instead of the phases: a steady load for MINUTES, memory (RSS per service) and "
        "latency sampled every --soak-sample-s; says whether memory stayed flat",
    )
    parser.add_argument(
        "--soak-rate",
        type=float,
        default=100.0,
        metavar="JOBS_PER_S",
        help="jobs a second during --soak (default: %(default)s)",
    )
    parser.add_argument(
        "--soak-sample-s",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between --soak samples (default: %(default)s)",
    )
    parser.add_argument(
        "--soak-pid",
        type=int,
        default=None,
        metavar="PID",
        help="with --gateway-url: the process (and its children) whose memory --soak samples",
    )
    parser.set_defaults(bench_parser=parser)


def bench_options(args: argparse.Namespace) -> BenchOptions:
    """The options of a parsed ``observatory bench`` command line.

    Raises:
        ConfigError: the flags contradict each other.
    """
    urls = (args.gateway_url, args.read_model_url)
    if any(urls) and not all(urls):
        raise ConfigError(
            "--gateway-url and --read-model-url name a running system together; give both."
        )
    if all(urls) and args.mode is not None:
        raise ConfigError(
            f"--mode {args.mode} starts a system of its own; leave it out to bench the running "
            "system at --gateway-url and --read-model-url."
        )
    mode = BenchMode.EXTERNAL if all(urls) else BenchMode(args.mode or BenchMode.EMBEDDED)
    if args.processors != 1 and mode is not BenchMode.LOCAL:
        raise ConfigError(
            f"--processors {args.processors} is a mode of the local system; add --mode local "
            "(the embedded system runs one processor, and a running system has its own)."
        )
    return BenchOptions(
        mode=mode,
        processors=args.processors,
        gateway_url=args.gateway_url,
        read_model_url=args.read_model_url,
        jobs=args.jobs,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        skip=frozenset(Phase(name) for name in args.skip),
        rabbitmq_url=args.rabbitmq_url or url_from_env("RABBITMQ_URL", DEFAULT_RABBITMQ_URL),
        postgres_url=args.postgres_url or url_from_env("POSTGRES_URL", DEFAULT_POSTGRES_URL),
        redis_url=url_from_env("REDIS_URL", DEFAULT_REDIS_URL),
        mongo_url=os.environ.get("MONGO_URL") or None,
    )


@contextmanager
def _logs_to_file(path: Path) -> Iterator[None]:
    """Send this process's log lines to ``path`` (same format) instead of stderr.

    The in-process phases log per job, as the services do; on the terminal those lines
    would bury the progress and the report.
    """
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.FileHandler(path)
    if saved:
        handler.setFormatter(saved[0].formatter)
        for log_filter in saved[0].filters:
            handler.addFilter(log_filter)
    httpx_logger = logging.getLogger("httpx")
    httpx_level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)  # a line per request would tax the load generator
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved
        httpx_logger.setLevel(httpx_level)
        handler.close()


def bench_main(args: argparse.Namespace) -> int:
    """Run ``observatory bench``; returns the exit code (0, or 1 when a phase failed).

    Usage errors end the process through the bench parser (exit code 2).
    """
    try:
        options = bench_options(args)
    except ConfigError as exc:
        args.bench_parser.error(str(exc))
    work_dir = Path(tempfile.mkdtemp(prefix="observatory-bench-"))
    options = dataclasses.replace(options, work_dir=work_dir)
    if args.soak is not None:
        return _soak_main(args, options, work_dir)
    log_path = work_dir / "bench.log"
    say(f"logs of this run go to {log_path} (kept only if a phase fails)")
    with _logs_to_file(log_path):
        report = anyio.run(run_bench, options, backend_options={"use_uvloop": True})
    sys.stdout.write(report.render_table() + "\n\n" + report.describe_run() + "\n")
    sys.stdout.flush()
    code = 0 if report.ok else 1
    if args.json_path is not None:
        try:
            args.json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        except OSError as exc:
            sys.stderr.write(f"observatory bench: cannot write {args.json_path}: {exc}\n")
            code = 1
    if report.ok:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        sys.stderr.write(f"observatory bench: a phase failed; logs kept in {work_dir}\n")
    return code


def _soak_main(args: argparse.Namespace, options: BenchOptions, work_dir: Path) -> int:
    """``observatory bench --soak``: 0 when memory stayed flat and nothing was refused."""
    from launcher.soak import run_soak

    if args.soak <= 0 or args.soak_rate <= 0 or args.soak_sample_s <= 0:
        args.bench_parser.error("--soak, --soak-rate and --soak-sample-s must be positive.")

    def progress(sample: SoakSample) -> None:
        memory = ", ".join(f"{k} {v:.0f} MiB" for k, v in sorted(sample.rss_mib.items()))
        e2e = "/".join(f"{v:.0f}" for v in sample.e2e_ms) or "-"
        say(
            f"t={sample.at_s:.0f}s submitted {sample.submitted} refused {sample.refused} "
            f"e2e {e2e} ms; {memory or 'memory not measured'}"
        )

    async def soak() -> SoakReport:
        async with system_under_test(options, work_dir) as (gateway, read_model, pid):
            return await run_soak(
                gateway,
                read_model,
                minutes=args.soak,
                rate=args.soak_rate,
                pid=pid if pid is not None else args.soak_pid,
                sample_s=args.soak_sample_s,
                on_sample=progress,
            )

    say(
        f"soak: {args.soak:g} min at {args.soak_rate:g} jobs/s, a sample every {args.soak_sample_s:g} s"
    )
    with _logs_to_file(work_dir / "bench.log"):
        report = anyio.run(soak, backend_options={"use_uvloop": True})
    sys.stdout.write(report.render() + "\n")
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    refused = sum(s.refused for s in report.samples)
    shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if report.flat and refused == 0 else 1
