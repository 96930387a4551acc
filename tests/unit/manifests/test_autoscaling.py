"""Issue 19, item 5: the consumers' autoscaler, chosen by a kustomize component.

``overlays/kind`` scales the processor on CPU (``components/autoscaling-hpa``, the
fallback); ``overlays/kind-keda`` scales the processor on ``jobs.created`` and the metrics
engine on ``jobs.completed`` with KEDA (``components/autoscaling-keda``). Either way no
Deployment has two autoscalers, and no autoscaled Deployment fixes its own replicas.
The KEDA objects are validated against KEDA's vendored CRD schemas (``keda.py``), the
others against the Kubernetes schemas.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import yaml

from actors._version import VERSION
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from tests.unit.manifests.keda import KEDA_KINDS, KEDA_VERSION, crd_errors
from tests.unit.manifests.kustomize import OVERLAY, ROOT, render, schema_errors

if TYPE_CHECKING:
    from tests.unit.manifests.kustomize import Obj

NAMESPACE = "task-observatory"
KEDA_OVERLAY = ROOT / "manifests" / "overlays" / "kind-keda"
COMPONENTS = ROOT / "manifests" / "components"


@pytest.fixture(scope="module")
def keda_objects() -> list[Obj]:
    return render(KEDA_OVERLAY)


@pytest.fixture(scope="module")
def hpa_objects() -> list[Obj]:
    return render(OVERLAY)


def _of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [obj for obj in _of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _autoscalers(objects: list[Obj]) -> dict[str, list[str]]:
    """Deployment name -> the autoscalers (kind/name) that target it."""
    targets: dict[str, list[str]] = {}
    for obj in objects:
        if obj["kind"] not in ("HorizontalPodAutoscaler", "ScaledObject"):
            continue
        ref = obj["spec"]["scaleTargetRef"]
        assert ref.get("kind", "Deployment") == "Deployment", ref
        assert ref.get("apiVersion", "apps/v1") == "apps/v1", ref
        targets.setdefault(ref["name"], []).append(f"{obj['kind']}/{obj['metadata']['name']}")
    return targets


@pytest.mark.parametrize("overlay", ["kind", "kind-keda"])
def test_each_autoscaled_deployment_has_exactly_one_autoscaler_and_no_fixed_replicas(
    overlay: str, hpa_objects: list[Obj], keda_objects: list[Obj]
) -> None:
    objects = hpa_objects if overlay == "kind" else keda_objects
    autoscalers = _autoscalers(objects)
    expected = (
        {"processor": ["HorizontalPodAutoscaler/processor"]}
        if overlay == "kind"
        else {
            "processor": ["ScaledObject/processor"],
            "metrics-engine": ["ScaledObject/metrics-engine"],
        }
    )
    assert autoscalers == expected
    for name in autoscalers:
        deployment = _one(objects, "Deployment", name)
        assert "replicas" not in deployment["spec"], f"{name} fixes its replicas"


def test_the_base_and_the_components_leave_the_choice_to_the_overlay() -> None:
    base = render(ROOT / "manifests" / "base")
    assert _autoscalers(base) == {}
    for component in ("autoscaling-hpa", "autoscaling-keda", "kind"):
        kustomization = yaml.safe_load((COMPONENTS / component / "kustomization.yaml").read_text())
        assert kustomization["kind"] == "Component", component
    for overlay, chosen in (("kind", "autoscaling-hpa"), ("kind-keda", "autoscaling-keda")):
        path = ROOT / "manifests" / "overlays" / overlay / "kustomization.yaml"
        components = yaml.safe_load(path.read_text())["components"]
        autoscaling = [c for c in components if "/autoscaling-" in c]
        assert autoscaling == [f"../../components/{chosen}"], overlay


def test_keda_scales_each_consumer_on_the_queue_it_consumes(keda_objects: list[Obj]) -> None:
    rabbitmq = _one(keda_objects, "Service", "rabbitmq")
    assert rabbitmq["metadata"]["namespace"] == NAMESPACE
    (amqp,) = [port["port"] for port in rabbitmq["spec"]["ports"] if port["port"] == 5672]
    queues = {}
    for scaled in _of_kind(keda_objects, "ScaledObject"):
        spec = scaled["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], scaled["metadata"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "rabbitmq"
        metadata = trigger["metadata"]
        assert (metadata["protocol"], metadata["mode"]) == ("amqp", "QueueLength")
        assert int(metadata["value"]) > 0
        # The operator runs in namespace keda: the address names the namespace, and has
        # no credentials (the TriggerAuthentication adds them).
        host = urlsplit(metadata["host"])
        assert (host.scheme, host.hostname, host.port) == (
            "amqp",
            f"rabbitmq.{NAMESPACE}.svc",
            amqp,
        )
        assert (host.username, host.password) == (None, None)
        assert trigger["authenticationRef"] == {"name": "rabbitmq"}
        queues[spec["scaleTargetRef"]["name"]] = metadata["queueName"]
    # In the cluster the services run without a namespace: the queues have their own names.
    assert queues == {"processor": JOBS_CREATED, "metrics-engine": JOBS_COMPLETED}


def test_keda_logs_in_with_the_brokers_credentials_from_the_secret(
    keda_objects: list[Obj],
) -> None:
    auth = _one(keda_objects, "TriggerAuthentication", "rabbitmq")
    references = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert {parameter: ref["key"] for parameter, ref in references.items()} == {
        "username": "RABBITMQ_USER",
        "password": "RABBITMQ_PASSWORD",
    }
    # kustomize gave them the generated Secret's name, hash and all: the Secret RabbitMQ
    # itself takes its user and password from.
    (secret_name,) = {ref["name"] for ref in references.values()}
    assert secret_name.startswith("observatory-credentials-")
    assert {"RABBITMQ_USER", "RABBITMQ_PASSWORD"} <= set(
        _one(keda_objects, "Secret", secret_name).get("data", {})
    )
    broker = _one(keda_objects, "StatefulSet", "rabbitmq")
    (container,) = broker["spec"]["template"]["spec"]["containers"]
    from_secret = {
        v["valueFrom"]["secretKeyRef"]["key"]: v["valueFrom"]["secretKeyRef"]["name"]
        for v in container["env"]
        if "secretKeyRef" in v.get("valueFrom", {})
    }
    assert from_secret["RABBITMQ_USER"] == from_secret["RABBITMQ_PASSWORD"] == secret_name


def test_the_keda_objects_are_valid_against_kedas_crd_schemas(keda_objects: list[Obj]) -> None:
    keda = [obj for obj in keda_objects if obj["kind"] in KEDA_KINDS]
    assert {obj["kind"] for obj in keda} == KEDA_KINDS
    errors = [error for obj in keda for error in crd_errors(obj)]
    assert not errors, f"against KEDA {KEDA_VERSION}'s CRDs:\n" + "\n".join(errors)


def test_the_other_objects_of_the_keda_overlay_are_valid_kubernetes_objects(
    keda_objects: list[Obj],
) -> None:
    errors = schema_errors([obj for obj in keda_objects if obj["kind"] not in KEDA_KINDS])
    assert not errors, "\n".join(errors)


def test_the_crd_check_notices_misspelt_fields_wrong_types_and_min_above_max(
    keda_objects: list[Obj],
) -> None:
    scaled = _one(keda_objects, "ScaledObject", "processor")
    misspelt = copy.deepcopy(scaled)
    misspelt["spec"]["minReplicas"] = misspelt["spec"].pop("minReplicaCount")
    assert crd_errors(misspelt) == [
        "ScaledObject/processor: Additional properties are not allowed ('minReplicas' was "
        "unexpected) at ['spec']"
    ]
    unquoted = copy.deepcopy(scaled)
    unquoted["spec"]["triggers"][0]["metadata"]["value"] = 200
    assert crd_errors(unquoted) == [
        """ScaledObject/processor: 200 is not of type "string" at """
        "['spec', 'triggers', 0, 'metadata', 'value']"
    ]
    inverted = copy.deepcopy(scaled)
    inverted["spec"]["minReplicaCount"], inverted["spec"]["maxReplicaCount"] = 4, 2
    assert crd_errors(inverted) == [
        "ScaledObject/processor: minReplicaCount must be less than or equal to maxReplicaCount"
    ]
    auth = copy.deepcopy(_one(keda_objects, "TriggerAuthentication", "rabbitmq"))
    del auth["spec"]["secretTargetRef"][0]["key"]  # the username's
    assert crd_errors(auth) == [
        """TriggerAuthentication/rabbitmq: "key" is a required property at """
        "['spec', 'secretTargetRef', 0]"
    ]


@pytest.mark.parametrize("overlay", ["kind", "kind-keda"])
def test_the_components_objects_carry_the_labels_and_namespace_of_the_base(
    overlay: str, hpa_objects: list[Obj], keda_objects: list[Obj]
) -> None:
    # A component's own objects get none of the base's labels or namespace: they say them.
    objects = hpa_objects if overlay == "kind" else keda_objects
    added = [
        obj
        for obj in objects
        if obj["kind"] in {"HorizontalPodAutoscaler", *KEDA_KINDS}
        or obj["metadata"]["name"] == "rabbitmq-from-keda"
    ]
    assert added
    for obj in added:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "task-observatory"
        assert labels["app.kubernetes.io/version"] == VERSION
        assert labels["app.kubernetes.io/name"]
        assert labels["app.kubernetes.io/component"]
        assert obj["metadata"]["namespace"] == "task-observatory"
