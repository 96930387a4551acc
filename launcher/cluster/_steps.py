"""The nine steps of ``observatory cluster up``, and ``down`` and ``status``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import anyio
import httpx

from launcher.cluster import docker, kind, kubectl
from launcher.cluster._errors import LauncherError
from launcher.cluster._run import ProcessRunner, require_installed
from launcher.cluster._state import (
    default_state_path,
    is_our_forward,
    read_state,
    stop,
    write_state,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from launcher.cluster._run import Runner

__all__ = [
    "DASHBOARD_TITLE",
    "INGRESS_URL",
    "STEPS",
    "VERIFY_ENV",
    "ClusterOptions",
    "ClusterStatus",
    "StepEvent",
    "cluster_down",
    "cluster_status",
    "cluster_up",
    "restart_port_forwards",
    "verify_healthz",
]

STEPS = (
    "prerequisites",
    "cluster",
    "images",
    "load",
    "deploy",
    "pods",
    "port-forwards",
    "verify",
    "ready",
)

VERIFY_ENV = "OBSERVATORY_CLUSTER_VERIFY"
"""``skip`` disables the verify step. For tests only: their fake kubectl forwards nothing."""

Status = Literal["starting", "complete", "error", "skipped", "warning"]


@dataclass(frozen=True, slots=True)
class StepEvent:
    """What a step is doing: ``{"step", "status", "message"}``."""

    step: str
    status: Status
    message: str

    def as_json(self) -> dict[str, str]:
        return {"step": self.step, "status": self.status, "message": self.message}


@dataclass(slots=True)
class ClusterOptions:
    """How ``cluster up`` runs; everything external is injectable."""

    skip_build: bool = False
    rollout_timeout_s: float = 300.0
    runner: Runner = field(default_factory=ProcessRunner)
    state_path: Path = field(default_factory=default_state_path)
    verify: Callable[[dict[str, str]], Awaitable[None]] | None = None
    """Checks the URLs answer; ``None``: :func:`verify_healthz`, /healthz and the dashboard
    (or skip with $OBSERVATORY_CLUSTER_VERIFY)."""


class _Skipped(Exception):
    """A step decided it has nothing to do; the message says why."""


INGRESS_URL = "http://127.0.0.1:80"
"""Where the kind node's port 80 (the ingress controller) answers on this machine."""

DASHBOARD_TITLE = "<title>Task Observatory</title>"
"""What the dashboard's page (``quart_app/web/index.html``) has and no other answer has:
how verify tells the dashboard from a 200 of another service at ``/``."""


@dataclass(frozen=True, slots=True)
class _Check:
    """One GET of verify: ``url``, sent with ``Host: host`` when routed by the Ingress."""

    url: str
    host: str | None = None
    dashboard: bool = False
    """The answer must be the dashboard's HTML page, not only a 200."""

    def shown(self, ingress_url: str) -> str:
        if self.host is None:
            return self.url
        return f"http://{self.host}{self.url.removeprefix(ingress_url)} (via {ingress_url})"

    def problem(self, response: httpx.Response) -> str | None:
        """What is wrong with ``response``, or ``None``: it is the answer expected."""
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        if not self.dashboard:
            return None
        media = response.headers.get("content-type", "-").split(";", 1)[0]
        if media != "text/html" or DASHBOARD_TITLE not in response.text:
            return f"HTTP 200 {media}, not the dashboard's page"
        return None


async def verify_healthz(
    urls: dict[str, str],
    *,
    attempts: int = 10,
    delay_s: float = 1.0,
    timeout_s: float = 5.0,
    ingress_url: str = INGRESS_URL,
) -> None:
    """GET /healthz of the gateway and read model through the forwards, then through the
    Ingress (by host name, sent to ``ingress_url``), and ``/`` of the dashboard's host
    there, which must answer the dashboard's HTML page; with bounded retries each.

    Raises:
        RuntimeError: a check still failed after ``attempts`` tries; it names the URL
            (and the host name it was sent with) and the last answer.
    """
    checks = [_Check(f"{urls[name]}/healthz") for name in ("gateway", "read-model")]
    checks += [
        _Check(f"{ingress_url}/healthz", kubectl.INGRESS_HOSTS[name])
        for name in ("gateway", "read-model")
    ]
    checks.append(_Check(f"{ingress_url}/", kubectl.INGRESS_HOSTS["read-model"], dashboard=True))
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for check in checks:
            headers: dict[str, str] = {} if check.host is None else {"Host": check.host}
            last: str | None = "no answer"
            for attempt in range(attempts):
                try:
                    response = await client.get(check.url, headers=headers)
                except httpx.HTTPError as error:
                    last = f"{type(error).__name__}: {error}"
                else:
                    last = check.problem(response)
                    if last is None:
                        break
                if attempt + 1 < attempts:
                    await anyio.sleep(delay_s)
            else:
                wanted = "the dashboard" if check.dashboard else "200"
                raise RuntimeError(
                    f"{check.shown(ingress_url)} did not answer {wanted} after {attempts} "
                    f"tries ({last})"
                )


async def restart_port_forwards(state_path: Path) -> str:
    """Stop the recorded port-forwards, start one per forwarded service, record them.

    Returns:
        What was done, as one sentence.
    """
    stopped = [
        name
        for name, pid in read_state(state_path).items()
        if await anyio.to_thread.run_sync(stop, pid)
    ]
    recorded: dict[str, dict[str, object]] = {}
    try:
        for forward in kubectl.FORWARDS:
            log_path = state_path.with_name(f"port-forward-{forward.service}.log")
            pid = await kubectl.start_port_forward(forward, log_path)
            recorded[forward.service] = {
                "pid": pid,
                "local_port": forward.local_port,
                "url": forward.url,
                "log": str(log_path),
            }
    finally:
        write_state(state_path, recorded)  # what runs is recorded, even on failure
    replaced = f" (replaced {len(stopped)} earlier)" if stopped else ""
    return f"forwarding {len(recorded)} services{replaced}; PIDs in {state_path}"


async def cluster_up(
    options: ClusterOptions, observe: Callable[[StepEvent], None]
) -> dict[str, str]:
    """Bring the observatory up on kind, step by step; the URLs of the forwards.

    Raises :class:`LauncherError` after emitting the failing step's ``error`` event.
    """
    runner = options.runner
    urls = {forward.service: forward.url for forward in kubectl.FORWARDS}

    async def prerequisites() -> str:
        await docker.info(runner)
        require_installed("kind")
        require_installed("kubectl")
        return "docker is running; kind and kubectl are installed"

    async def cluster() -> str:
        if await kind.cluster_exists(runner):
            await kubectl.use_context(runner)
            raise _Skipped(f"reusing the existing kind cluster {kind.CLUSTER_NAME!r}")
        await kind.create_cluster(runner)
        await kubectl.use_context(runner)
        return f"created kind cluster {kind.CLUSTER_NAME!r}"

    async def images() -> str:
        if options.skip_build:
            raise _Skipped(f"--skip-build: using the existing image {docker.IMAGE}")
        await docker.build_image(runner)
        return f"built {docker.IMAGE}"

    async def load() -> str:
        await kind.load_image(runner, docker.IMAGE)
        return f"loaded {docker.IMAGE} into the cluster nodes"

    async def deploy() -> str:
        # The controller first: the Ingress is admitted by its webhook.
        await kubectl.apply_ingress_controller(runner)
        await kubectl.wait_ingress_controller(runner, timeout_s=options.rollout_timeout_s)
        await kubectl.apply(runner)
        return f"applied ingress-nginx {kubectl.INGRESS_NGINX_VERSION} and {kubectl.KUSTOMIZE_DIR}"

    async def pods() -> str:
        for name in kubectl.DEPLOYMENTS:
            await kubectl.rollout_status(runner, name, timeout_s=options.rollout_timeout_s)
        return f"rolled out {', '.join(kubectl.DEPLOYMENTS)}"

    async def port_forwards() -> str:
        return await restart_port_forwards(options.state_path)

    async def verify() -> str:
        check = options.verify
        if check is None:
            if os.environ.get(VERIFY_ENV, "").lower() == "skip":
                raise _Skipped(f"{VERIFY_ENV}=skip (meant for tests only)")
            check = verify_healthz
        await check(urls)  # failing is a warning: the pods are ready, maybe a server is not
        return (
            "gateway and read model answer /healthz, through the forwards and the Ingress; "
            "the dashboard answers at / through the Ingress"
        )

    async def ready() -> str:
        return "; ".join(f"{name} {url}" for name, url in urls.items())

    actions: dict[str, Callable[[], Awaitable[str]]] = {
        "prerequisites": prerequisites,
        "cluster": cluster,
        "images": images,
        "load": load,
        "deploy": deploy,
        "pods": pods,
        "port-forwards": port_forwards,
        "verify": verify,
        "ready": ready,
    }
    for step in STEPS:
        observe(StepEvent(step, "starting", f"{step}..."))
        try:
            message = await actions[step]()
        except _Skipped as skipped:
            observe(StepEvent(step, "skipped", str(skipped)))
        except LauncherError as error:
            observe(StepEvent(step, "error", str(error)))
            raise
        except Exception as error:
            if step != "verify":
                raise
            observe(
                StepEvent(
                    step,
                    "warning",
                    f"not answering yet: {error}; the services may still be connecting to "
                    f"their servers (see `kubectl -n {kubectl.NAMESPACE} get pods`)",
                )
            )
        else:
            observe(StepEvent(step, "complete", message))
    return urls


async def cluster_down(runner: Runner, state_path: Path, say: Callable[[str], None]) -> None:
    """Stop the recorded port-forwards that are still alive, then delete the kind cluster."""
    for name, pid in read_state(state_path).items():
        if await anyio.to_thread.run_sync(stop, pid):
            say(f"stopped port-forward {name} (PID {pid})")
        else:
            say(f"port-forward {name} (PID {pid}) was not running")
    await anyio.to_thread.run_sync(lambda: state_path.unlink(missing_ok=True))
    await kind.delete_cluster(runner)
    say(f"deleted kind cluster {kind.CLUSTER_NAME!r}")


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """What ``cluster status`` found."""

    context: bool
    nodes: list[tuple[str, str]]
    deployments: list[tuple[str, str]]
    forwards: dict[str, tuple[int, bool]]
    problems: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return {
            "context": self.context,
            "nodes": [{"name": n, "status": s} for n, s in self.nodes],
            "deployments": [{"name": n, "ready": r} for n, r in self.deployments],
            "forwards": {
                name: {"pid": pid, "alive": alive} for name, (pid, alive) in self.forwards.items()
            },
            "healthy": self.healthy,
            "problems": self.problems,
        }


async def cluster_status(runner: Runner, state_path: Path) -> ClusterStatus:
    """Context present, nodes Ready, deployments ready, recorded forwards alive."""
    problems: list[str] = []
    context = await kubectl.context_exists(runner)
    nodes: list[tuple[str, str]] = []
    deployments: list[tuple[str, str]] = []
    if not context:
        problems.append(f"no kubeconfig context {kubectl.CONTEXT!r}: run `observatory cluster up`")
    else:
        try:
            nodes = await kubectl.nodes(runner)
            deployments = await kubectl.deployments(runner)
        except LauncherError as error:
            problems.append(str(error))
        problems += [f"node {name} is {status}" for name, status in nodes if status != "Ready"]
        for name, ready in deployments:
            have, _, want = ready.partition("/")
            if have != want:
                problems.append(f"deployment {name} has {ready} pods ready")
    forwards = {name: (pid, is_our_forward(pid)) for name, pid in read_state(state_path).items()}
    problems += [
        f"port-forward {name} (PID {pid}) is not running"
        for name, (pid, alive) in forwards.items()
        if not alive
    ]
    return ClusterStatus(context, nodes, deployments, forwards, problems)
