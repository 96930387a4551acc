"""``observatory bench``: its percentiles, command line and report (no timing asserted)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from launcher.bench import (
    FIGURES,
    BenchMode,
    BenchOptions,
    BenchReport,
    Phase,
    PhaseOutcome,
    PhaseStatus,
    bench_main,
    bench_options,
    nearest_rank,
    run_bench,
)
from launcher.cli import build_parser, main

if TYPE_CHECKING:
    from pathlib import Path

# -- nearest-rank percentiles ---------------------------------------------------------------

WIKIPEDIA = [15.0, 20.0, 35.0, 40.0, 50.0]
"""The worked example of the nearest-rank method (ranks ceil(p/100 * 5))."""


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (5, 15.0),
        (20, 15.0),
        (30, 20.0),
        (40, 20.0),
        (50, 35.0),
        (80, 40.0),
        (81, 50.0),
        (100, 50.0),
    ],
)
def test_nearest_rank_matches_the_worked_example(percent: float, expected: float) -> None:
    assert nearest_rank(WIKIPEDIA, percent) == expected


def test_nearest_rank_sorts_its_input_and_never_interpolates() -> None:
    values = [0.3, 0.1, 0.4, 0.2]
    # n = 4: p50 -> rank 2, p51 -> rank ceil(2.04) = 3, p75 -> rank 3, p76 -> rank 4.
    assert [nearest_rank(values, p) for p in (1, 25, 50, 51, 75, 76, 100)] == [
        0.1,
        0.1,
        0.2,
        0.3,
        0.3,
        0.4,
        0.4,
    ]


def test_nearest_rank_computes_the_rank_exactly() -> None:
    hundred = [float(i) for i in range(1, 101)]
    # 0.07 * 100 is 7.000000000000001 in binary floating point; the rank is still 7.
    assert nearest_rank(hundred, 7) == 7.0
    assert nearest_rank(hundred, 50) == 50.0
    assert nearest_rank(hundred, 95) == 95.0
    assert nearest_rank(hundred, 99) == 99.0
    assert nearest_rank(hundred, 99.5) == 100.0
    assert nearest_rank([2.5], 50) == 2.5


@pytest.mark.parametrize(("values", "percent"), [([], 50), ([1.0], 0), ([1.0], 101), ([1.0], -5)])
def test_nearest_rank_refuses_what_has_no_percentile(values: list[float], percent: float) -> None:
    with pytest.raises(ValueError, match=r"^Need values and 0 < percent <= 100"):
        nearest_rank(values, percent)


# -- the command line -----------------------------------------------------------------------


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
    assert "single, batch, latency, processor, relay" in out
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


# -- the report -----------------------------------------------------------------------------


def _report() -> BenchReport:
    report = BenchReport(
        mode=BenchMode.EMBEDDED,
        jobs=300,
        concurrency=16,
        batch_size=100,
        started_at="2026-11-27T10:00:00.000000Z",
        gateway_url="http://user:secret@127.0.0.1:3000",
        read_model_url="http://127.0.0.1:8080",
        processor_adapters="the in-process broker + SQLite",
        rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/",
    )
    report.outcomes[Phase.SINGLE] = PhaseOutcome(
        Phase.SINGLE,
        values={"submit_rate_single": 300.0, "e2e_rate_single": 250.0},
        durations_s={"submit_rate_single": 1.0, "e2e_rate_single": 1.2},
        duration_s=1.2,
    )
    report.outcomes[Phase.PROCESSOR] = PhaseOutcome(
        Phase.PROCESSOR,
        values={"processor_alone_rate": 2000.0},
        durations_s={"processor_alone_rate": 0.15},
    )
    report.outcomes[Phase.RELAY] = PhaseOutcome(
        Phase.RELAY, PhaseStatus.SKIPPED, note="skipped (--skip relay)"
    )
    return report


def test_json_report_names_every_figure_and_why_one_is_missing() -> None:
    doc = json.loads(json.dumps(_report().to_json()))
    for figure in FIGURES:
        assert figure.key in doc
    for key in ("jobs", "concurrency", "batch_size", "mode", "python", "started_at"):
        assert key in doc
    assert (doc["jobs"], doc["concurrency"], doc["batch_size"], doc["mode"]) == (
        300,
        16,
        100,
        "embedded",
    )
    assert doc["submit_rate_single"] == 300.0
    assert doc["processor_alone_rate"] == 2000.0
    assert doc["relay_ceiling_rate"] is None
    assert doc["processor_vs_relay"] is None
    assert doc["reasons"]["relay_ceiling_rate"] == "phase relay skipped: skipped (--skip relay)"
    assert doc["reasons"]["processor_vs_relay"] == (
        "needs both processor_alone_rate and relay_ceiling_rate"
    )
    assert doc["reasons"]["submit_rate_batch"] == "phase batch did not run"
    assert doc["phases"]["relay"]["status"] == "skipped"
    assert doc["gateway_url"] == "http://user:***@127.0.0.1:3000"
    assert doc["ok"] is True


def test_processor_vs_relay_is_derived_when_both_rates_exist() -> None:
    report = _report()
    report.outcomes[Phase.RELAY] = PhaseOutcome(Phase.RELAY, values={"relay_ceiling_rate": 4000.0})
    assert report.figures()["processor_vs_relay"] == 0.5
    assert "processor_vs_relay" not in report.reasons()


def test_a_failed_phase_makes_the_report_not_ok() -> None:
    report = _report()
    assert report.ok
    report.outcomes[Phase.BATCH] = PhaseOutcome(
        Phase.BATCH, PhaseStatus.FAILED, note="Did not finish within 60 s."
    )
    assert not report.ok
    assert report.to_json()["ok"] is False


def test_table_shows_each_figure_with_its_unit_and_status() -> None:
    table = _report().render_table()
    lines = table.splitlines()
    assert lines[0].split() == ["phase", "figure", "value", "duration"]
    for figure in FIGURES:
        assert figure.key in table
    assert any("submit_rate_single" in line and "300 jobs/s" in line for line in lines)
    assert any("relay_ceiling_rate" in line and "skipped" in line for line in lines)
    assert "relay (skipped, 0.0 s): skipped (--skip relay)" in table


def test_run_line_redacts_urls_and_names_the_runtime() -> None:
    line = _report().describe_run()
    assert "secret" not in line
    assert "mode embedded" in line
    assert "jobs 300, concurrency 16, batch size 100" in line
    assert "uvloop off" in line


# -- runs that need no system ---------------------------------------------------------------


async def test_skipping_every_phase_starts_nothing(tmp_path: Path) -> None:
    report = await run_bench(BenchOptions(skip=frozenset(Phase), work_dir=tmp_path))
    assert [o.status for o in report.outcomes.values()] == [PhaseStatus.SKIPPED] * len(Phase)
    assert report.ok
    assert report.gateway_url is None


async def test_an_unreachable_system_fails_its_phases_with_a_clear_message(
    tmp_path: Path,
) -> None:
    options = BenchOptions(
        mode=BenchMode.EXTERNAL,
        gateway_url="http://127.0.0.1:1",
        read_model_url="http://127.0.0.1:1",
        jobs=10,
        skip=frozenset({Phase.PROCESSOR, Phase.RELAY}),
        work_dir=tmp_path,
    )
    report = await run_bench(options)
    assert not report.ok
    for phase in (Phase.SINGLE, Phase.BATCH, Phase.LATENCY):
        outcome = report.outcomes[phase]
        assert outcome.status is PhaseStatus.FAILED
        assert outcome.note.startswith(
            "The system under test is not reachable (gateway http://127.0.0.1:1, "
            "read model http://127.0.0.1:1): ConnectError"
        )
