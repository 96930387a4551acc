"""``observatory bench`` on the command line: help, flags, options and usage errors."""

from __future__ import annotations

import pytest

from launcher.bench import BenchMode, Phase, bench_main, bench_options
from launcher.cli import build_parser, main


def test_bench_help_shows_flags_defaults_phases_and_examples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # as wrapped for any terminal width
    for flag in (
        "--mode {embedded,local}",
        "--gateway-url URL",
        "--read-model-url URL",
        "--jobs N",
        "--concurrency C",
        "--batch-size B",
        "--json PATH",
        "--skip PHASE",
        "--rabbitmq-url URL",
        "--postgres-url URL",
    ):
        assert flag in out
    assert "jobs per phase (default: 20000)" in out
    assert "HTTP requests in flight (default: 64)" in out
    assert "at most 1000 (default: 1000)" in out
    assert "single, batch, latency, http_ceiling, processor, relay, event_store, peer_celery" in out
    assert "observatory bench --mode local" in out
    assert "max(60, jobs/100)" in out


def test_bench_is_listed_in_the_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "measure throughput and latency" in capsys.readouterr().out


def test_bench_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_URL", "amqp://u:p@rabbit:5672/")
    monkeypatch.delenv("POSTGRES_URL", raising=False)
    monkeypatch.delenv("MONGO_URL", raising=False)
    options = bench_options(build_parser().parse_args(["bench"]))
    assert options.mode is BenchMode.EMBEDDED
    assert (options.jobs, options.concurrency, options.batch_size) == (20_000, 64, 1000)
    assert options.skip == frozenset()
    assert options.rabbitmq_url == "amqp://u:p@rabbit:5672/"
    assert options.postgres_url == "postgresql://postgres@127.0.0.1:5432/test"
    assert options.mongo_url is None
    assert options.phase_deadline_s == 200.0


def test_bench_options_from_flags() -> None:
    args = build_parser().parse_args(
        [
            "bench",
            "--gateway-url",
            "http://127.0.0.1:3000/",
            "--read-model-url",
            "http://127.0.0.1:8080",
            "--jobs",
            "1_000",
            "--concurrency",
            "8",
            "--batch-size",
            "50",
            "--skip",
            "relay",
            "--skip",
            "processor",
            "--rabbitmq-url",
            "amqp://elsewhere/",
        ]
    )
    options = bench_options(args)
    assert options.mode is BenchMode.EXTERNAL
    assert (options.gateway_url, options.read_model_url) == (
        "http://127.0.0.1:3000",
        "http://127.0.0.1:8080",
    )
    assert (options.jobs, options.concurrency, options.batch_size) == (1000, 8, 50)
    assert options.skip == {Phase.RELAY, Phase.PROCESSOR}
    assert options.rabbitmq_url == "amqp://elsewhere/"
    assert options.phase_deadline_s == 60.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jobs", "0"], "argument --jobs: 0 is out of range (must be >= 1)"),
        (["--jobs", "many"], "argument --jobs: 'many' is not a whole number"),
        (
            ["--concurrency", "0"],
            "argument --concurrency: 0 is out of range (must be from 1 to 10000)",
        ),
        (
            ["--batch-size", "1001"],
            "argument --batch-size: 1001 is out of range (must be from 1 to 1000)",
        ),
        (["--skip", "everything"], "argument --skip: invalid choice: 'everything'"),
        (["--mode", "cluster"], "argument --mode: invalid choice: 'cluster'"),
        (["--gateway-url", "localhost:3000"], "'localhost:3000' is not an http:// or https:// URL"),
    ],
)
def test_bad_values_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["bench", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--gateway-url", "http://127.0.0.1:3000"],
            "--gateway-url and --read-model-url name a running system together; give both.",
        ),
        (
            [
                "--mode",
                "local",
                "--gateway-url",
                "http://127.0.0.1:3000",
                "--read-model-url",
                "http://127.0.0.1:8080",
            ],
            "--mode local starts a system of its own; leave it out to bench the running "
            "system at --gateway-url and --read-model-url.",
        ),
        (
            ["--processors", "2"],
            "--processors 2 is a mode of the local system; add --mode local (the embedded "
            "system runs one processor, and a running system has its own).",
        ),
    ],
)
def test_contradicting_flags_are_refused_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["bench", *argv])
    with pytest.raises(SystemExit) as exit_info:
        bench_main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: observatory bench")
    assert message in err


def test_issue_19_processors_pass_to_the_local_system_and_into_the_report() -> None:
    from launcher.bench.options import BenchMode
    from launcher.bench.report import BenchReport

    args = build_parser().parse_args(["bench", "--mode", "local", "--processors", "2"])
    options = bench_options(args)
    assert (options.mode, options.processors) == (BenchMode.LOCAL, 2)
    assert bench_options(build_parser().parse_args(["bench"])).processors == 1
    report = BenchReport(
        mode=BenchMode.LOCAL, jobs=1, concurrency=1, batch_size=1, started_at="now", processors=2
    )
    assert report.to_json()["processors"] == 2
    assert "2 processor processes" in report.describe_run()
