"""The Kubernetes manifests: what `kubectl kustomize manifests/overlays/kind` renders.

The rendered objects are checked for what an operator relies on (labels, pinned images,
probes on the right endpoints, resources, credentials only from Secrets, the processor's
PDB and HPA, Prometheus' job names, the Ingress) and validated against the Kubernetes
OpenAPI schemas shipped with kubernetes-validate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from actors._version import VERSION

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "manifests"
OVERLAY = MANIFESTS / "overlays" / "kind"
KIND_CLUSTER = OVERLAY / "kind-cluster.yaml"
NAMESPACE = "task-observatory"
APP_SERVICES = {"gateway": 3000, "processor": 8001, "metrics-engine": 8002, "read-model": 8080}
URL_VARIABLES = ("RABBITMQ_URL", "POSTGRES_URL", "REDIS_URL", "MONGO_URL")
LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
)
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
# user:password@ in a URL, or a literal that looks like a credential.
_CREDENTIAL_IN_URL = re.compile(r"://[^/\s@:]*:[^/\s@]+@")
_CREDENTIAL_NAME = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|_KEY$", re.IGNORECASE)

Obj = dict[str, Any]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(what: str) -> None:
    """Skips locally, fails in CI, when a tool the test needs is not installed."""
    if _in_ci():
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        _missing("kubectl")
        raise AssertionError  # unreachable: _missing skips or fails
    result = subprocess.run(
        [kubectl, "kustomize", str(OVERLAY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=50,
    )
    assert result.returncode == 0, f"kubectl kustomize {OVERLAY} failed:\n{result.stderr}"
    documents = [document for document in yaml.safe_load_all(result.stdout) if document]
    assert documents, "the overlay renders nothing"
    assert all(isinstance(document, dict) for document in documents)
    return documents


def _name(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [obj for obj in _of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _generated(objects: list[Obj], kind: str, prefix: str) -> Obj:
    """A generated ConfigMap or Secret, whose name carries a content hash suffix."""
    found = [
        obj
        for obj in _of_kind(objects, kind)
        if re.fullmatch(rf"{re.escape(prefix)}-[a-z0-9]{{10}}", obj["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one generated {kind} {prefix}-<hash>, found {len(found)}"
    return found[0]


def _pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: Obj, *, init: bool = True) -> list[Obj]:
    spec = _pod_spec(workload)
    containers: list[Obj] = list(spec.get("containers", []))
    if init:
        containers += spec.get("initContainers", [])
    return containers


def _workloads(objects: list[Obj]) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] in WORKLOADS]


def _app(objects: list[Obj], service: str) -> Obj:
    return _one(objects, "Deployment", service)


def _main_container(deployment: Obj) -> Obj:
    containers = _containers(deployment, init=False)
    assert len(containers) == 1, f"{_name(deployment)} should run one container"
    return containers[0]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- labels, namespace, images ------------------------------------------------------------


def test_the_overlay_renders_the_whole_system(objects: list[Obj]) -> None:
    kinds = {obj["kind"] for obj in objects}
    assert {
        "Namespace",
        "Deployment",
        "StatefulSet",
        "Service",
        "ConfigMap",
        "Secret",
        "Ingress",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    } <= kinds
    assert {obj["metadata"]["name"] for obj in _of_kind(objects, "Deployment")} >= {
        *APP_SERVICES,
        "prometheus",
        "alertmanager",
        "grafana",
        "jaeger",
    }
    assert {obj["metadata"]["name"] for obj in _of_kind(objects, "StatefulSet")} == {
        "rabbitmq",
        "postgres",
        "redis",
        "mongo",
    }


def test_every_object_carries_the_four_labels_with_the_package_version(
    objects: list[Obj],
) -> None:
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        missing = [label for label in LABELS if not labels.get(label)]
        assert not missing, f"{_name(obj)} lacks {missing}"
        assert labels["app.kubernetes.io/part-of"] == "task-observatory", _name(obj)
        assert labels["app.kubernetes.io/version"] == VERSION, _name(obj)
    for workload in _workloads(objects):
        template_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert all(template_labels.get(label) for label in LABELS), _name(workload)


def test_selectors_leave_out_the_version_so_upgrades_can_change_it(objects: list[Obj]) -> None:
    for obj in objects:
        spec = obj.get("spec", {})
        selector = spec.get("selector", {}) if isinstance(spec, dict) else {}
        selector = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
        assert "app.kubernetes.io/version" not in selector, _name(obj)
        assert "app.kubernetes.io/part-of" not in selector, _name(obj)


def test_every_namespaced_object_is_in_the_observatory_namespace(objects: list[Obj]) -> None:
    for obj in objects:
        if obj["kind"] in CLUSTER_SCOPED:
            continue
        assert obj["metadata"].get("namespace") == NAMESPACE, _name(obj)
    assert _one(objects, "Namespace", NAMESPACE)


def test_every_image_is_pinned_to_a_tag_other_than_latest(objects: list[Obj]) -> None:
    for workload in _workloads(objects):
        for container in _containers(workload):
            image = container["image"]
            if "@sha256:" in image:
                continue
            last = image.rsplit("/", 1)[-1]
            assert ":" in last, f"{_name(workload)}: {image} has no tag"
            assert last.rsplit(":", 1)[1] != "latest", f"{_name(workload)}: {image} is :latest"


def test_the_four_services_run_the_package_image_with_serve(objects: list[Obj]) -> None:
    for service, port in APP_SERVICES.items():
        deployment = _app(objects, service)
        for container in _containers(deployment):
            assert container["image"] == f"task-observatory:{VERSION}", _name(deployment)
        args = _main_container(deployment)["args"]
        assert args[:4] == ["serve", service, "--host", "0.0.0.0"], args
        if "--port" in args:
            assert args[args.index("--port") + 1] == str(port)
        ports = {p["containerPort"] for p in _main_container(deployment)["ports"]}
        assert port in ports, f"{service} should expose {port}"


def test_the_processor_migrates_the_job_store_before_it_starts(objects: list[Obj]) -> None:
    init = _pod_spec(_app(objects, "processor")).get("initContainers", [])
    assert [container.get("args") for container in init] == [["migrate"]]
    assert "POSTGRES_URL" in {variable["name"] for variable in init[0].get("env", [])}


# --- probes and resources -------------------------------------------------------------------


def test_services_probe_liveness_on_readyz_and_readiness_on_healthz(objects: list[Obj]) -> None:
    for service in APP_SERVICES:
        container = _main_container(_app(objects, service))
        assert container["livenessProbe"]["httpGet"]["path"] == "/readyz", service
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz", service


def test_every_container_has_resource_requests_and_limits(objects: list[Obj]) -> None:
    for workload in _workloads(objects):
        for container in _containers(workload):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), (
                    f"{_name(workload)}/{container['name']} lacks {kind}"
                )


def test_the_services_run_as_the_unprivileged_image_user(objects: list[Obj]) -> None:
    for service in APP_SERVICES:
        security = _pod_spec(_app(objects, service))["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == 10001


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("rabbitmq", "rabbitmq:3.13-management"),
        ("postgres", "postgres:16"),
        ("redis", "redis:7"),
        ("mongo", "mongo:7"),
    ],
)
def test_the_data_stores_are_statefulsets_with_storage_and_readiness(
    objects: list[Obj], name: str, image: str
) -> None:
    statefulset = _one(objects, "StatefulSet", name)
    assert statefulset["spec"]["volumeClaimTemplates"], f"{name} has no volumeClaimTemplates"
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    (container,) = _containers(statefulset)
    assert container["image"] == image
    assert "readinessProbe" in container, f"{name} has no readiness probe"
    assert {mount["name"] for mount in container["volumeMounts"]} & claims
    headless = _one(objects, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"


# --- credentials --------------------------------------------------------------------------


def _secret_keys(objects: list[Obj]) -> dict[str, set[str]]:
    return {
        obj["metadata"]["name"]: set(obj.get("data", {})) | set(obj.get("stringData", {}))
        for obj in _of_kind(objects, "Secret")
    }


def test_credentials_come_from_secrets_never_from_literals(objects: list[Obj]) -> None:
    for workload in _workloads(objects):
        for container in _containers(workload):
            where = f"{_name(workload)}/{container['name']}"
            for variable in container.get("env", []):
                name, value = variable["name"], variable.get("value")
                if name in URL_VARIABLES or _CREDENTIAL_NAME.search(name):
                    assert value is None, f"{where}: {name} is a literal"
                    assert "secretKeyRef" in variable.get("valueFrom", {}), (
                        f"{where}: {name} does not come from a Secret"
                    )
                if isinstance(value, str):
                    assert not _CREDENTIAL_IN_URL.search(value), f"{where}: {name} has a password"
            for source in container.get("envFrom", []):
                assert "secretRef" in source or "configMapRef" in source


def test_the_services_get_their_connection_urls_from_the_secret(objects: list[Obj]) -> None:
    needs = {
        "gateway": {"RABBITMQ_URL", "POSTGRES_URL"},
        "processor": {"RABBITMQ_URL", "POSTGRES_URL"},
        "metrics-engine": {"RABBITMQ_URL", "REDIS_URL", "MONGO_URL"},
        # RabbitMQ's for GET /queues (the management API's credentials, the fallback).
        "read-model": {"POSTGRES_URL", "REDIS_URL", "MONGO_URL", "RABBITMQ_URL"},
    }
    for service, variables in needs.items():
        container = _main_container(_app(objects, service))
        from_secret = {
            variable["name"]
            for variable in container.get("env", [])
            if "secretKeyRef" in variable.get("valueFrom", {})
        }
        assert variables <= from_secret, f"{service} lacks {variables - from_secret}"


def test_every_secret_reference_names_a_rendered_secret_and_key(objects: list[Obj]) -> None:
    secrets = _secret_keys(objects)
    _generated(objects, "Secret", "observatory-credentials")
    for workload in _workloads(objects):
        for container in _containers(workload):
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference is None:
                    continue
                assert reference["name"] in secrets, f"{_name(workload)}: {reference}"
                assert reference["key"] in secrets[reference["name"]], f"{_name(workload)}"
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets


# --- services, autoscaling, ingress -----------------------------------------------------


def test_every_service_selects_pods_and_names_their_ports(objects: list[Obj]) -> None:
    templates = [workload["spec"]["template"] for workload in _workloads(objects)]
    for service in _of_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        selected = [t for t in templates if _selects(selector, t["metadata"]["labels"])]
        assert selected, f"{_name(service)} selects no pods"
        port_names = {
            port.get("name")
            for template in selected
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                assert target in port_names, f"{_name(service)}: no container port {target}"
    for name, number in APP_SERVICES.items():
        assert [p["port"] for p in _one(objects, "Service", name)["spec"]["ports"]] == [number]


def test_the_processor_has_a_disruption_budget_and_a_cpu_autoscaler(objects: list[Obj]) -> None:
    processor = _app(objects, "processor")
    pod_labels = processor["spec"]["template"]["metadata"]["labels"]
    budgets = [
        pdb
        for pdb in _of_kind(objects, "PodDisruptionBudget")
        if _selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    ]
    assert len(budgets) == 1
    (autoscaler,) = [
        hpa
        for hpa in _of_kind(objects, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]
        == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "processor",
        }
    ]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
    assert [metric["resource"]["name"] for metric in autoscaler["spec"]["metrics"]] == ["cpu"]


def test_the_ingress_routes_to_the_gateway_the_read_model_and_grafana(objects: list[Obj]) -> None:
    services = {service["metadata"]["name"] for service in _of_kind(objects, "Service")}
    backends = set()
    for ingress in _of_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backends.add(path["backend"]["service"]["name"])
    assert {"gateway", "read-model", "grafana"} <= backends
    assert backends <= services


# --- monitoring -------------------------------------------------------------------------


def test_prometheus_scrapes_the_four_services_under_the_alert_rules_job_names(
    objects: list[Obj],
) -> None:
    config = yaml.safe_load(
        _generated(objects, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
    )
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert set(APP_SERVICES) <= jobs
    assert config["rule_files"]
    targets = [
        target
        for alertmanager in config["alerting"]["alertmanagers"]
        for static in alertmanager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert _one(objects, "Service", "alertmanager")["spec"]["ports"][0]["port"] == 9093


@pytest.mark.parametrize(
    ("configmap", "key", "source"),
    [
        ("prometheus-rules", "rules.yml", "prometheus/rules.yml"),
        ("alertmanager-config", "alertmanager.yml", "alertmanager/alertmanager.yml"),
        (
            "grafana-datasources",
            "prometheus.yml",
            "grafana/provisioning/datasources/prometheus.yml",
        ),
        ("grafana-datasources", "jaeger.yml", "grafana/provisioning/datasources/jaeger.yml"),
        (
            "grafana-dashboard-providers",
            "observatory.yml",
            "grafana/provisioning/dashboards/observatory.yml",
        ),
        ("grafana-dashboards", "observatory.json", "grafana/dashboards/observatory.json"),
    ],
)
def test_monitoring_configmaps_match_their_source_files(
    objects: list[Obj], configmap: str, key: str, source: str
) -> None:
    data = _generated(objects, "ConfigMap", configmap)["data"][key]
    assert data == (MANIFESTS / source).read_text(), (
        f"manifests/base/monitoring/{source} is out of date: copy manifests/{source} there "
        "(see manifests/base/monitoring/README.md)"
    )


def test_alertmanager_posts_to_the_read_model_service(objects: list[Obj]) -> None:
    config = yaml.safe_load(
        _generated(objects, "ConfigMap", "alertmanager-config")["data"]["alertmanager.yml"]
    )
    urls = [
        webhook["url"]
        for receiver in config["receivers"]
        for webhook in receiver.get("webhook_configs", [])
    ]
    assert urls
    read_model_port = _one(objects, "Service", "read-model")["spec"]["ports"][0]["port"]
    for url in urls:
        assert url.startswith(f"http://read-model:{read_model_port}/"), url


def test_grafana_mounts_the_provisioning_and_the_dashboard(objects: list[Obj]) -> None:
    grafana = _one(objects, "Deployment", "grafana")
    volumes = {
        volume["name"]: volume["configMap"]["name"]
        for volume in _pod_spec(grafana)["volumes"]
        if "configMap" in volume
    }
    mounts = {
        mount["name"]: mount["mountPath"] for mount in _main_container(grafana)["volumeMounts"]
    }
    by_configmap = {re.sub(r"-[a-z0-9]{10}$", "", cm): mounts[v] for v, cm in volumes.items()}
    assert by_configmap == {
        "grafana-datasources": "/etc/grafana/provisioning/datasources",
        "grafana-dashboard-providers": "/etc/grafana/provisioning/dashboards",
        "grafana-dashboards": "/var/lib/grafana/dashboards",
    }
    dashboard = _generated(objects, "ConfigMap", "grafana-dashboards")["data"]["observatory.json"]
    assert json.loads(dashboard)["panels"]


# --- schemas ------------------------------------------------------------------------------


def test_every_object_is_valid_against_the_kubernetes_schemas(objects: list[Obj]) -> None:
    try:
        import kubernetes_validate  # type: ignore[import-untyped]
    except ImportError:
        _missing("kubernetes-validate")
        return
    version = kubernetes_validate.latest_version()
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{_name(obj)}: {error.message} at {list(error.path)}")
    assert not errors, "\n".join(errors)


# --- kind cluster and image ---------------------------------------------------------------


def test_the_kind_cluster_maps_http_and_https_to_an_ingress_ready_node() -> None:
    cluster = yaml.safe_load(KIND_CLUSTER.read_text())
    assert cluster["kind"] == "Cluster"
    assert cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert cluster["name"] == "task-observatory"
    (node,) = cluster["nodes"]
    assert node["role"] == "control-plane"
    assert node["labels"] == {"ingress-ready": "true"}
    assert {(m["containerPort"], m["hostPort"]) for m in node["extraPortMappings"]} == {
        (80, 80),
        (443, 443),
    }


def test_the_dockerfile_builds_one_slim_non_root_image_of_the_cli() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert stages == ["python:3.11-slim", "python:3.11-slim"]
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    assert re.search(r"^USER 10001", final, re.MULTILINE)
    assert 'ENTRYPOINT ["observatory"]' in final
    assert 'CMD ["serve", "gateway", "--host", "0.0.0.0"]' in final
    assert "PYTHONUNBUFFERED=1" in final
    assert not re.search(r"\b(gcc|build-essential|apt-get install)\b", final)
