"""The commands ``observatory cluster up`` runs on a machine without a cluster, in order
(what the fake kind/kubectl/docker record), for the launcher's and the TUI's tests."""

from __future__ import annotations

from actors._version import VERSION

__all__ = ["IMAGE", "fresh_cluster_up"]

IMAGE = f"task-observatory:{VERSION}"


def fresh_cluster_up(rollout_timeout_s: int) -> list[list[str]]:
    """Every call of a first ``cluster up`` with ``--timeout rollout_timeout_s``."""
    return [
        ["docker", "info"],
        ["kind", "get", "clusters"],
        [
            "kind",
            "create",
            "cluster",
            "--name",
            "task-observatory",
            "--config",
            "manifests/overlays/kind/kind-cluster.yaml",
        ],
        ["kubectl", "config", "use-context", "kind-task-observatory"],
        ["docker", "build", "-t", IMAGE, "."],
        ["kind", "load", "docker-image", IMAGE, "--name", "task-observatory"],
        ["kubectl", "apply", "-f", "manifests/ingress-nginx/deploy.yaml"],
        [
            "kubectl",
            "-n",
            "ingress-nginx",
            "wait",
            "--for=condition=ready",
            "pod",
            "--selector=app.kubernetes.io/component=controller",
            f"--timeout={rollout_timeout_s}s",
        ],
        ["kubectl", "apply", "-k", "manifests/overlays/kind"],
        *(
            [
                "kubectl",
                "-n",
                "task-observatory",
                "rollout",
                "status",
                f"deployment/{name}",
                f"--timeout={rollout_timeout_s}s",
            ]
            for name in ("gateway", "processor", "metrics-engine", "read-model")
        ),
        *(
            ["kubectl", "-n", "task-observatory", "port-forward", f"svc/{svc}", ports]
            for svc, ports in (
                ("gateway", "3000:3000"),
                ("read-model", "8080:8080"),
                ("grafana", "3001:3000"),
                ("prometheus", "9090:9090"),
                ("rabbitmq", "15672:15672"),
                ("jaeger", "16686:16686"),
            )
        ),
    ]
