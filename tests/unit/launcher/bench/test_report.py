"""The bench report: nearest-rank percentiles, figures, reasons, JSON and table."""

from __future__ import annotations

import json

import pytest

from launcher.bench import (
    FIGURES,
    RATIOS,
    BenchMode,
    BenchReport,
    Phase,
    PhaseOutcome,
    PhaseStatus,
    nearest_rank,
)

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


def test_every_ratio_is_its_figure_over_its_ceiling_or_peer() -> None:
    report = _report()  # submit_rate_single 300, processor_alone_rate 2000
    report.outcomes[Phase.BATCH] = PhaseOutcome(Phase.BATCH, values={"e2e_rate_batch": 1000.0})
    report.outcomes[Phase.RELAY] = PhaseOutcome(Phase.RELAY, values={"relay_ceiling_rate": 4000.0})
    report.outcomes[Phase.PEER_CELERY] = PhaseOutcome(
        Phase.PEER_CELERY, values={"peer_celery_rate": 500.0}
    )
    report.outcomes[Phase.HTTP_CEILING] = PhaseOutcome(
        Phase.HTTP_CEILING, values={"http_ceiling_rate": 600.0}
    )
    assert set(RATIOS) == {f.key for f in FIGURES if f.phase is None}
    figures = report.figures()
    assert figures["processor_vs_relay"] == 0.5
    assert figures["processor_vs_celery"] == 4.0
    assert figures["e2e_batch_vs_relay"] == 0.25
    assert figures["submit_single_vs_http_ceiling"] == 0.5
    doc = report.to_json()
    for ratio in RATIOS:
        assert doc[ratio] == figures[ratio]
    table = report.render_table()
    assert any(
        "processor_vs_celery" in line and "4.0000 ratio" in line for line in table.splitlines()
    )


def test_a_missing_peer_names_both_sides_of_its_ratio() -> None:
    report = _report()
    report.outcomes[Phase.PEER_CELERY] = PhaseOutcome(
        Phase.PEER_CELERY, PhaseStatus.SKIPPED, note="skipped: celery not installed"
    )
    reasons = report.reasons()
    assert reasons["processor_vs_celery"] == "needs both processor_alone_rate and peer_celery_rate"
    assert reasons["peer_celery_rate"] == "phase peer_celery skipped: skipped: celery not installed"
    assert report.ok


def test_rate_limit_waits_are_in_the_json_and_the_run_line() -> None:
    report = _report()
    report.rate_limit_waits, report.rate_limit_wait_s = 3, 2.5
    doc = report.to_json()
    assert (doc["rate_limit_waits"], doc["rate_limit_wait_s"]) == (3, 2.5)
    assert "429 answers waited out: 3 (2.5 s of Retry-After" in report.describe_run()


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
