"""The Grafana dashboard: the panels the old system had and more, every query on live names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "manifests" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "observatory.json"


def _dashboard() -> dict[str, object]:
    document = json.loads(DASHBOARD.read_text())
    assert isinstance(document, dict)
    return document


def _panels() -> list[dict[str, object]]:
    panels = _dashboard()["panels"]
    assert isinstance(panels, list)
    return panels


def test_the_dashboard_has_the_old_panels_and_the_golden_signals() -> None:
    titles = {str(panel["title"]) for panel in _panels()}
    assert {
        "Submitted",
        "Accepted",
        "Completed",
        "Failed",
        "Throughput",
        "Processing latency (handler)",
        "Queue wait (submitted → started)",
        "End to end (submitted → terminal)",
        "Failure ratio by type",
        "Dead letters",
        "Actor restarts",
        "Queue depth",
    } <= titles
    latency = next(p for p in _panels() if p["title"] == "Processing latency (handler)")
    targets = latency["targets"]
    assert isinstance(targets, list)
    assert [t["legendFormat"] for t in targets] == ["p50", "p95", "p99"]


def test_every_query_uses_series_the_services_export(
    exported_series: set[str], series_in: Callable[[str], set[str]]
) -> None:
    queried: dict[str, set[str]] = {}
    for panel in _panels():
        targets = panel["targets"]
        assert isinstance(targets, list)
        assert targets, f"panel {panel['title']!r} has no query"
        for target in targets:
            queried[str(target["expr"])] = series_in(str(target["expr"]))
    missing = {
        expr: names - exported_series for expr, names in queried.items() if names - exported_series
    }
    assert not missing, f"queries on series no service exports: {missing}"
    assert all(queried.values()), "a query selects no series"


def test_the_panels_use_the_provisioned_datasource_and_do_not_overlap() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = provisioned["datasources"][0]["uid"]
    cells: set[tuple[int, int]] = set()
    for panel in _panels():
        datasource = panel["datasource"]
        assert isinstance(datasource, dict)
        assert datasource["uid"] == uid
        grid = panel["gridPos"]
        assert isinstance(grid, dict)
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['title']!r} overlaps another"
                cells.add((x, y))
        assert grid["x"] + grid["w"] <= 24
