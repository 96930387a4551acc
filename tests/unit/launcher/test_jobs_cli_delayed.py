"""``observatory submit --in DURATION`` and ``--at TIME`` (issue 18, item 1): parsed into
the client's ``run_at``; anything else is a usage error naming the value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from launcher.cli import build_parser


def test_in_is_a_wait_and_at_an_aware_time() -> None:
    parser = build_parser()

    later = parser.parse_args(["submit", "echo", "--in", "10m"])
    timed = parser.parse_args(["submit", "echo", "--at", "2026-12-06T10:00:00Z"])
    now = parser.parse_args(["submit", "echo"])

    assert (later.delay, later.run_at) == (timedelta(minutes=10), None)
    assert (timed.delay, timed.run_at) == (None, datetime(2026, 12, 6, 10, tzinfo=UTC))
    assert (now.delay, now.run_at) == (None, None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--in", "0s"], "'0s' is not a duration above 0 such as 90s, 10m, 2h or 7d"),
        (["--in", "soon"], "'soon' is not a duration above 0 such as 90s, 10m, 2h or 7d"),
        (
            ["--at", "2026-12-06T10:00:00"],
            "'2026-12-06T10:00:00' is not an RFC 3339 time with a timezone, e.g. "
            "2026-12-06T10:00:00Z",
        ),
        (["--in", "5m", "--at", "2026-12-06T10:00:00Z"], "not allowed with argument"),
    ],
)
def test_a_bad_delay_is_a_usage_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["submit", "echo", *args])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err
