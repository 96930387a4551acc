"""KEDA's CRD schemas, vendored (``fixtures/keda-<version>/``), for validating the
rendered ScaledObjects and TriggerAuthentications offline.

kubernetes-validate knows the built-in kinds only; a custom resource is checked against
the ``openAPIV3Schema`` of its CRD, as the API server would check it, and strictly: an
object schema that lists its properties gets ``additionalProperties: false`` (the API
server would silently prune an unknown field, so a misspelt one would never take
effect). The CRDs' one CEL rule (``x-kubernetes-validations``: min <= max replicas) is
checked by :func:`crd_errors` by hand; jsonschema cannot evaluate CEL.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import yaml

if TYPE_CHECKING:
    from tests.unit.manifests.kustomize import Obj

KEDA_VERSION = "2.20.2"
"""The KEDA release whose CRDs are vendored (and which docs/operations.md installs)."""

FIXTURES = Path(__file__).parent / "fixtures" / f"keda-{KEDA_VERSION}"

_CRD_FILES = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}
KEDA_KINDS = frozenset(_CRD_FILES)


def _strict(schema: Any) -> Any:
    """``schema`` with unknown fields refused wherever an object lists its properties."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        if schema.get("x-kubernetes-int-or-string") and "type" not in schema:
            schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def crd_schema(kind: str, api_version: str) -> dict[str, Any]:
    """The strict schema of ``kind`` at ``api_version`` (``keda.sh/v1alpha1``)."""
    crd = yaml.safe_load((FIXTURES / _CRD_FILES[kind]).read_text())
    group, _, version = api_version.partition("/")
    assert crd["spec"]["group"] == group, f"{kind} is in group {crd['spec']['group']}"
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema: dict[str, Any] = _strict(copy.deepcopy(served["schema"]["openAPIV3Schema"]))
    return schema


def crd_errors(obj: Obj) -> list[str]:
    """What the KEDA CRD schema (and its CEL rule) finds wrong in ``obj``."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    validator = jsonschema_rs.Draft7Validator(crd_schema(obj["kind"], obj["apiVersion"]))
    errors = [
        f"{name}: {error.message} at {list(error.instance_path)}"
        for error in validator.iter_errors(obj)
    ]
    spec = obj.get("spec", {})
    if obj["kind"] == "ScaledObject" and isinstance(spec, dict):
        low, high = spec.get("minReplicaCount"), spec.get("maxReplicaCount", 100)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            errors.append(f"{name}: minReplicaCount must be less than or equal to maxReplicaCount")
    return errors
