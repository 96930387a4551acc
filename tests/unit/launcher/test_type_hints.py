"""The TUI's type hints: ``GET /types`` entries parsed, schemas described, examples built."""

from __future__ import annotations

import pytest

from launcher.tui.models import MalformedDocument
from launcher.tui.type_hints import JobTypeInfo, example_payload, schema_properties, type_hint

SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["width", "mode", "tags", "name"],
    "properties": {
        "width": {"type": "integer", "minimum": 1, "description": "Pixels."},
        "mode": {"enum": ["fit", "fill"]},
        "tags": {"type": ["array", "null"]},
        "depth": {"type": "integer", "default": 8},
    },
}


def test_an_example_has_every_required_property_with_a_value_of_its_type() -> None:
    assert example_payload(SCHEMA) == {"width": 1, "mode": "fit", "tags": [], "name": ""}
    assert example_payload({"examples": [{"a": 1}], "required": ["b"]}) == {"a": 1}
    assert example_payload({}) == {}


def test_properties_list_required_ones_first_with_types_and_constraints() -> None:
    assert schema_properties(SCHEMA) == [
        ("width", "integer, ≥ 1", True, "Pixels."),
        ("mode", 'one of "fit", "fill"', True, ""),
        ("tags", "array | null", True, ""),
        ("name", "any", True, ""),
        ("depth", "integer, default 8", False, ""),
    ]


def test_types_entries_parse_and_the_hint_reads_as_a_sentence() -> None:
    info = JobTypeInfo.from_json(
        {"type": "resize", "description": "Halve it.", "mode": "thread", "payloadSchema": SCHEMA}
        | {"timeoutS": 2.5, "maxAttempts": 4, "retryBackoffS": None, "concurrency": None}
    )
    assert (info.timeout_s, info.max_attempts, info.concurrency) == (2.5, 4, None)
    hint = type_hint("resize", {"resize": info}).plain
    assert hint.startswith("resize: Halve it.\n  runs in a worker thread · timeout 2.5 s")
    assert "    width integer, ≥ 1 required — Pixels." in hint
    assert hint.endswith(
        'example (ctrl+t fills it in): {"width": 1, "mode": "fit", "tags": [], "name": ""}'
    )
    assert type_hint("", {"resize": info}).plain == ""
    assert type_hint("nope", {}).plain == ""  # no /types: nothing to say
    with pytest.raises(MalformedDocument):
        JobTypeInfo.list_from_json([{"type": 3}])


def test_a_rate_limit_shows_in_the_hint() -> None:
    info = JobTypeInfo.from_json(
        {"type": "fetch", "mode": "async", "concurrency": 4, "rateLimitPerS": 5}
    )
    assert info.rate_limit_per_s == 5.0
    assert "runs on the event loop · at most 4 at once · at most 5 starts/s" in (
        type_hint("fetch", {"fetch": info}).plain
    )
    # An older read model says nothing of it.
    assert JobTypeInfo.from_json({"type": "fetch"}).rate_limit_per_s is None
