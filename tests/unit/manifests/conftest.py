"""What the manifests' queries are checked against: the series the services export."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from actors.config.settings import Settings
from launcher.serve import SERVICES, ServiceProcess

if TYPE_CHECKING:
    from collections.abc import Callable

_PROMQL_FUNCTIONS_AND_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
)


@pytest.fixture(scope="session")
def exported_series() -> set[str]:
    """Every series name the four services export, read from their live registries."""
    names: set[str] = set()
    for service in SERVICES:
        process = ServiceProcess(service, Settings(namespace="names"))
        for family in process.registry.collect():
            if family.type == "counter":
                names.update({f"{family.name}_total", f"{family.name}_created"})
            elif family.type == "histogram":
                names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
            else:
                names.add(family.name)
    return names


def _series_in(expression: str) -> set[str]:
    """The series names a PromQL expression selects (names not called as functions)."""
    text = re.sub(r'"[^"]*"', '""', expression)
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # range durations
    # Grouping clauses name labels, not series: "by (type)", "without (le)", ...
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if is_call or name in _PROMQL_FUNCTIONS_AND_KEYWORDS:
            continue
        names.add(name)
    return names


@pytest.fixture
def series_in() -> Callable[[str], set[str]]:
    """Extracts the series names of a PromQL expression."""
    return _series_in
