"""The Ingress works as documented (issue 16, item 13).

``cluster up`` installs the ingress-nginx controller from a manifest kept in the
repository (manifests/ingress-nginx/deploy.yaml, version pinned, images by digest); the
Ingress sends the dashboard host to the read model, which serves the dashboard at ``/``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import yaml

from launcher.cluster import kubectl
from tests.unit.manifests.kustomize import ROOT, Obj, render, schema_errors

if TYPE_CHECKING:
    from collections.abc import Iterator

CONTROLLER = ROOT / kubectl.INGRESS_NGINX_MANIFEST
KIND_CLUSTER = ROOT / "manifests" / "overlays" / "kind" / "kind-cluster.yaml"
_DIGEST = re.compile(r"^[a-z0-9./-]+:v[0-9.]+@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def controller() -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(CONTROLLER.read_text()) if doc]


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return render()


def _containers(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for obj in objects:
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            yield f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}", container


def test_the_controller_manifest_is_valid_and_its_version_is_the_launchers(
    controller: list[Obj],
) -> None:
    assert not schema_errors(controller)
    versions = {
        obj["metadata"]["labels"]["app.kubernetes.io/version"]
        for obj in controller
        if "app.kubernetes.io/version" in obj["metadata"].get("labels", {})
    }
    assert versions == {kubectl.INGRESS_NGINX_VERSION.removeprefix("v")}
    kinds = {obj["kind"] for obj in controller}
    assert {"Namespace", "Deployment", "IngressClass", "ValidatingWebhookConfiguration"} <= kinds


def test_the_controllers_images_are_pinned_by_digest_and_run_hardened(
    controller: list[Obj],
) -> None:
    containers = dict(_containers(controller))
    assert containers
    for name, container in containers.items():
        assert _DIGEST.match(container["image"]), (name, container["image"])
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["runAsNonRoot"] is True, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        # nginx binds 80 and 443 as a non-root user: that capability and nothing else.
        assert set(security["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}, name
    (controller_container,) = (
        c for name, c in containers.items() if name.startswith("Deployment/")
    )
    assert controller_container["image"].startswith(
        f"registry.k8s.io/ingress-nginx/controller:{kubectl.INGRESS_NGINX_VERSION}@"
    )
    host_ports = {p.get("hostPort") for p in controller_container["ports"]}
    assert {80, 443} <= host_ports  # what kind-cluster.yaml maps to this machine


def test_the_kind_node_maps_the_ports_the_controller_listens_on() -> None:
    cluster = yaml.safe_load(KIND_CLUSTER.read_text())
    mapped = {m["containerPort"] for n in cluster["nodes"] for m in n["extraPortMappings"]}
    assert {80, 443} <= mapped


def test_issue_16_the_dashboard_host_goes_to_the_read_model_which_serves_it_at_root(
    objects: list[Obj], controller: list[Obj]
) -> None:
    (ingress,) = [obj for obj in objects if obj["kind"] == "Ingress"]
    classes = {obj["metadata"]["name"] for obj in controller if obj["kind"] == "IngressClass"}
    assert ingress["spec"]["ingressClassName"] in classes
    routes = {
        (rule["host"], path["path"], path["pathType"]): path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes == {
        (kubectl.INGRESS_HOSTS["read-model"], "/", "Prefix"): "read-model",
        (kubectl.INGRESS_HOSTS["gateway"], "/", "Prefix"): "gateway",
        (kubectl.INGRESS_HOSTS["grafana"], "/", "Prefix"): "grafana",
    }
    assert kubectl.INGRESS_HOSTS["read-model"] == "observatory.localhost"


def test_issue_16_the_gateway_lets_the_dashboard_of_the_ingress_host_submit(
    objects: list[Obj],
) -> None:
    (gateway,) = [
        obj
        for obj in objects
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "gateway"
    ]
    env = {
        e["name"]: e.get("value")
        for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["OBSERVATORY_CORS_ORIGINS"] == f"http://{kubectl.INGRESS_HOSTS['read-model']}"
