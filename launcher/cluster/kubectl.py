"""The ``kubectl`` calls of the cluster launcher, including detached port-forwards."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from launcher.cluster._errors import LauncherError
from launcher.cluster._run import exit_code_if_exited, spawn_detached
from launcher.cluster.kind import CLUSTER_NAME

if TYPE_CHECKING:
    from pathlib import Path

    from launcher.cluster._run import CompletedCommand, Runner

__all__ = [
    "CONTEXT",
    "DEPLOYMENTS",
    "FORWARDS",
    "INGRESS_HOSTS",
    "INGRESS_NGINX_MANIFEST",
    "INGRESS_NGINX_VERSION",
    "KUSTOMIZE_DIR",
    "NAMESPACE",
    "TRACE_URL",
    "Forward",
    "apply",
    "apply_ingress_controller",
    "context_exists",
    "deployments",
    "nodes",
    "rollout_status",
    "start_port_forward",
    "use_context",
    "wait_ingress_controller",
]

CONTEXT = f"kind-{CLUSTER_NAME}"
NAMESPACE = "task-observatory"
KUSTOMIZE_DIR = "manifests/overlays/kind"
DEPLOYMENTS = ("gateway", "processor", "metrics-engine", "read-model")

INGRESS_NGINX_VERSION = "v1.15.1"
INGRESS_NGINX_MANIFEST = "manifests/ingress-nginx/deploy.yaml"
"""The ingress-nginx controller for kind, kept in the repository (images pinned by digest)."""
INGRESS_NGINX_NAMESPACE = "ingress-nginx"
INGRESS_HOSTS = {
    "read-model": "observatory.localhost",
    "gateway": "gateway.observatory.localhost",
    "grafana": "grafana.observatory.localhost",
}
"""The Ingress's host per service (manifests/base/ingress.yaml)."""


@dataclass(frozen=True, slots=True)
class Forward:
    """A local port forwarded to a service port in the cluster."""

    service: str
    local_port: int
    remote_port: int
    path: str = "/"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.local_port}"

    @property
    def argv(self) -> list[str]:
        return [
            "kubectl",
            "-n",
            NAMESPACE,
            "port-forward",
            f"svc/{self.service}",
            f"{self.local_port}:{self.remote_port}",
        ]


FORWARDS = (
    Forward("gateway", 3000, 3000),
    Forward("read-model", 8080, 8080),
    Forward("grafana", 3001, 3000),
    Forward("prometheus", 9090, 9090),
    Forward("rabbitmq", 15672, 15672),
    # The Jaeger UI (manifests/base/jaeger.yaml): no login, so a forward and no Ingress host.
    Forward("jaeger", 16686, 16686),
)

TRACE_URL = "http://localhost:16686/trace/{traceId}"
"""A job's trace in the forwarded Jaeger UI: the read model's ``OBSERVATORY_TRACE_URL`` in
the cluster (manifests/base/read-model.yaml), and what the TUI wants in its environment."""


async def use_context(runner: Runner) -> CompletedCommand:
    """``kubectl config use-context kind-task-observatory``."""
    return await runner.run(
        ["kubectl", "config", "use-context", CONTEXT],
        timeout_s=30.0,
        hint=(
            f"kind should have written the context {CONTEXT!r} to your kubeconfig; restore it "
            f"with `kind export kubeconfig --name {CLUSTER_NAME}`."
        ),
    )


async def context_exists(runner: Runner) -> bool:
    """Whether the kubeconfig has our context (a failing kubectl counts as no)."""
    result = await runner.run(
        ["kubectl", "config", "get-contexts", "-o", "name"], timeout_s=30.0, check=False
    )
    return result.exit_code == 0 and CONTEXT in result.stdout.split()


async def apply(runner: Runner) -> CompletedCommand:
    """``kubectl apply -k manifests/overlays/kind``."""
    return await runner.run(
        ["kubectl", "apply", "-k", KUSTOMIZE_DIR],
        timeout_s=180.0,
        hint=f"Check the manifests render with `kubectl kustomize {KUSTOMIZE_DIR}`.",
    )


async def apply_ingress_controller(runner: Runner) -> CompletedCommand:
    """``kubectl apply -f manifests/ingress-nginx/deploy.yaml`` (idempotent)."""
    return await runner.run(
        ["kubectl", "apply", "-f", INGRESS_NGINX_MANIFEST],
        timeout_s=180.0,
        hint=f"Check the file renders with `kubectl apply --dry-run=client -f {INGRESS_NGINX_MANIFEST}`.",
    )


async def wait_ingress_controller(runner: Runner, *, timeout_s: float) -> CompletedCommand:
    """Wait (in kubectl) until the ingress-nginx controller pod is ready, at most ``timeout_s``.

    Our Ingress can only be applied once the controller's admission webhook answers.
    """
    seconds = math.ceil(timeout_s)
    return await runner.run(
        [
            "kubectl",
            "-n",
            INGRESS_NGINX_NAMESPACE,
            "wait",
            "--for=condition=ready",
            "pod",
            "--selector=app.kubernetes.io/component=controller",
            f"--timeout={seconds}s",
        ],
        timeout_s=seconds + 30.0,
        hint=(
            f"See why with `kubectl -n {INGRESS_NGINX_NAMESPACE} describe pods`; the controller "
            "listens on the kind node's ports 80 and 443 (manifests/overlays/kind/kind-cluster.yaml)."
        ),
    )


async def rollout_status(runner: Runner, deployment: str, *, timeout_s: float) -> CompletedCommand:
    """Wait (in kubectl) until ``deployment`` has rolled out, at most ``timeout_s``."""
    seconds = math.ceil(timeout_s)
    return await runner.run(
        [
            "kubectl",
            "-n",
            NAMESPACE,
            "rollout",
            "status",
            f"deployment/{deployment}",
            f"--timeout={seconds}s",
        ],
        timeout_s=seconds + 30.0,
        hint=(
            f"See why with `kubectl -n {NAMESPACE} describe deployment/{deployment}` and "
            f"`kubectl -n {NAMESPACE} logs deployment/{deployment}`; a slow machine may need a "
            f"larger --timeout (now {seconds} s)."
        ),
    )


async def nodes(runner: Runner) -> list[tuple[str, str]]:
    """``kubectl get nodes``: (name, status) of each node."""
    result = await runner.run(
        ["kubectl", "--context", CONTEXT, "get", "nodes", "--no-headers"],
        timeout_s=30.0,
        hint=f"Is the cluster running? `kind get clusters` should list {CLUSTER_NAME}.",
    )
    return [
        (f[0], f[1]) for f in (line.split() for line in result.stdout.splitlines()) if len(f) > 1
    ]


async def deployments(runner: Runner) -> list[tuple[str, str]]:
    """``kubectl get deployments``: (name, ready as "n/m") of each deployment."""
    result = await runner.run(
        ["kubectl", "--context", CONTEXT, "-n", NAMESPACE, "get", "deployments", "--no-headers"],
        timeout_s=30.0,
        hint="Deploy with `observatory cluster up`.",
    )
    return [
        (f[0], f[1]) for f in (line.split() for line in result.stdout.splitlines()) if len(f) > 1
    ]


def _read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


async def start_port_forward(forward: Forward, log_path: Path, *, ready_s: float = 20.0) -> int:
    """Start ``kubectl port-forward`` in the background; its PID once it is forwarding.

    Ready means kubectl printed "Forwarding from"; if it exits first (a local port in use,
    a missing service) this raises :class:`LauncherError` with the end of its output.
    """
    argv = forward.argv
    pid = spawn_detached(argv, log_path)
    hint = (
        f"Local port {forward.local_port} is probably in use: find the owner with "
        f"`lsof -i :{forward.local_port}` and stop it (old forwards: `observatory cluster down`), "
        f"or check that svc/{forward.service} exists in namespace {NAMESPACE}."
    )
    # A bounded readiness check of a local process we started (not a cluster wait).
    with anyio.move_on_after(ready_s):
        while True:
            code = exit_code_if_exited(pid)
            output = _read_log(log_path)
            if code is not None:
                raise LauncherError(argv, exit_code=code, stderr=output, hint=hint)
            if "Forwarding from" in output:
                return pid
            await anyio.sleep(0.05)
    return pid  # still running without saying so: keep it, verify will tell
