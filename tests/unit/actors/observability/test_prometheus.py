"""Metric helpers: bounded labels."""

from __future__ import annotations

from actors.observability.prometheus import OTHER_LABEL, BoundedLabel


def test_a_bounded_label_admits_known_values_and_the_first_n_others() -> None:
    label = BoundedLabel(["echo"], max_values=2)
    assert [label(v) for v in ("a", "b", "c", "a", "echo", "d")] == [
        "a",
        "b",
        OTHER_LABEL,
        "a",
        "echo",
        OTHER_LABEL,
    ]
