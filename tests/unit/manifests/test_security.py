"""Hardened pods and network policies, checked on what `kubectl kustomize` renders.

Every container of every workload runs as a non-root user on a read-only root
filesystem, with no capabilities, no privilege escalation and the runtime's default
seccomp profile, in a pod without a service-account token. The NetworkPolicies are
evaluated the way Kubernetes evaluates them (a flow between two pods needs an egress
rule on the client and an ingress rule on the server, once a policy isolates either) and
the flows they allow must be exactly the architecture's: a missing flow breaks the
system, an extra one is a hole.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import yaml

from tests.unit.manifests.kustomize import OVERLAY, Obj, render, schema_errors

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

NAMESPACE = "task-observatory"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
NAME = "app.kubernetes.io/name"

# The user each image runs as: ours (Dockerfile), and the official images' own users.
RUN_AS_USER = {
    "gateway": 10001,
    "processor": 10001,
    "metrics-engine": 10001,
    "read-model": 10001,
    "rabbitmq": 999,
    "postgres": 999,
    "redis": 999,
    "mongo": 999,
    "prometheus": 65534,
    "alertmanager": 65534,
    "grafana": 472,
    "jaeger": 10001,
}

# Where each program writes, given a read-only root filesystem: an emptyDir or a
# persistent volume must be mounted there, writable.
WRITABLE_PATHS = {
    "gateway": {"/tmp"},
    "processor": {"/tmp"},
    "metrics-engine": {"/tmp"},
    "read-model": {"/tmp"},
    "rabbitmq": {"/var/lib/rabbitmq", "/var/log/rabbitmq", "/tmp"},
    "postgres": {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"},
    "redis": {"/data", "/tmp"},
    "mongo": {"/data/db", "/data/configdb", "/tmp"},
    "prometheus": {"/prometheus"},
    "alertmanager": {"/alertmanager"},
    "grafana": {"/var/lib/grafana", "/var/log/grafana", "/tmp"},
    "jaeger": {"/tmp"},
}

# Endpoints outside the namespace that flows may start or end at.
INGRESS_CONTROLLER = "ingress-nginx"  # a pod in another namespace
OUTSIDE = "outside"  # an address outside the cluster (a laptop, the Kubernetes API, ...)
KUBE_DNS = "kube-dns"
KEDA_OPERATOR = "keda-operator"  # a pod in namespace keda (overlays/kind-keda)
# "From anywhere" admits every pod of other namespaces and every address outside.
ANYWHERE = (INGRESS_CONTROLLER, KUBE_DNS, OUTSIDE, KEDA_OPERATOR)

# The services that export spans (OTEL_EXPORTER_OTLP_ENDPOINT): all four.
TRACED_SERVICES = ("gateway", "processor", "metrics-engine", "read-model")

# (from, to, port), TCP: every flow the architecture needs, and no other.
_TCP_FLOWS: set[tuple[str, str, int]] = {
    # the services and their servers (the URLs each one is given)
    ("gateway", "rabbitmq", 5672),
    ("gateway", "postgres", 5432),  # the ledger of submitted job ids; cancel
    ("gateway", "mongo", 27017),  # requeue reads the dead letters
    ("gateway", "alertmanager", 9093),  # GET /proxy/alerts (compatibility route)
    ("gateway", "prometheus", 9090),  # GET /proxy/targets (compatibility route)
    ("processor", "rabbitmq", 5672),
    ("processor", "postgres", 5432),
    ("metrics-engine", "rabbitmq", 5672),
    ("metrics-engine", "redis", 6379),
    ("metrics-engine", "mongo", 27017),
    ("read-model", "postgres", 5432),
    ("read-model", "redis", 6379),
    ("read-model", "mongo", 27017),
    ("read-model", "rabbitmq", 15672),  # GET /queues: the management API ...
    ("read-model", "rabbitmq", 5672),  # ... else passive declares
    # monitoring
    ("prometheus", "gateway", 3000),
    ("prometheus", "read-model", 8080),
    ("prometheus", "processor", 8001),
    ("prometheus", "metrics-engine", 8002),
    ("prometheus", "rabbitmq", 15692),
    ("prometheus", "alertmanager", 9093),
    ("prometheus", OUTSIDE, 443),  # the Kubernetes API, for pod discovery
    ("prometheus", OUTSIDE, 6443),
    ("alertmanager", "read-model", 8080),  # the webhook
    ("grafana", "prometheus", 9090),
    # traces: every service exports its spans (OTLP/HTTP), Grafana queries them; the UI is
    # port-forwarded only (a port-forward is not filtered)
    *((service, "jaeger", 4318) for service in TRACED_SERVICES),
    ("grafana", "jaeger", 16686),
    # people and browsers, through the ingress controller or from outside
    *((source, "gateway", 3000) for source in ANYWHERE),
    *((source, "read-model", 8080) for source in ANYWHERE),
    *((source, "grafana", 3000) for source in ANYWHERE),
    *((source, "prometheus", 9090) for source in ANYWHERE),
}
EXPECTED_FLOWS: set[tuple[str, str, int, str]] = {
    (source, target, port, "TCP") for source, target, port in _TCP_FLOWS
} | {(app, KUBE_DNS, 53, protocol) for app in RUN_AS_USER for protocol in ("UDP", "TCP")}
# With KEDA (components/autoscaling-keda): its operator reads the queue depths over AMQP.
KEDA_FLOWS: set[tuple[str, str, int, str]] = {(KEDA_OPERATOR, "rabbitmq", 5672, "TCP")}

# Which server each connection URL names.
URL_VARIABLES = ("RABBITMQ_URL", "POSTGRES_URL", "REDIS_URL", "MONGO_URL")


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return render()


def _name(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _workloads(objects: list[Obj]) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] in WORKLOADS]


def _policies(objects: list[Obj]) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == "NetworkPolicy"]


def _app_of(workload: Obj) -> str:
    return str(workload["spec"]["template"]["metadata"]["labels"][NAME])


def _containers(workload: Obj) -> list[Obj]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


# --- pods -------------------------------------------------------------------------------


def test_every_workload_of_the_system_is_checked(objects: list[Obj]) -> None:
    assert {_app_of(workload) for workload in _workloads(objects)} == set(RUN_AS_USER)


def test_every_container_runs_non_root_read_only_without_capabilities_or_escalation(
    objects: list[Obj],
) -> None:
    problems = []
    for workload in _workloads(objects):
        pod_context = workload["spec"]["template"]["spec"].get("securityContext", {})
        for container in _containers(workload):
            where = f"{_name(workload)}/{container['name']}"
            context = container.get("securityContext", {})
            effective = {**pod_context, **context}  # the container's settings win
            if effective.get("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if effective.get("runAsUser") in (None, 0):
                problems.append(f"{where}: no non-root runAsUser")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: the root filesystem is writable")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if context.get("privileged"):
                problems.append(f"{where}: privileged")
            capabilities = context.get("capabilities", {})
            if "ALL" not in capabilities.get("drop", []):
                problems.append(f"{where}: capabilities are not all dropped")
            if capabilities.get("add"):
                problems.append(f"{where}: adds capabilities {capabilities['add']}")
            seccomp = effective.get("seccompProfile")
            if not isinstance(seccomp, dict) or seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccomp profile is not RuntimeDefault")
    assert not problems, "\n".join(problems)


def test_every_pod_runs_as_its_image_user_with_a_matching_fs_group(objects: list[Obj]) -> None:
    for workload in _workloads(objects):
        app = _app_of(workload)
        context = workload["spec"]["template"]["spec"]["securityContext"]
        assert context["runAsUser"] == RUN_AS_USER[app], _name(workload)
        assert context["runAsGroup"] == RUN_AS_USER[app], _name(workload)
        # fsGroup makes the volumes (persistent ones too) writable by that user.
        assert context["fsGroup"] == RUN_AS_USER[app], _name(workload)


def test_no_pod_gets_a_service_account_token_or_the_host(objects: list[Obj]) -> None:
    for workload in _workloads(objects):
        spec = workload["spec"]["template"]["spec"]
        assert spec.get("automountServiceAccountToken") is False, _name(workload)
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), f"{_name(workload)}: {host}"
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, f"{_name(workload)}: hostPath {volume['name']}"
        for container in _containers(workload):
            for port in container.get("ports", []):
                assert "hostPort" not in port, f"{_name(workload)}: hostPort"


def test_only_prometheus_mounts_a_token_and_only_a_projected_short_lived_one(
    objects: list[Obj],
) -> None:
    mounted = set()
    for workload in _workloads(objects):
        spec = workload["spec"]["template"]["spec"]
        for volume in spec.get("volumes", []):
            sources = volume.get("projected", {}).get("sources", [])
            tokens = [
                source["serviceAccountToken"]
                for source in sources
                if "serviceAccountToken" in source
            ]
            if tokens:
                mounted.add(_app_of(workload))
                assert all(token["expirationSeconds"] <= 3600 for token in tokens)
    assert mounted == {"prometheus"}
    prometheus = next(w for w in _workloads(objects) if _app_of(w) == "prometheus")
    assert prometheus["spec"]["template"]["spec"]["serviceAccountName"] == "prometheus"


def test_every_program_has_a_writable_volume_where_it_writes(objects: list[Obj]) -> None:
    for workload in _workloads(objects):
        app = _app_of(workload)
        spec = workload["spec"]["template"]["spec"]
        writable_volumes = {
            volume["name"] for volume in spec.get("volumes", []) if "emptyDir" in volume
        } | {
            claim["metadata"]["name"] for claim in workload["spec"].get("volumeClaimTemplates", [])
        }
        for container in _containers(workload):
            writable = {
                mount["mountPath"]
                for mount in container.get("volumeMounts", [])
                if mount["name"] in writable_volumes and not mount.get("readOnly")
            }
            missing = WRITABLE_PATHS[app] - writable
            assert not missing, f"{_name(workload)}/{container['name']}: nowhere to write {missing}"


# --- network policies: evaluation ---------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One end of a flow: a pod (in a namespace, with labels and named ports) or an address."""

    name: str
    namespace: str | None
    """None for an address outside the cluster."""
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    ip: str = "203.0.113.10"


def _selects(selector: Mapping[str, object], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) selects labels."""
    match_labels = selector.get("matchLabels") or {}
    assert isinstance(match_labels, dict)
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    expressions = selector.get("matchExpressions") or []
    assert isinstance(expressions, list)
    for expression in expressions:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: Obj, endpoint: Endpoint, namespace: str) -> bool:
    if "ipBlock" in peer:
        if endpoint.namespace is not None:
            return False  # pod addresses: implementation-defined, never relied upon here
        block = peer["ipBlock"]
        address = ipaddress.ip_address(endpoint.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": endpoint.namespace}
        if not _selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif endpoint.namespace != namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], endpoint.labels)


def _port_matches(rule: Obj, port: int, protocol: str, server: Endpoint) -> bool:
    entries = rule.get("ports") or []
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            if server.ports.get(wanted) == port:
                return True
        elif wanted <= port <= entry.get("endPort", wanted):
            return True
    return False


def _policy_types(policy: Obj) -> set[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress", "Egress"} if "egress" in spec else {"Ingress"}


def _allows(
    policies: list[Obj], direction: str, pod: Endpoint, peer: Endpoint, port: int, protocol: str
) -> bool:
    """Whether the policies let pod send (Egress) to, or receive (Ingress) from, peer."""
    isolating = [
        policy
        for policy in policies
        if policy["metadata"].get("namespace") == pod.namespace
        and direction in _policy_types(policy)
        and _selects(policy["spec"]["podSelector"], pod.labels)
    ]
    if not isolating:
        return True
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    server = peer if direction == "Egress" else pod
    for policy in isolating:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key) or []
            namespace = policy["metadata"]["namespace"]
            if peers and not any(_peer_matches(p, peer, namespace) for p in peers):
                continue
            if _port_matches(rule, port, protocol, server):
                return True
    return False


def _pods(objects: list[Obj]) -> list[Endpoint]:
    pods = []
    for workload in _workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        ports = {
            port["name"]: port["containerPort"]
            for container in _containers(workload)
            for port in container.get("ports", [])
            if "name" in port
        }
        pods.append(Endpoint(_app_of(workload), workload["metadata"]["namespace"], labels, ports))
    return pods


_OTHERS = (
    Endpoint(KUBE_DNS, "kube-system", {"k8s-app": "kube-dns"}, {"dns": 53, "dns-tcp": 53}),
    Endpoint(
        INGRESS_CONTROLLER,
        "ingress-nginx",
        {NAME: "ingress-nginx", "app.kubernetes.io/component": "controller"},
    ),
    Endpoint(OUTSIDE, None),
    # Labelled as KEDA's release manifest and Helm chart label the operator's pods.
    Endpoint(
        KEDA_OPERATOR,
        "keda",
        {"app": "keda-operator", "name": "keda-operator", NAME: "keda-operator"},
    ),
)


def _candidate_ports(pods: Iterable[Endpoint], policies: list[Obj]) -> set[tuple[int, str]]:
    """Every port a flow could use: the pods', the policies' own, and one nobody uses."""
    candidates = {(port, "TCP") for pod in pods for port in pod.ports.values()}
    candidates |= {(53, "UDP"), (53, "TCP"), (1, "TCP"), (1, "UDP")}
    for policy in policies:
        for key in ("ingress", "egress"):
            for rule in policy["spec"].get(key) or []:
                for entry in rule.get("ports") or []:
                    if isinstance(entry.get("port"), int):
                        protocol = entry.get("protocol", "TCP")
                        candidates.add((entry["port"], protocol))
                        candidates.add((entry.get("endPort", entry["port"]), protocol))
    return candidates


def allowed_flows(objects: list[Obj]) -> set[tuple[str, str, int, str]]:
    """(from, to, port, protocol) for every flow the rendered NetworkPolicies allow."""
    policies = _policies(objects)
    pods = _pods(objects)
    endpoints = [*pods, *_OTHERS]
    flows = set()
    for source in endpoints:
        for target in endpoints:
            inside = (source.namespace == NAMESPACE, target.namespace == NAMESPACE)
            if not any(inside):
                continue
            for port, protocol in _candidate_ports(pods, policies):
                if inside[0] and not _allows(policies, "Egress", source, target, port, protocol):
                    continue
                if inside[1] and not _allows(policies, "Ingress", target, source, port, protocol):
                    continue
                flows.add((source.name, target.name, port, protocol))
    return flows


def _flow_table(flows: Iterable[tuple[str, str, int, str]]) -> str:
    return "\n".join(f"  {a} -> {b} {port}/{protocol}" for a, b, port, protocol in sorted(flows))


# --- network policies: what they allow ------------------------------------------------------


def test_the_network_policies_are_valid_kubernetes_objects(objects: list[Obj]) -> None:
    policies = _policies(objects)
    assert policies
    errors = schema_errors(policies)
    assert not errors, "\n".join(errors)


def test_the_namespace_denies_all_ingress_and_egress_by_default(objects: list[Obj]) -> None:
    default_deny = [
        policy
        for policy in _policies(objects)
        if policy["spec"]["podSelector"] == {}
        and _policy_types(policy) == {"Ingress", "Egress"}
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
    ]
    assert [policy["metadata"]["name"] for policy in default_deny] == ["default-deny"]
    assert default_deny[0]["metadata"]["namespace"] == NAMESPACE


def test_every_pod_is_isolated_both_ways(objects: list[Obj]) -> None:
    policies = _policies(objects)
    for pod in _pods(objects):
        for direction in ("Ingress", "Egress"):
            assert not _allows(policies, direction, pod, _OTHERS[2], 1, "TCP"), (
                f"{pod.name}: {direction} is not isolated"
            )


def test_the_network_policies_allow_exactly_the_architecture_flows(objects: list[Obj]) -> None:
    allowed = allowed_flows(objects)
    missing, extra = EXPECTED_FLOWS - allowed, allowed - EXPECTED_FLOWS
    assert (missing, extra) == (set(), set()), (
        f"missing flows:\n{_flow_table(missing)}\nflows that should be denied:\n{_flow_table(extra)}"
    )


def test_with_keda_the_operator_reaches_rabbitmqs_amqp_port_and_nothing_else() -> None:
    objects = render(OVERLAY.parent / "kind-keda")
    allowed = allowed_flows(objects)
    expected = EXPECTED_FLOWS | KEDA_FLOWS
    missing, extra = expected - allowed, allowed - expected
    assert (missing, extra) == (set(), set()), (
        f"missing flows:\n{_flow_table(missing)}\nflows that should be denied:\n{_flow_table(extra)}"
    )
    assert not schema_errors(_policies(objects))


def test_without_keda_its_operator_gets_no_further_than_anyone_outside(
    objects: list[Obj],
) -> None:
    assert not KEDA_FLOWS & allowed_flows(objects)


def test_the_flow_check_notices_a_missing_and_an_extra_flow(objects: list[Obj]) -> None:
    changed = copy.deepcopy(objects)
    policies = {policy["metadata"]["name"]: policy for policy in _policies(changed)}
    # The gateway loses its way to PostgreSQL; Redis gains an open egress.
    gateway_egress = policies["gateway"]["spec"]["egress"]
    policies["gateway"]["spec"]["egress"] = [
        rule
        for rule in gateway_egress
        if not any(
            peer.get("podSelector", {}).get("matchLabels", {}).get(NAME) == "postgres"
            for peer in rule["to"]
        )
    ]
    policies["redis"]["spec"]["egress"] = [{}]
    policies["redis"]["spec"]["policyTypes"] = ["Ingress", "Egress"]
    allowed = allowed_flows(changed)
    assert ("gateway", "postgres", 5432, "TCP") in EXPECTED_FLOWS - allowed
    assert ("redis", OUTSIDE, 1, "TCP") in allowed - EXPECTED_FLOWS
    assert ("redis", "read-model", 8080, "TCP") in allowed - EXPECTED_FLOWS
    assert ("redis", "postgres", 5432, "TCP") not in allowed  # PostgreSQL admits only its clients


def _secret_urls(objects: list[Obj]) -> dict[str, str]:
    secrets = [
        obj
        for obj in objects
        if obj["kind"] == "Secret"
        and re.fullmatch(r"observatory-credentials-[a-z0-9]{10}", obj["metadata"]["name"])
    ]
    assert len(secrets) == 1
    data = secrets[0]["data"]
    return {key: base64.b64decode(data[key]).decode() for key in URL_VARIABLES}


def _server(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname, url
    assert parts.port, url
    return parts.hostname, parts.port


def test_each_service_may_reach_exactly_the_servers_its_urls_name(objects: list[Obj]) -> None:
    urls = _secret_urls(objects)
    services = {pod.name for pod in _pods(objects)}
    allowed = allowed_flows(objects)
    for workload in _workloads(objects):
        app = _app_of(workload)
        named = {
            _server(urls[variable["valueFrom"]["secretKeyRef"]["key"]])
            for container in _containers(workload)
            for variable in container.get("env", [])
            if variable["name"] in URL_VARIABLES
        }
        data_stores = {"rabbitmq": 5672, "postgres": 5432, "redis": 6379, "mongo": 27017}
        reachable = {
            (target, port)
            for source, target, port, _ in allowed
            if source == app and data_stores.get(target) == port
        }
        assert named == reachable, f"{app}: its URLs name {named}, policies allow {reachable}"
        assert {host for host, _ in named} <= services


def test_every_address_the_monitoring_configs_name_is_an_allowed_flow(objects: list[Obj]) -> None:
    def config(prefix: str, key: str) -> Obj:
        (configmap,) = [
            obj
            for obj in objects
            if obj["kind"] == "ConfigMap"
            and re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}", obj["metadata"]["name"])
        ]
        document = yaml.safe_load(configmap["data"][key])
        assert isinstance(document, dict)
        return document

    allowed = allowed_flows(objects)
    prometheus = config("prometheus-config", "prometheus.yml")
    targets = [
        target
        for section in (prometheus["scrape_configs"], prometheus["alerting"]["alertmanagers"])
        for entry in section
        for static in entry.get("static_configs", [])
        for target in static["targets"]
        if not target.startswith("localhost:")
    ]
    assert targets
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert ("prometheus", host, int(port), "TCP") in allowed, target
    alertmanager = config("alertmanager-config", "alertmanager.yml")
    for receiver in alertmanager["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            host, port = _server(webhook["url"])
            assert ("alertmanager", host, port, "TCP") in allowed, webhook["url"]
    (datasources,) = [
        obj
        for obj in objects
        if obj["kind"] == "ConfigMap"
        and re.fullmatch(r"grafana-datasources-[a-z0-9]{10}", obj["metadata"]["name"])
    ]
    assert sorted(datasources["data"]) == ["jaeger.yml", "prometheus.yml"]
    for key in datasources["data"]:
        for datasource in config("grafana-datasources", key)["datasources"]:
            host, port = _server(datasource["url"])
            assert ("grafana", host, port, "TCP") in allowed, datasource["url"]


def test_each_service_may_export_its_spans_exactly_where_it_is_told(objects: list[Obj]) -> None:
    allowed = allowed_flows(objects)
    exporting = set()
    for workload in _workloads(objects):
        app = _app_of(workload)
        for container in _containers(workload):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            if endpoint is None:
                continue
            exporting.add(app)
            host, port = _server(endpoint)
            assert (app, host, port, "TCP") in allowed, f"{app}: {endpoint}"
            # ...and nowhere else on the trace backend (not its UI, say).
            assert {p for a, b, p, _ in allowed if (a, b) == (app, host)} == {port}, app
    assert exporting == set(TRACED_SERVICES)


def test_the_gateway_forwards_the_compatibility_routes_to_alertmanager_and_prometheus(
    objects: list[Obj],
) -> None:
    [gateway] = [w for w in _workloads(objects) if _app_of(w) == "gateway"]
    env = {e["name"]: e.get("value") for c in _containers(gateway) for e in c.get("env", [])}
    assert env["OBSERVATORY_ALERTMANAGER_URL"] == "http://alertmanager:9093"
    assert env["OBSERVATORY_PROMETHEUS_URL"] == "http://prometheus:9090"
    # ...and the network policies let it reach them (the flows above).
    allowed = allowed_flows(objects)
    assert ("gateway", "alertmanager", 9093, "TCP") in allowed
    assert ("gateway", "prometheus", 9090, "TCP") in allowed


def test_the_read_model_asks_rabbitmqs_management_api_where_the_policies_let_it(
    objects: list[Obj],
) -> None:
    """Issue 17, item 2: ``GET /queues`` from the management API of the rabbitmq Service,
    credentials from RABBITMQ_URL (the Secret), and no other port of RabbitMQ than it and
    AMQP (the fallback)."""
    [read_model] = [w for w in _workloads(objects) if _app_of(w) == "read-model"]
    env = {e["name"]: e for c in _containers(read_model) for e in c.get("env", [])}
    url = env["OBSERVATORY_RABBITMQ_MANAGEMENT_URL"]["value"]
    assert urlsplit(url).username is None, "the credentials come from RABBITMQ_URL"
    assert env["RABBITMQ_URL"]["valueFrom"]["secretKeyRef"]["key"] == "RABBITMQ_URL"
    host, port = _server(url)
    [service] = [
        obj for obj in objects if obj["kind"] == "Service" and obj["metadata"]["name"] == host
    ]
    assert {"name": "management", "port": port} in [
        {"name": p["name"], "port": p["port"]} for p in service["spec"]["ports"]
    ]
    allowed = allowed_flows(objects)
    assert {p for a, b, p, _ in allowed if (a, b) == ("read-model", "rabbitmq")} == {5672, port}
