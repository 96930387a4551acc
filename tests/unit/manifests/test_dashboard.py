"""The Grafana dashboard: the panels the old system had and more, every query on live names,
and the latency panels linked to the traces of their service in the Jaeger datasource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from launcher.serve import SERVICES

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "manifests" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "observatory.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources"

# Each latency panel's link: the service whose traces it searches (the services name
# themselves observatory-<service>), and whether it asks for spans at least as slow as the
# value clicked (where a span's duration is what the panel measures: the handler's run,
# a gateway request; queue wait and end to end lie between spans).
TRACE_LINKS = {
    "Processing latency (handler)": ("observatory-processor", True),
    "Queue wait (submitted → started)": ("observatory-processor", False),
    "End to end (submitted → terminal)": ("observatory-processor", False),
    "Gateway request latency": ("observatory-gateway", True),
}


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


def _datasource(file: str) -> dict[str, object]:
    document = yaml.safe_load((DATASOURCES / file).read_text())
    assert document["apiVersion"] == 1
    (datasource,) = document["datasources"]
    assert isinstance(datasource, dict)
    return datasource


def test_jaeger_is_provisioned_next_to_prometheus_which_stays_the_default() -> None:
    assert sorted(path.name for path in DATASOURCES.iterdir()) == ["jaeger.yml", "prometheus.yml"]
    jaeger = _datasource("jaeger.yml")
    assert jaeger["type"] == "jaeger"
    assert jaeger["url"] == "http://jaeger:16686"  # the Service's query port, in the cluster
    assert jaeger["access"] == "proxy"  # Grafana's server asks, not the browser
    assert not jaeger.get("isDefault")
    assert _datasource("prometheus.yml")["isDefault"] is True
    assert jaeger["uid"] != _datasource("prometheus.yml")["uid"]


def test_issue_19_prometheus_exemplars_open_their_trace_in_jaeger() -> None:
    prometheus = _datasource("prometheus.yml")
    json_data = prometheus["jsonData"]
    assert isinstance(json_data, dict)
    assert json_data["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": _datasource("jaeger.yml")["uid"]}
    ]


def _explore_pane(url: str) -> dict[str, Any]:
    """The one Explore pane a data link opens (its template variables left in place)."""
    parts = urlsplit(url)
    assert parts.path == "/explore", url  # relative: Grafana's own host, however reached
    query = parse_qs(parts.query, strict_parsing=True)
    assert query["schemaVersion"] == ["1"]
    (panes,) = query["panes"]
    decoded = json.loads(panes)
    assert isinstance(decoded, dict)
    (pane,) = decoded.values()
    assert isinstance(pane, dict)
    return pane


def test_the_latency_panels_link_to_the_traces_of_their_service_in_jaeger() -> None:
    uid = _datasource("jaeger.yml")["uid"]
    panels: list[dict[str, Any]] = _panels()
    latency = [panel for panel in panels if panel["fieldConfig"]["defaults"].get("unit") == "s"]
    assert {panel["title"] for panel in latency} == set(TRACE_LINKS)
    traced = {f"observatory-{service}" for service in SERVICES}
    for panel in latency:
        service, at_least_this_slow = TRACE_LINKS[panel["title"]]
        assert service in traced
        (link,) = panel["fieldConfig"]["defaults"]["links"]
        assert "Jaeger" in link["title"]
        pane = _explore_pane(link["url"])
        assert pane["datasource"] == uid
        # The dashboard's time range, in epoch milliseconds, as Explore takes it.
        assert pane["range"] == {"from": "${__from}", "to": "${__to}"}
        (query,) = pane["queries"]
        expected = {
            "refId": "A",
            "datasource": {"type": "jaeger", "uid": uid},
            "queryType": "search",
            "service": service,
        }
        if at_least_this_slow:
            # The clicked value is in seconds (the panel's unit); Jaeger takes "0.25s".
            expected["minDuration"] = "${__value.raw}s"
        assert query == expected, panel["title"]
