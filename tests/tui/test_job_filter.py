"""The filter line's syntax (``launcher/tui/job_filter.py``): words to ``GET /jobs``
parameters, and a message naming each mistake."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from launcher.tui.job_filter import FilterSyntaxError, parse_filter

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_every_key_becomes_its_search_parameter() -> None:
    parsed = parse_filter(
        'status:failed,Pending type:resize,echo error:"connection reset" q:2f6c corr:c-1 '
        "Priority:0 since:15m until:2026-12-01T11:00:00Z"
    )
    assert parsed is not None
    assert parsed.params(NOW) == [
        ("status", "FAILED"),
        ("status", "PENDING"),
        ("type", "resize"),
        ("type", "echo"),
        ("error", "connection reset"),
        ("q", "2f6c"),
        ("correlationId", "c-1"),
        ("priority", "0"),
        ("createdAfter", "2026-12-01T11:45:00+00:00"),
        ("createdBefore", "2026-12-01T11:00:00Z"),
    ]


def test_a_duration_is_measured_again_at_each_refresh() -> None:
    parsed = parse_filter("since:2h")
    assert parsed is not None
    later = NOW.replace(hour=13)
    assert parsed.params(NOW) == [("createdAfter", "2026-12-01T10:00:00+00:00")]
    assert parsed.params(later) == [("createdAfter", "2026-12-01T11:00:00+00:00")]


def test_bare_words_are_q_and_a_blank_line_is_no_filter() -> None:
    parsed = parse_filter("  abc def  ")
    assert parsed is not None
    assert parsed.params(NOW) == [("q", "abc def")]
    assert parsed.text == "  abc def  "
    assert parse_filter("   ") is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "status:nope",
            "status:nope is not a status; one of completed, executing, failed, pending, validated.",
        ),
        (
            "colour:red",
            "Unknown key 'colour' in 'colour:red'; the keys are corr, error, priority, q, since, "
            "status, type, until.",
        ),
        ("type:", "type: needs a value, e.g. type:resize."),
        ("priority:10", "priority:10 is not a priority; a whole number from 0 to 9."),
        ("priority:-1", "priority:-1 is not a priority; a whole number from 0 to 9."),
        ("priority:", "priority: needs a value, e.g. priority:7."),
        ("type:a type:b", "type: is given twice; give it once (commas for several)."),
        ('error:"open', "No closing quotation: close the quote."),
        ("q:a b", "Both q:a and the bare word 'b': a bare word is q: too."),
        (
            "since:yesterday",
            "since:yesterday is neither a duration ago (90s, 15m, 2h, 7d) nor an RFC 3339 "
            "time (2026-12-01T09:30:00Z).",
        ),
    ],
)
def test_each_mistake_is_named(line: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=f"^{re.escape(message)}$"):
        parse_filter(line)
