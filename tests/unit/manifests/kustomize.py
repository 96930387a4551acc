"""Rendering and validating the Kubernetes manifests offline, for the manifest tests.

``kubectl kustomize`` renders the kind overlay without a cluster; kubernetes-validate
checks objects against the Kubernetes OpenAPI schemas it ships. A missing tool skips a
test locally and fails it in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
OVERLAY = ROOT / "manifests" / "overlays" / "kind"

Obj = dict[str, Any]


def missing(what: str) -> None:
    """Skips locally, fails in CI, when a tool the test needs is not installed."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not installed")


def render(overlay: Path = OVERLAY) -> list[Obj]:
    """The objects ``kubectl kustomize overlay`` renders."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        missing("kubectl")
        raise AssertionError  # unreachable: missing() skips or fails
    result = subprocess.run(
        [kubectl, "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=50,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    documents = [document for document in yaml.safe_load_all(result.stdout) if document]
    assert documents, f"{overlay} renders nothing"
    assert all(isinstance(document, dict) for document in documents)
    return documents


def schema_errors(objects: list[Obj]) -> list[str]:
    """What kubernetes-validate finds wrong in objects (strict: unknown fields too)."""
    try:
        import kubernetes_validate  # type: ignore[import-untyped]
    except ImportError:
        missing("kubernetes-validate")
        raise AssertionError from None  # unreachable: missing() skips or fails
    version = kubernetes_validate.latest_version()
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{obj['kind']}/{obj['metadata']['name']}"
            errors.append(f"{name}: {error.message} at {list(error.path)}")
    return errors
