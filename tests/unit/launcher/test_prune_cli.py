"""``observatory prune`` and the retention flags of ``up`` (issue 17, item 4): parsing
only; the passes themselves run in tests/e2e/test_retention.py and
tests/integration/test_prune_postgres.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from launcher.cli import build_parser, main
from launcher.prune_cli import retention_overrides


def test_prune_parses_its_duration_and_flags() -> None:
    args = build_parser().parse_args(["prune", "--older-than", "7d", "--dry-run"])
    assert (args.command, args.older_than, args.dry_run) == ("prune", timedelta(days=7), True)
    assert (args.data_dir, args.namespace) == (None, None)


def test_prune_refuses_a_bad_duration_naming_the_units(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--older-than", "seven days"])
    assert exit_info.value.code == 2
    assert (
        "argument --older-than: 'seven days' is not a duration: write a number and a unit, "
        "d (days), h (hours), m (minutes) or s (seconds), e.g. 7d, 12h or 30m."
    ) in capsys.readouterr().err


def test_prune_needs_an_age(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["prune"])
    assert "the following arguments are required: --older-than" in capsys.readouterr().err


def test_up_takes_the_retention_flags_and_leaves_the_environment_alone_without_them() -> None:
    given = build_parser().parse_args(["up", "--retain-days", "0", "--prune-interval", "1"])
    assert retention_overrides(given) == {"retain_days": 0.0, "prune_interval_s": 1.0}
    assert retention_overrides(build_parser().parse_args(["up"])) == {}


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--retain-days", "-1", "-1 is negative"),
        ("--prune-interval", "0", "must be more than 0"),
        ("--retain-days", "x", "'x' is not a number"),
    ],
)
def test_up_refuses_bad_retention_values(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", flag, value])
    assert message in capsys.readouterr().err
