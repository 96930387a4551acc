"""The trace backend in the cluster (issue 19, item 4), on what `kubectl kustomize` renders.

Jaeger (manifests/base/jaeger.yaml, configured by manifests/base/monitoring/jaeger/
config.yaml) receives the four services' spans over OTLP/HTTP and answers Grafana and the
forwarded UI; the read model links a job's trace to where `cluster up` forwards that UI.
Its hardening and its network flows are checked with every other pod's in
test_security.py and test_kubernetes.py.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import yaml

from launcher.cluster import kubectl
from launcher.serve import SERVICES
from tests.unit.manifests.kustomize import Obj, render

if TYPE_CHECKING:
    from collections.abc import Mapping

NAME = "app.kubernetes.io/name"
_MEBIBYTES = {"Mi": 1, "MiB": 1, "Gi": 1024, "GiB": 1024}


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return render()


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _container(deployment: Obj) -> Obj:
    containers: list[Obj] = deployment["spec"]["template"]["spec"]["containers"]
    (container,) = containers
    return container


def _env(container: Obj) -> dict[str, str | None]:
    return {variable["name"]: variable.get("value") for variable in container.get("env", [])}


def _mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(MiB|Mi|GiB|Gi)", quantity)
    assert match, quantity
    return int(match.group(1)) * _MEBIBYTES[match.group(2)]


def _port(endpoint: str) -> int:
    """The port of a collector endpoint such as ``0.0.0.0:4318``."""
    host, _, port = endpoint.rpartition(":")
    # Every pod's address: the Service forwards to the pod IP, the kubelet probes it.
    assert host == "0.0.0.0", endpoint
    return int(port)


def _config(objects: list[Obj], deployment: Obj) -> Mapping[str, object]:
    """Jaeger's configuration: the file its ``--config`` names, from the mounted ConfigMap."""
    container = _container(deployment)
    (flag,) = container["args"]
    path = flag.removeprefix("--config=")
    directory, _, key = path.rpartition("/")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {
        v["name"]: v["configMap"]["name"]
        for v in deployment["spec"]["template"]["spec"]["volumes"]
        if "configMap" in v
    }
    (configmap_name,) = [volumes[name] for name, mounted in mounts.items() if mounted == directory]
    assert re.fullmatch(r"jaeger-config-[a-z0-9]{10}", configmap_name)
    document = yaml.safe_load(_one(objects, "ConfigMap", configmap_name)["data"][key])
    assert isinstance(document, dict)
    return document


def _container_ports(deployment: Obj) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in _container(deployment)["ports"]}


def test_jaeger_is_one_pinned_instance_whose_config_is_the_mounted_configmap(
    objects: list[Obj],
) -> None:
    jaeger = _one(objects, "Deployment", "jaeger")
    assert re.fullmatch(r"jaegertracing/jaeger:2\.\d+\.\d+", _container(jaeger)["image"])
    # The traces are in its memory: one replica, replaced rather than rolled.
    assert jaeger["spec"]["replicas"] == 1
    assert jaeger["spec"]["strategy"] == {"type": "Recreate"}
    config = _config(objects, jaeger)
    service = config["service"]
    assert isinstance(service, dict)
    # Only what the system uses: OTLP/HTTP in, the query service, the health check.
    assert service["pipelines"] == {
        "traces": {
            "receivers": ["otlp"],
            "processors": ["batch"],
            "exporters": ["jaeger_storage_exporter"],
        }
    }
    assert set(service["extensions"]) == {"jaeger_storage", "jaeger_query", "healthcheckv2"}
    extensions = config["extensions"]
    assert isinstance(extensions, dict)
    assert set(extensions) == set(service["extensions"])


def test_jaeger_listens_where_its_service_and_the_kubelet_look(objects: list[Obj]) -> None:
    jaeger = _one(objects, "Deployment", "jaeger")
    config = _config(objects, jaeger)
    ports = _container_ports(jaeger)
    receivers, extensions = config["receivers"], config["extensions"]
    assert isinstance(receivers, dict)
    assert isinstance(extensions, dict)
    assert list(receivers["otlp"]["protocols"]) == ["http"]
    assert _port(receivers["otlp"]["protocols"]["http"]["endpoint"]) == ports["otlp-http"] == 4318
    assert _port(extensions["jaeger_query"]["http"]["endpoint"]) == ports["http"] == 16686
    # The gRPC query API stays inside the pod: nothing here uses it.
    assert extensions["jaeger_query"]["grpc"]["endpoint"].startswith("127.0.0.1:")
    health = extensions["healthcheckv2"]
    assert health["use_v2"] is True
    assert _port(health["http"]["endpoint"]) == ports["health"]
    container = _container(jaeger)
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/status", "port": "health"}, probe
    service = _one(objects, "Service", "jaeger")
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        "otlp-http": (4318, "otlp-http"),
        "http": (16686, "http"),
    }


def test_jaeger_keeps_a_bounded_number_of_traces_in_memory_below_its_limit(
    objects: list[Obj],
) -> None:
    jaeger = _one(objects, "Deployment", "jaeger")
    config = _config(objects, jaeger)
    extensions, exporters = config["extensions"], config["exporters"]
    assert isinstance(extensions, dict)
    assert isinstance(exporters, dict)
    backends = extensions["jaeger_storage"]["backends"]
    (backend,) = backends
    # Without max_traces the memory store grows until the pod is killed.
    assert 0 < backends[backend]["memory"]["max_traces"] <= 20_000
    assert exporters["jaeger_storage_exporter"]["trace_storage"] == backend
    assert extensions["jaeger_query"]["storage"] == {"traces": backend}
    container = _container(jaeger)
    limit = _mebibytes(container["resources"]["limits"]["memory"])
    soft_limit = _env(container)["GOMEMLIMIT"]
    assert soft_limit is not None
    assert _mebibytes(soft_limit) < limit


def test_every_service_exports_its_spans_to_jaegers_otlp_http_port(objects: list[Obj]) -> None:
    otlp = next(
        p["port"]
        for p in _one(objects, "Service", "jaeger")["spec"]["ports"]
        if p["name"] == "otlp-http"
    )
    for service in SERVICES:
        env = _env(_container(_one(objects, "Deployment", service)))
        # The base endpoint: the exporter appends /v1/traces itself.
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://jaeger:{otlp}", service
        # The services name themselves observatory-<service>: what the dashboard's links
        # search for (test_dashboard.py).
        assert "OTEL_SERVICE_NAME" not in env, service
        assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in env, service


def test_the_dashboards_trace_links_open_the_jaeger_ui_cluster_up_forwards(
    objects: list[Obj],
) -> None:
    env = _env(_container(_one(objects, "Deployment", "read-model")))
    trace_url = env["OBSERVATORY_TRACE_URL"]
    assert trace_url == kubectl.TRACE_URL
    assert trace_url is not None
    assert trace_url.endswith("/trace/{traceId}")  # the Jaeger UI's page of one trace
    parts = urlsplit(trace_url)
    (forward,) = [f for f in kubectl.FORWARDS if f.service == "jaeger"]
    assert f"{parts.scheme}://{parts.netloc}" == forward.url
    service = _one(objects, "Service", "jaeger")
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == forward.remote_port]
    assert port["targetPort"] == "http"  # the UI and query API (16686)


def test_issue_19_prometheus_keeps_the_exemplars_that_link_latency_to_traces(
    objects: list[Obj],
) -> None:
    args = _container(_one(objects, "Deployment", "prometheus"))["args"]
    assert "--enable-feature=exemplar-storage" in args
